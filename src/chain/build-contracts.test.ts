import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { after, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'

const root = resolve(fileURLToPath(import.meta.url), '..', '..', '..')
const script = join(root, 'scripts', 'build-contracts.mjs')
const generated = join(root, 'src', 'chain', 'generated', 'artifacts.ts')
const tmp = mkdtempSync(join(tmpdir(), 'w3a-build-contracts-'))
after(() => rmSync(tmp, { recursive: true, force: true }))

function run(...args: string[]) {
  return spawnSync(process.execPath, [script, ...args], { cwd: root, encoding: 'utf8' })
}

describe('scripts/build-contracts.mjs', () => {
  it('has generated typed artifacts for every contract (run `npm run build:contracts` first)', async () => {
    assert.ok(existsSync(generated), `${generated} is missing: run npm run build:contracts`)
    const mod = await import('./generated/artifacts.js')
    assert.match(mod.sourcesHash, /^[0-9a-f]{64}$/)
    for (const a of [mod.W3ATokenArtifact, mod.DatasetRegistryArtifact, mod.WorkerRegistryArtifact, mod.CustodyInboxArtifact]) {
      assert.match(a.bytecode, /^0x[0-9a-f]{200,}$/)
      assert.ok(a.abi.length > 0)
    }
    const names = (mod.DatasetRegistryArtifact.abi as readonly { name?: string }[]).map((x) => x.name)
    for (const n of ['register', 'updateManifest', 'setPrice', 'setStatus', 'get', 'count', 'idAt', 'datasetsOf', 'token', 'governance'])
      assert.ok(names.includes(n), `DatasetRegistry ABI lacks ${n}`)
    for (const n of ['DatasetExists', 'UnknownDataset', 'NotDatasetOwner', 'DatasetDeleted', 'EmptyManifestCid'])
      assert.ok(names.includes(n), `DatasetRegistry ABI lacks error ${n}`)
    for (const n of ['DatasetRegistered', 'ManifestUpdated', 'PriceChanged', 'StatusChanged'])
      assert.ok(names.includes(n), `DatasetRegistry ABI lacks event ${n}`)
    assert.ok((mod.W3ATokenArtifact.abi as readonly { name?: string }[]).some((x) => x.name === 'mint'))
    assert.match(mod.contractsSourcesHash, /^[0-9a-f]{64}$/)
    assert.notEqual(mod.contractsSourcesHash, mod.sourcesHash, 'the deployment hash leaves the build script out')
    const workerNames = (mod.WorkerRegistryArtifact.abi as readonly { name?: string }[]).map((x) => x.name)
    for (const n of ['register', 'heartbeat', 'isOnline', 'isEligible', 'isKeeper', 'keepers', 'slash', 'publishEpochKey', 'epochKey', 'epochKeyVote', 'epochKeyVotes', 'publishStateRoot', 'currentEpoch', 'getWorker', 'workerCount', 'workerAt'])
      assert.ok(workerNames.includes(n), `WorkerRegistry ABI lacks ${n}`)
    for (const n of ['SimNotAllowed', 'MeasurementNotAllowed', 'BadAttestationSignature', 'BadWorkerSignature', 'NotEnoughApprovals', 'AlreadyRegistered', 'InsufficientStake', 'AlreadyVoted'])
      assert.ok(workerNames.includes(n), `WorkerRegistry ABI lacks error ${n}`)
    const inboxNames = (mod.CustodyInboxArtifact.abi as readonly { name?: string }[]).map((x) => x.name)
    for (const n of ['post', 'count', 'head', 'CommandPosted']) assert.ok(inboxNames.includes(n), `CustodyInbox ABI lacks ${n}`)
  })

  it('skips recompiling when the sources are unchanged', () => {
    const before = readFileSync(generated, 'utf8')
    const res = run()
    assert.equal(res.status, 0, res.stderr)
    assert.match(res.stdout, /up to date/)
    assert.equal(readFileSync(generated, 'utf8'), before)
  })

  it('compiles a folder with OpenZeppelin imports into an artifacts module', () => {
    const dir = join(tmp, 'ok')
    const out = join(tmp, 'ok-artifacts.ts')
    mkdirSync(dir, { recursive: true })
    writeFileSync(
      join(dir, 'Thing.sol'),
      `// SPDX-License-Identifier: MIT\npragma solidity ^0.8.24;\nimport {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";\ncontract Thing is Ownable { constructor() Ownable(msg.sender) {} }\n`,
    )
    const res = run('--contracts', dir, '--out', out)
    assert.equal(res.status, 0, res.stderr)
    assert.match(res.stdout, /compiled 1 contracts \(Thing \d+B\)/)
    const text = readFileSync(out, 'utf8')
    assert.match(text, /export const ThingArtifact = \{/)
    assert.match(text, /\} as const/)
    // A second run is a no-op.
    assert.match(run('--contracts', dir, '--out', out).stdout, /up to date/)
  })

  it('fails loudly (exit 1, solc messages) on a compile error', () => {
    const dir = join(tmp, 'broken')
    mkdirSync(dir, { recursive: true })
    writeFileSync(join(dir, 'Broken.sol'), `// SPDX-License-Identifier: MIT\npragma solidity ^0.8.24;\ncontract Broken { function f() external { undefinedThing(); } }\n`)
    const out = join(tmp, 'broken-artifacts.ts')
    const res = run('--contracts', dir, '--out', out)
    assert.equal(res.status, 1)
    assert.match(res.stderr, /reported 1 error/)
    assert.match(res.stderr, /undefinedThing/)
    assert.equal(existsSync(out), false, 'no artifacts written on error')
  })
})
