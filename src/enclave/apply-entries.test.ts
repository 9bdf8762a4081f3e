/**
 * applyEntries, the call a keeper's host makes on every inbox sync, on a real enclave service (sim
 * backend, sealed state on disk): entries are opened ahead and applied in order (replay.ts), every
 * receipt is signed and given only once the state it names is sealed, and the keyring file is
 * rewritten only when its epoch moves.
 */
import { test, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { bytesToHex, hexToBytes, keccak256, toHex, type Hex } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import type { InboxEntry as ChainInboxEntry } from '../chain/index.js'
import { createEmptyState, nextInboxHead, receiptFromJson, sealCommand, verifyReceipt } from '../custody/index.js'
import { CHAIN_ID, INBOX, registerCommand, signCommand, testBytes } from '../custody/fixture.test.js'
import { parseEnclaveBoot, simEnclaveFor } from './boot.js'
import { EnclaveService } from './service.js'

const work = mkdtempSync(join(tmpdir(), 'w3a-apply-entries-'))
after(() => rmSync(work, { recursive: true, force: true }))
const code = keccak256(toHex('this build'))
const EPOCH_LENGTH = 50n
const boot = parseEnclaveBoot(
  {
    dataDir: join(work, 'keeper'),
    gatewayUrl: 'http://127.0.0.1:1',
    chainId: CHAIN_ID,
    registry: '0x1111111111111111111111111111111111111111',
    inbox: INBOX,
    jobs: '0x3333333333333333333333333333333333333333',
    epochLength: EPOCH_LENGTH.toString(),
    allowSim: true,
  },
  code,
)
const open = async (): Promise<EnclaveService> => {
  const service = new EnclaveService(simEnclaveFor({ config: boot, codeMeasurement: code }).backend, boot)
  await service.init()
  return service
}
const owner = privateKeyToAccount(bytesToHex(testBytes('apply-entries owner')))
const sealedFiles = (name: string) => readdirSync(join(boot.dataDir, 'enclave')).filter((f) => f.startsWith(`${name}.`))

test('a keeper applies a batch in order, signs every receipt, and saves the keyring only when its epoch moves', async () => {
  const keeper = await open()
  await keeper.bootstrapCluster({ epoch: 0n })
  const address = keeper.address()
  let head = createEmptyState().head
  let index = 0n
  /** `n` register commands sealed to the enclave's current epoch key, mined in blocks of `epoch`. */
  const batch = async (epoch: bigint, n: number): Promise<ChainInboxEntry[]> => {
    const publicKey = hexToBytes((await keeper.epochPublicKey()).publicKey)
    const out: ChainInboxEntry[] = []
    for (let k = 0; k < n; k++, index++) {
      const dek = testBytes(`dek ${index}`)
      const r = registerCommand(owner.address, { salt: bytesToHex(testBytes(`salt ${index}`)), dek, nonce: index + 1n, expiry: 2_000_000_000n })
      const ciphertext = await sealCommand({ epochPublicKey: publicKey, epoch, chainId: CHAIN_ID, inbox: INBOX, signed: await signCommand(owner, r.command), dek })
      const blockNumber = epoch * EPOCH_LENGTH + BigInt(k)
      head = nextInboxHead(head, { index, sender: owner.address, epoch, ciphertext })
      out.push({ index, sender: owner.address, epoch, ciphertext: bytesToHex(ciphertext), head, blockNumber, timestamp: 1_750_000_000n + blockNumber })
    }
    return out
  }

  const first = await batch(0n, 6)
  const keyringFile = sealedFiles('keyring')
  const a = await keeper.applyEntries({ entries: first, headEpoch: 0n })
  assert.deepEqual(a.receipts.map((r) => r['status']), Array(6).fill('applied'))
  assert.deepEqual(a.receipts.map((r) => String(r['index'])), ['0', '1', '2', '3', '4', '5'])
  for (const r of a.receipts) await verifyReceipt(receiptFromJson(r), address)
  assert.equal(a.receipts.at(-1)!['stateRoot'], a.stateRoot, 'the last receipt names the state the call returns')
  assert.deepEqual(sealedFiles('keyring'), keyringFile, 'same epoch: the sealed keyring is not rewritten')

  // The same entries again (a host re-reading after a restart) are skipped, not applied twice.
  const again = await keeper.applyEntries({ entries: [...first, ...(await batch(0n, 2))], headEpoch: 1n })
  assert.deepEqual(again.receipts.map((r) => String(r['index'])), ['6', '7'])
  assert.equal(again.epoch, 1n)
  assert.notDeepEqual(sealedFiles('keyring'), keyringFile, 'a new epoch: the keyring is sealed again')

  // An entry the host altered (its epoch field) no longer continues the hash chain: refused whole, nothing applied.
  const late = await batch(1n, 2)
  const stale = { ...late[0]!, epoch: 0n }
  const stateBefore = keeper.stateRoot()
  await assert.rejects(keeper.applyEntries({ entries: [stale], headEpoch: 1n }), 'an altered entry breaks the hash chain: nothing applied')
  assert.equal(keeper.stateRoot(), stateBefore)
  const b = await keeper.applyEntries({ entries: late, headEpoch: 1n })
  assert.deepEqual(b.receipts.map((r) => r['status']), ['applied', 'applied'])
  const root = b.stateRoot

  // A restart reads back the state and the keyring the head pins (the keyring written one save earlier than the state).
  const restarted = await open()
  assert.equal(restarted.nextIndex(), 10n)
  assert.equal(restarted.stateRoot(), root)
  assert.deepEqual(await restarted.epochPublicKey(), await keeper.epochPublicKey())
})
