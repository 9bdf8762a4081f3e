/**
 * Refusal quorums, worker side and releasing-keeper side, with real sim quotes: the worker counts
 * a vote only if it verifies it itself (signature over this job, worker, failure, epoch, set and
 * challenge; a member of the set named; its quote; its registration younger than the TCB policy's
 * maxQuoteAge), and needs a strict majority of the set the votes name.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { bytesToHex, type Address, type Hex } from 'viem'
import { isW3aError } from '../core/errors.js'
import { createEmptyState, withGenesisKeeper, type CustodyState } from '../custody/index.js'
import { DEFAULT_TCB_POLICY, DEV_ATTESTATION_SIGNER, attestIdentity, createEnclaveIdentity, createSimEnclave, type TeePolicy } from '../tee/index.js'
import { assembleRefusalQuorum, signRefusalVote, verifyRefusalQuorum, type RefusalQuorum, type RefusalVote } from './refusal-quorum.js'

const DOMAIN = { chainId: 31337, jobs: '0x00000000000000000000000000000000000000bb', registry: '0x00000000000000000000000000000000000000cc' } as const
const MEASUREMENT: Hex = `0x${'5a'.repeat(32)}`
const MAX_AGE = 3600
const POLICY: TeePolicy = { allowSim: true, devAttestationSigner: DEV_ATTESTATION_SIGNER, simMeasurements: [MEASUREMENT], tcb: { ...DEFAULT_TCB_POLICY, maxQuoteAge: MAX_AGE } }
const NOW = Math.floor(Date.now() / 1000)
const WORKER: Address = '0x00000000000000000000000000000000000000ee'
const CHALLENGE: Hex = `0x${'c4'.repeat(32)}`
const dir = mkdtempSync(join(tmpdir(), 'w3a-refusal-quorum-'))
after(() => rmSync(dir, { recursive: true, force: true }))

let n = 0
async function keeper(measurement = MEASUREMENT) {
  const identity = await createEnclaveIdentity()
  const backend = createSimEnclave({ measurement, platformSecretFile: join(dir, `${n++}.key`) })
  const { quote } = await attestIdentity({ backend, identity, chainId: DOMAIN.chainId, registry: DOMAIN.registry })
  return { signer: identity.signer, hpkePublicKey: bytesToHex(identity.hpke.publicKey), quote: bytesToHex(quote) }
}
type Keeper = Awaited<ReturnType<typeof keeper>>

const [a, b, c] = [await keeper(), await keeper(), await keeper()]
/** The set of three every honest keeper holds; `stale` was admitted longer ago than maxQuoteAge. */
function setOf(members: Keeper[], stale?: Keeper): CustodyState {
  let s = createEmptyState()
  for (const k of members) s = withGenesisKeeper(s, { address: k.signer.address, hpkePublicKey: k.hpkePublicKey, attestedAt: BigInt(k === stale ? NOW - MAX_AGE - 60 : NOW - 60) })
  return s
}
const vote = (k: Keeper, state: CustodyState, over: { failure?: 'bad-analysis' | 'access-denied'; epoch?: bigint; challenge?: Hex } = {}): Promise<RefusalVote> =>
  signRefusalVote({ ...k, domain: DOMAIN, state, epoch: over.epoch ?? 3n, jobId: 7n, worker: WORKER, failure: over.failure ?? 'bad-analysis', challenge: over.challenge ?? CHALLENGE })

async function quorum(state: CustodyState, own: RefusalVote, votes: RefusalVote[]): Promise<RefusalQuorum> {
  const out = await assembleRefusalQuorum({ state, domain: DOMAIN, epoch: 3n, jobId: 7n, worker: WORKER, failure: 'bad-analysis', reason: 'job-mismatch', challenge: CHALLENGE, own, votes })
  assert.equal(out.ok, true, JSON.stringify(out))
  if (!out.ok) throw new Error('no quorum')
  return out.quorum
}
const verify = (refused: unknown, jobId = 7n, minKeepers = 1) => verifyRefusalQuorum({ refused, domain: DOMAIN, policy: POLICY, minKeepers, jobId, worker: WORKER, now: NOW })
const unverified = (e: unknown) => isW3aError(e, 'REFUSAL_UNVERIFIED')

