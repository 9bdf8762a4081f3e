import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { keccak256, toHex } from 'viem'
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'
import { W3aError, isW3aError } from '../core/errors.js'
import {
  createChainClients,
  deployContracts,
  devAccount,
  ensureDeployment,
  getDataset,
  getFreePort,
  getTokenBalance,
  listDatasets,
  registerDataset,
  startAnvil,
  toChainError,
  TxRevertedError,
  w3aTokenAbi,
  withChainErrors,
  type AnvilInstance,
  type DeployContractsReturnType,
} from './index.js'

const tmp = mkdtempSync(join(tmpdir(), 'w3a-chain-errors-'))
const id = keccak256(toHex('errors test'))
const registry = '0x5FbDB2315678afecb367f032d93F642f64180aa3'
let anvil: AnvilInstance
let deployed: DeployContractsReturnType

before(async () => {
  anvil = await startAnvil({ port: 0 })
  deployed = await deployContracts(createChainClients({ rpcUrl: anvil.rpcUrl, chainId: anvil.chainId, account: devAccount(0) }))
})
after(async () => {
  await anvil?.stop()
  rmSync(tmp, { recursive: true, force: true })
})

describe('chain errors', () => {
  it('maps an unreachable RPC to CHAIN_UNREACHABLE naming the URL', async () => {
    const rpcUrl = `http://127.0.0.1:${await getFreePort()}` // nothing listens there
    const clients = createChainClients({ rpcUrl, chainId: 31337, account: devAccount(1) })
    const isUnreachable = (e: unknown) => {
      assert.ok(isW3aError(e, 'CHAIN_UNREACHABLE'), String(e))
      assert.match(e.shortMessage, new RegExp(`chain RPC at ${rpcUrl} is not reachable; is \`w3a up\` running\\?`))
      return true
    }
    const t0 = performance.now()
    await assert.rejects(getDataset(clients.publicClient, { registry, id }), isUnreachable)
    assert.ok(performance.now() - t0 < 5_000, 'fails fast')
    await assert.rejects(listDatasets(clients.publicClient, { registry }), isUnreachable)
    await assert.rejects(getTokenBalance(clients.publicClient, { token: registry, account: registry }), isUnreachable)
    await assert.rejects(
      registerDataset(clients, { registry, salt: id, name: 'x', manifestCid: 'bafy', schemaHash: id, pricePerQuery: 0n }),
      isUnreachable,
    )
    await assert.rejects(
      ensureDeployment({ rpcUrl, deploymentFile: join(tmp, 'deployment.json'), fundAccounts: 1, fundAmount: 1n }),
      isUnreachable,
    )
  })

  it('maps a call to an address without code to CONTRACTS_NOT_DEPLOYED', async () => {
    const { publicClient } = createChainClients({ rpcUrl: anvil.rpcUrl, chainId: anvil.chainId })
    const nowhere = privateKeyToAccount(generatePrivateKey()).address
    await assert.rejects(getDataset(publicClient, { registry: nowhere, id }), (e: unknown) => {
      assert.ok(isW3aError(e, 'CONTRACTS_NOT_DEPLOYED'), String(e))
      assert.match(e.message, new RegExp(nowhere))
      return true
    })
  })

  it('names OpenZeppelin custom errors too (only the token owner mints)', async () => {
    const { publicClient, walletClient } = createChainClients({ rpcUrl: anvil.rpcUrl, chainId: anvil.chainId, account: devAccount(3) })
    const err = await withChainErrors(() =>
      publicClient.simulateContract({
        address: deployed.token,
        abi: w3aTokenAbi,
        functionName: 'mint',
        args: [devAccount(3).address, 1n],
        account: walletClient.account,
      }),
    ).then(
      () => assert.fail('mint by a non-owner must revert'),
      (e: unknown) => e,
    )
    assert.ok(err instanceof TxRevertedError)
    assert.equal(err.errorName, 'OwnableUnauthorizedAccount')
    assert.match(err.message, /mint\(\) reverted: OwnableUnauthorizedAccount/)
    assert.deepEqual(err.errorArgs, [devAccount(3).address])
  })

  it('reports a sender without gas money as CHAIN_ERROR, not as a revert', async () => {
    const poor = createChainClients({ rpcUrl: anvil.rpcUrl, chainId: anvil.chainId, account: privateKeyToAccount(generatePrivateKey()) })
    await assert.rejects(
      registerDataset(poor, { registry: deployed.datasetRegistry, salt: id, name: 'x', manifestCid: 'bafy', schemaHash: id, pricePerQuery: 0n }),
      (e: unknown) => {
        assert.ok(isW3aError(e, 'CHAIN_ERROR'), String(e))
        assert.match(e.message, /ETH/)
        return true
      },
    )
  })

  it('passes W3aErrors through and wraps the rest', () => {
    const w = new W3aError('NOT_OWNER', 'x')
    assert.equal(toChainError(w), w)
    const fetchFailed = new TypeError('fetch failed', { cause: Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' }) })
    const mapped = toChainError(fetchFailed, { rpcUrl: 'http://127.0.0.1:1' })
    assert.equal(mapped.code, 'CHAIN_UNREACHABLE')
    assert.match(mapped.message, /127\.0\.0\.1:1/)
    assert.equal(toChainError(new Error('boom')).code, 'INTERNAL')
  })
})
