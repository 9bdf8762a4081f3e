import assert from 'node:assert/strict'
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { createTestClient, http, zeroAddress } from 'viem'
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'
import { isW3aError } from '../core/errors.js'
import {
  CONTRACTS_SOURCES_HASH,
  createChainClients,
  DeploymentSchema,
  devAccount,
  ensureDeployment,
  getInboxState,
  getRegistryParams,
  getTokenBalance,
  startAnvil,
  w3aTokenAbi,
  type AnvilInstance,
} from './index.js'

const tmp = mkdtempSync(join(tmpdir(), 'w3a-devnet-'))
const FUND = 1_000n * 10n ** 18n
const DEV_SIGNER = privateKeyToAccount(generatePrivateKey()).address
let anvil: AnvilInstance

before(async () => {
  anvil = await startAnvil({ port: 0 })
})
after(async () => {
  await anvil?.stop()
  rmSync(tmp, { recursive: true, force: true })
})

describe('ensureDeployment', () => {
  const file = join(tmp, 'chain', 'deployment.json')

  it('deploys, funds dev accounts and writes the deployment file', async () => {
    const d = await ensureDeployment({ rpcUrl: anvil.rpcUrl, deploymentFile: file, fundAccounts: 3, fundAmount: FUND, devAttestationSigner: DEV_SIGNER })
    assert.equal(d.chainId, 31337)
    assert.equal(d.sourcesHash, CONTRACTS_SOURCES_HASH)
    assert.equal(new Set([d.token, d.datasetRegistry, d.workerRegistry, d.custodyInbox]).size, 4)
    assert.equal(d.deployer, devAccount(0).address)
    assert.ok(d.blockNumber > 0)
    assert.ok(!Number.isNaN(Date.parse(d.deployedAt)))
    const saved = DeploymentSchema.parse(JSON.parse(readFileSync(file, 'utf8')))
    assert.deepEqual(saved, d)
    assert.deepEqual(readdirSync(join(tmp, 'chain')), ['deployment.json'], 'no temporary file left behind')

    const { publicClient } = createChainClients({ rpcUrl: anvil.rpcUrl, chainId: anvil.chainId })
    for (const i of [0, 1, 2]) assert.equal(await getTokenBalance(publicClient, { token: d.token, account: devAccount(i).address }), FUND)
    assert.equal(await getTokenBalance(publicClient, { token: d.token, account: devAccount(3).address }), 0n)
    const [name, symbol, decimals, supply] = await Promise.all(
      (['name', 'symbol', 'decimals', 'totalSupply'] as const).map((functionName) => publicClient.readContract({ address: d.token, abi: w3aTokenAbi, functionName })),
    )
    assert.deepEqual([name, symbol, decimals, supply], ['W3A Dev Token', 'PHA', 18, 3n * FUND])

    // The dev network's worker registry: sim allowed with the given dev signer, devnet parameters.
    const p = await getRegistryParams(publicClient, { registry: d.workerRegistry })
    assert.deepEqual(
      { allowSim: p.allowSim, signer: p.devAttestationSigner, minStake: p.minStake, heartbeatTimeout: p.heartbeatTimeout, epochLength: p.epochLength },
      { allowSim: true, signer: DEV_SIGNER, minStake: 100n * 10n ** 18n, heartbeatTimeout: 60n, epochLength: 50n },
    )
    assert.deepEqual([p.token, p.governance], [d.token, devAccount(0).address])
    assert.equal((await getInboxState(publicClient, { inbox: d.custodyInbox })).registry, d.workerRegistry)
  })

  it('is idempotent: a second call reuses the same addresses and sends nothing', async () => {
    const { publicClient } = createChainClients({ rpcUrl: anvil.rpcUrl, chainId: anvil.chainId })
    const first = DeploymentSchema.parse(JSON.parse(readFileSync(file, 'utf8')))
    const blockBefore = await publicClient.getBlockNumber({ cacheTime: 0 })
    const again = await ensureDeployment({ rpcUrl: anvil.rpcUrl, deploymentFile: file, fundAccounts: 3, fundAmount: FUND })
    assert.deepEqual(again, first)
    assert.equal(await publicClient.getBlockNumber({ cacheTime: 0 }), blockBefore)
    assert.equal(await getTokenBalance(publicClient, { token: again.token, account: devAccount(0).address }), FUND, 'not funded twice')
  })

  it('refuses when the code at a saved address is not what was deployed there (code hashes)', async () => {
    const saved = DeploymentSchema.parse(JSON.parse(readFileSync(file, 'utf8')))
    assert.deepEqual(Object.keys(saved.codeHashes ?? {}).sort(), ['campaigns', 'custodyInbox', 'datasetRegistry', 'jobs', 'market', 'storageMarket', 'token', 'workerRegistry'])
    const test = createTestClient({ mode: 'anvil', transport: http(anvil.rpcUrl) })
    const { publicClient } = createChainClients({ rpcUrl: anvil.rpcUrl, chainId: anvil.chainId })
    const jobsCode = (await publicClient.getCode({ address: saved.jobs }))!
    // Another contract's code under the Jobs address (as a chain that is not this deployment's would have).
    await test.setCode({ address: saved.jobs, bytecode: (await publicClient.getCode({ address: saved.market }))! })
    try {
      await assert.rejects(ensureDeployment({ rpcUrl: anvil.rpcUrl, deploymentFile: file, fundAccounts: 3, fundAmount: FUND }), (e: unknown) => isW3aError(e, 'CONTRACTS_NOT_DEPLOYED') && /jobs: code hash differs/.test(e.message))
    } finally {
      await test.setCode({ address: saved.jobs, bytecode: jobsCode })
    }
    assert.deepEqual(await ensureDeployment({ rpcUrl: anvil.rpcUrl, deploymentFile: file, fundAccounts: 3, fundAmount: FUND }), saved)
  })

  it('deploys a network without sim (dev: false) with the given deployer as governance, funding nobody', async () => {
    const other = await startAnvil({ port: 0 })
    try {
      const deployer = devAccount(7)
      const d = await ensureDeployment({ rpcUrl: other.rpcUrl, deploymentFile: join(tmp, 'prod', 'deployment.json'), fundAccounts: 3, fundAmount: FUND, deployer, dev: false, devAttestationSigner: DEV_SIGNER })
      const { publicClient } = createChainClients({ rpcUrl: other.rpcUrl, chainId: other.chainId })
      const p = await getRegistryParams(publicClient, { registry: d.workerRegistry })
      assert.deepEqual([p.allowSim, p.devAttestationSigner, p.governance, d.dev], [false, zeroAddress, deployer.address, false])
      assert.equal(await getTokenBalance(publicClient, { token: d.token, account: devAccount(0).address }), 0n)
    } finally {
      await other.stop()
    }
  })

  it('refuses with CONTRACTS_NOT_DEPLOYED when the chain lost the contracts', async () => {
    const fresh = await startAnvil({ port: 0 })
    try {
      const before = readFileSync(file, 'utf8')
      await assert.rejects(ensureDeployment({ rpcUrl: fresh.rpcUrl, deploymentFile: file, fundAccounts: 1, fundAmount: FUND }), (e: unknown) => {
        assert.ok(isW3aError(e, 'CONTRACTS_NOT_DEPLOYED'), String(e))
        assert.match(e.message, /state was lost/)
        assert.match(e.message, /delete .*deployment\.json/)
        return true
      })
      assert.equal(readFileSync(file, 'utf8'), before, 'the file is left for the user to decide')
    } finally {
      await fresh.stop()
    }
  })

  it('refuses a deployment made from other contract sources, or by an older build', async () => {
    const saved = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>
    const isContractsChanged = (e: unknown) => {
      assert.ok(isW3aError(e, 'CONTRACTS_NOT_DEPLOYED'), String(e))
      assert.match(e.message, /contracts changed since this data dir was deployed; start with a fresh --data-dir/)
      return true
    }
    const other = join(tmp, 'other-sources.json')
    writeFileSync(other, JSON.stringify({ ...saved, sourcesHash: 'ab'.repeat(32) }))
    await assert.rejects(ensureDeployment({ rpcUrl: anvil.rpcUrl, deploymentFile: other, fundAccounts: 1, fundAmount: FUND }), (e: unknown) => {
      isContractsChanged(e)
      assert.match((e as Error).message, /deployed from contract sources abababababab/)
      return true
    })
    const old = join(tmp, 'old-build.json')
    const { workerRegistry: _w, custodyInbox: _c, sourcesHash: _s, ...legacy } = saved
    writeFileSync(old, JSON.stringify(legacy))
    const before = readFileSync(old, 'utf8')
    await assert.rejects(ensureDeployment({ rpcUrl: anvil.rpcUrl, deploymentFile: old, fundAccounts: 1, fundAmount: FUND }), (e: unknown) => {
      isContractsChanged(e)
      assert.match((e as Error).message, /no workerRegistry, custodyInbox, sourcesHash/)
      return true
    })
    assert.equal(readFileSync(old, 'utf8'), before, 'the old file is left alone')
    // A file that merely lacks one field is still an old deployment, not a malformed one.
    const partial = join(tmp, 'partial.json')
    writeFileSync(partial, JSON.stringify({ ...saved, sourcesHash: undefined }))
    await assert.rejects(ensureDeployment({ rpcUrl: anvil.rpcUrl, deploymentFile: partial, fundAccounts: 1, fundAmount: FUND }), isContractsChanged)
    // New fields present but malformed: that is a broken file.
    writeFileSync(partial, JSON.stringify({ ...saved, workerRegistry: 'nope' }))
    await assert.rejects(ensureDeployment({ rpcUrl: anvil.rpcUrl, deploymentFile: partial, fundAccounts: 1, fundAmount: FUND }), (e: unknown) =>
      isW3aError(e, 'INPUT_MALFORMED'),
    )
  })

  it('refuses a deployment file made for another chain id', async () => {
    const other = await startAnvil({ port: 0, chainId: 1337 })
    try {
      await assert.rejects(ensureDeployment({ rpcUrl: other.rpcUrl, deploymentFile: file, fundAccounts: 1, fundAmount: FUND }), (e: unknown) => {
        assert.ok(isW3aError(e, 'CONTRACTS_NOT_DEPLOYED'), String(e))
        assert.match(e.message, /is for chain 31337, but .* is chain 1337/)
        return true
      })
    } finally {
      await other.stop()
    }
  })

  it('rejects a malformed deployment file and bad arguments', async () => {
    const bad = join(tmp, 'bad.json')
    writeFileSync(bad, JSON.stringify({ chainId: 31337, token: 'nope' }))
    await assert.rejects(ensureDeployment({ rpcUrl: anvil.rpcUrl, deploymentFile: bad, fundAccounts: 1, fundAmount: FUND }), (e: unknown) =>
      isW3aError(e, 'INPUT_MALFORMED'),
    )
    writeFileSync(bad, '{not json')
    await assert.rejects(ensureDeployment({ rpcUrl: anvil.rpcUrl, deploymentFile: bad, fundAccounts: 1, fundAmount: FUND }), (e: unknown) =>
      isW3aError(e, 'INPUT_MALFORMED'),
    )
    await assert.rejects(ensureDeployment({ rpcUrl: anvil.rpcUrl, deploymentFile: join(tmp, 'x.json'), fundAccounts: 11, fundAmount: FUND }), (e: unknown) =>
      isW3aError(e, 'INVALID_ARGUMENT'),
    )
  })
})