describe('refusal quorum', () => {
  it('two of three keepers’ votes make a failure the worker signs; one does not, whoever assembles it', async () => {
    const set = setOf([a, b, c])
    const q = await quorum(set, await vote(a, set), [await vote(b, set)])
    assert.equal(q.votes.length, 2)
    assert.equal(await verify(q), 'bad-analysis')
    // One vote of three: the releasing keeper does not assemble it, and a host that does gets nothing.
    const alone = await assembleRefusalQuorum({ state: set, domain: DOMAIN, epoch: 3n, jobId: 7n, worker: WORKER, failure: 'bad-analysis', reason: 'job-mismatch', challenge: CHALLENGE, own: await vote(a, set), votes: [] })
    assert.deepEqual(alone, { ok: false, have: 1, need: 2 })
    await assert.rejects(verify({ ...q, votes: [q.votes[0]] }), unverified)
    // The same vote twice counts once; another job is not this one.
    await assert.rejects(verify({ ...q, votes: [q.votes[0], q.votes[0]] }), unverified)
    await assert.rejects(verify(q, 8n), unverified)
  })

  it('votes over other terms (failure, epoch, challenge) or another set do not count together', async () => {
    const set = setOf([a, b, c])
    const own = await vote(a, set)
    // The peer's host fed it other facts: it reached another failure, or its host shifted its epoch.
    for (const peer of [await vote(b, set, { failure: 'access-denied' }), await vote(b, set, { epoch: 4n }), await vote(b, set, { challenge: `0x${'0d'.repeat(32)}` })]) {
      const out = await assembleRefusalQuorum({ state: set, domain: DOMAIN, epoch: 3n, jobId: 7n, worker: WORKER, failure: 'bad-analysis', reason: 'job-mismatch', challenge: CHALLENGE, own, votes: [peer] })
      assert.deepEqual(out, { ok: false, have: 1, need: 2 })
    }
    // A keeper holding a smaller set (its host withheld an admission) signs another set hash: its
    // vote does not count towards the full set, and a quorum naming its small set needs the
    // other members of THAT set, who do not hold it.
    const shrunk = setOf([a, b])
    const q = await quorum(set, own, [await vote(b, set)])
    await assert.rejects(verify({ ...q, votes: [own, await vote(b, shrunk)] }), unverified)
    // Naming another set than the one signed breaks every signature.
    await assert.rejects(verify({ ...q, keepers: q.keepers.slice(0, 2) }), unverified)
  })

  it('quote age: a member registered longer ago than maxQuoteAge is not counted, nor one whose quote is not accepted', async () => {
    const staleSet = setOf([a, b, c], c)
    const q = await quorum(staleSet, await vote(a, staleSet), [await vote(c, staleSet)])
    await assert.rejects(verify(q), (e) => unverified(e) && /1 of the 2/.test((e as Error).message) && JSON.stringify((e as { details?: unknown }).details).includes('maximum quote age'))
    // With a fresh member's vote as well, the fresh two make the quorum.
    const ok = await quorum(staleSet, await vote(a, staleSet), [await vote(b, staleSet), await vote(c, staleSet)])
    assert.equal(await verify(ok), 'bad-analysis')
    // A member whose quote is for code this network does not allow.
    const rogue = await keeper(`0x${'a5'.repeat(32)}`)
    const withRogue = setOf([a, b, rogue])
    const q2 = await quorum(withRogue, await vote(a, withRogue), [await vote(rogue, withRogue)])
    await assert.rejects(verify(q2), unverified)
    // A vote that names the keeper but carries another keeper's quote.
    const set = setOf([a, b, c])
    const q3 = await quorum(set, await vote(a, set), [await vote(b, set)])
    await assert.rejects(verify({ ...q3, votes: [q3.votes[0], { ...q3.votes[1]!, quote: c.quote, hpkePublicKey: c.hpkePublicKey }] }), unverified)
  })

  it('a set of one (the devnet): its own vote is the quorum', async () => {
    const one = setOf([a])
    const q = await quorum(one, await vote(a, one), [])
    assert.equal(await verify(q), 'bad-analysis')
  })

  it('a network whose measured config asks for three keepers takes no refusal from a smaller set, however unanimous', async () => {
    const one = setOf([a])
    await assert.rejects(verify(await quorum(one, await vote(a, one), []), 7n, 3), (e) => unverified(e) && /keeper set of 1; .* at least 3/.test((e as Error).message))
    const two = setOf([a, b])
    await assert.rejects(verify(await quorum(two, await vote(a, two), [await vote(b, two)]), 7n, 3), unverified)
    const three = setOf([a, b, c])
    assert.equal(await verify(await quorum(three, await vote(a, three), [await vote(b, three)]), 7n, 3), 'bad-analysis')
  })
})
