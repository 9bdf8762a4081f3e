import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { keccak256, toHex } from 'viem'
import { isW3aError } from '../core/errors.js'
import {
  createChainClients,
  datasetRegistryAbi,
  devAccount,
  ensureDeployment,
  getDataset,
  getFreePort,
  getTokenBalance,
  registerDataset,
  startAnvil,
  type AnvilInstance,
} from './index.js'

const tmp = mkdtempSync(join(tmpdir(), 'w3a-anvil-'))
const started: AnvilInstance[] = []
after(async () => {
  await Promise.all(started.map((a) => a.stop()))
  rmSync(tmp, { recursive: true, force: true })
})

async function start(params: Parameters<typeof startAnvil>[0] = {}): Promise<AnvilInstance> {
  const a = await startAnvil(params)
  started.push(a)
  return a
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

async function waitGone(pid: number, ms: number): Promise<boolean> {
  const end = Date.now() + ms
  while (Date.now() < end) {
    if (!alive(pid)) return true
    await new Promise((r) => setTimeout(r, 25))
  }
  return !alive(pid)
}

describe('startAnvil', () => {
  it('starts on a free port and stops on SIGINT', async (t) => {
    const t0 = performance.now()
    const a = await start({ port: 0 })
    t.diagnostic(`fresh anvil ready in ${Math.round(performance.now() - t0)} ms`)
    assert.equal(a.chainId, 31337)
    assert.equal(a.rpcUrl, `http://127.0.0.1:${a.port}`)
    assert.ok(alive(a.pid))
    const { publicClient } = createChainClients({ rpcUrl: a.rpcUrl, chainId: a.chainId })
    assert.equal(await publicClient.getBalance({ address: devAccount(9).address }), 10_000n * 10n ** 18n, 'dev accounts are funded')
    await a.stop()
    await a.stop() // idempotent
    assert.equal(alive(a.pid), false)
  })

  it('honours chainId and a fixed port', async () => {
    const port = await getFreePort()
    const a = await start({ port, chainId: 4242 })
    assert.equal(a.port, port)
    assert.equal(a.chainId, 4242)
    await a.stop()
  })

  it('fails with CHAIN_UNREACHABLE and anvil output when a fixed port is taken', async () => {
    const server = createServer()
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    const port = (server.address() as { port: number }).port
    try {
      await assert.rejects(startAnvil({ port }), (e: unknown) => {
        assert.ok(isW3aError(e, 'CHAIN_UNREACHABLE'), String(e))
        assert.match(e.message, /already in use/i)
        return true
      })
    } finally {
      server.close()
    }
  })

  it('fails with CHAIN_UNREACHABLE on an unreadable state file', async () => {
    const bad = join(tmp, 'corrupt-state.json')
    writeFileSync(bad, '{"this is": not a state')
    await assert.rejects(startAnvil({ stateFile: bad }), (e: unknown) => {
      assert.ok(isW3aError(e, 'CHAIN_UNREACHABLE'), String(e))
      assert.match(e.message, /last anvil output/)
      return true
    })
  })

  it('persists the chain in its state file across restarts', async () => {
    const stateFile = join(tmp, 'persist', 'anvil-state.json')
    const deploymentFile = join(tmp, 'persist', 'deployment.json')
    const salt = keccak256(toHex('persisted dataset'))

    const first = await start({ stateFile })
    const d1 = await ensureDeployment({ rpcUrl: first.rpcUrl, deploymentFile, fundAccounts: 2, fundAmount: 5n * 10n ** 18n })
    const owner = createChainClients({ rpcUrl: first.rpcUrl, chainId: first.chainId, account: devAccount(1) })
    const reg = await registerDataset(owner, {
      registry: d1.datasetRegistry,
      salt,
      name: 'survives restarts',
      manifestCid: 'bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi',
      schemaHash: keccak256(toHex('schema')),
      pricePerQuery: 42n,
    })
    const { id } = reg
    await first.stop()
    assert.ok(existsSync(stateFile) && statSync(stateFile).size > 0, 'state dumped on stop')

    const second = await start({ stateFile })
    const d2 = await ensureDeployment({ rpcUrl: second.rpcUrl, deploymentFile, fundAccounts: 2, fundAmount: 5n * 10n ** 18n })
    assert.deepEqual(d2, d1, 'same addresses, nothing redeployed')
    const { publicClient } = createChainClients({ rpcUrl: second.rpcUrl, chainId: second.chainId })
    const ds = await getDataset(publicClient, { registry: d2.datasetRegistry, id })
    assert.equal(ds.name, 'survives restarts')
    assert.equal(ds.pricePerQuery, 42n)
    assert.equal(await getTokenBalance(publicClient, { token: d2.token, account: devAccount(1).address }), 5n * 10n ** 18n)
    assert.ok((await publicClient.getBlockNumber({ cacheTime: 0 })) >= reg.blockNumber)
    // Event history survives too (event followers replay from the deployment block).
    const logs = await publicClient.getContractEvents({ address: d2.datasetRegistry, abi: datasetRegistryAbi, eventName: 'DatasetRegistered', fromBlock: 0n })
    assert.deepEqual(logs.map((l) => l.args.id), [id])
    await second.stop()
  })

  it('does not leave anvil orphaned when the parent process exits', async () => {
    const anvilModule = fileURLToPath(new URL('./anvil.ts', import.meta.url))
    const script = join(tmp, 'parent.mts')
    writeFileSync(script, `import { startAnvil } from ${JSON.stringify(anvilModule)}\nconst a = await startAnvil({ port: 0 })\nconsole.log(a.pid)\nprocess.exit(0)\n`)
    const res = spawnSync(process.execPath, ['--import', 'tsx', script], { encoding: 'utf8', timeout: 30_000 })
    assert.equal(res.status, 0, res.stderr)
    const pid = Number(res.stdout.trim())
    assert.ok(pid > 0, res.stdout)
    assert.ok(await waitGone(pid, 10_000), `anvil ${pid} still running after its parent exited`)
  })
})
