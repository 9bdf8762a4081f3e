import { test } from 'node:test'
import assert from 'node:assert/strict'
import { NetworkInfoSchema } from './network-info.js'

const a = `0x${'1'.repeat(40)}`
const info = { name: 'w3a-devnet', chainId: 31337, rpcUrl: 'http://127.0.0.1:8545', contracts: { token: a, datasetRegistry: a, workerRegistry: a, custodyInbox: a, market: a, jobs: a, campaigns: a, storageMarket: a }, dev: true }

test("a network description's RPC URL is http(s): a gateway cannot hand clients a javascript:, data: or file: URL", () => {
  for (const rpcUrl of ['http://127.0.0.1:8545', 'https://rpc.example/v1']) assert.equal(NetworkInfoSchema.safeParse({ ...info, rpcUrl }).success, true, rpcUrl)
  for (const rpcUrl of ['javascript:alert(1)', 'data:text/plain,x', 'file:///etc/passwd', 'ws://127.0.0.1:8545', 'not a url']) {
    const r = NetworkInfoSchema.safeParse({ ...info, rpcUrl })
    assert.equal(r.success, false, rpcUrl)
    assert.deepEqual(r.error?.issues[0]?.path, ['rpcUrl'])
  }
})
