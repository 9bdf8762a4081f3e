import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { isW3aError } from './errors.js'
import type { NetworkInfo } from './network-info.js'
import { checkPinnedNetwork, CONTRACT_NAMES, type PinnedNetwork } from './network-pin.js'
import { pinForGateway, readPins, removePin, savePin } from './network-pins-file.js'

const addr = (n: number) => `0x${n.toString(16).padStart(40, '0')}` as `0x${string}`
const contracts = Object.fromEntries(CONTRACT_NAMES.map((n, i) => [n, addr(i + 1)])) as NetworkInfo['contracts']
// No chain answers here: every check below must refuse before the chain is read.
const info: NetworkInfo = { name: 'w3a-devnet', chainId: 31337, rpcUrl: 'http://127.0.0.1:9', contracts, dev: true }
const pin: PinnedNetwork = {
  name: 'devnet',
  chainId: 31337,
  contracts,
  codeHashes: Object.fromEntries(CONTRACT_NAMES.map((n) => [n, `0x${'11'.repeat(32)}`])) as PinnedNetwork['codeHashes'],
  dev: true,
  gatewayUrl: 'http://127.0.0.1:8787',
  pinnedAt: '2026-01-01T00:00:00.000Z',
}

test('a gateway naming another chain, contract or dev flag is refused, naming the field and the re-pin command', async () => {
  for (const [lie, field] of [
    [{ ...info, chainId: 1 }, /chainId is 31337 in the pin, but the gateway says 1/],
    [{ ...info, contracts: { ...contracts, jobs: addr(99) } }, /contracts\.jobs is 0x0+6 in the pin, but the gateway says 0x0+63/],
    [{ ...info, dev: false }, /dev is true in the pin/],
  ] as const) {
    await assert.rejects(checkPinnedNetwork({ pin, info: lie, gatewayUrl: 'http://gw' }), (e) => {
      assert.ok(isW3aError(e, 'NETWORK_MISMATCH'))
      assert.match(e.message, field)
      assert.match(e.message, /w3a network remove devnet && w3a network add devnet --gateway http:\/\/gw/)
      return true
    })
  }
})

test('pins file: save, find by gateway (trailing slash ignored), remove; a bad name or file is refused', () => {
  const dir = mkdtempSync(join(tmpdir(), 'w3a-pins-'))
  try {
    assert.deepEqual(readPins(dir), {})
    savePin(dir, pin)
    savePin(dir, { ...pin, name: 'other', gatewayUrl: 'https://gw.example' })
    assert.equal(pinForGateway(dir, 'http://127.0.0.1:8787/')?.name, 'devnet')
    assert.equal(pinForGateway(dir, 'http://127.0.0.1:8788'), undefined)
    assert.equal(removePin(dir, 'devnet'), true)
    assert.equal(removePin(dir, 'devnet'), false)
    assert.deepEqual(Object.keys(readPins(dir)), ['other'])
    assert.throws(() => savePin(dir, { ...pin, name: '../x' }), (e) => isW3aError(e, 'INVALID_ARGUMENT'))
    writeFileSync(join(dir, 'networks.json'), '{"not":"pins"}')
    assert.throws(() => readPins(dir), (e) => isW3aError(e, 'INPUT_MALFORMED'))
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})
