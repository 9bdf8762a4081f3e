/**
 * Refusal quorums: a keeper's final refusal to release a job becomes a failure the worker enclave
 * signs only when a strict majority of the custody keeper set reached the same public failure,
 * each keeper from its own custody state and its own host's chain reads (job view, worker facts,
 * the sealed analysis it fetched itself). A single keeper's refusal is computed from its host's
 * inputs, and failures of the analyst's doing pay the worker's operator (Jobs `isAnalystFault`),
 * so one refusal must not be enough, as one confirmation is not enough for a release
 * (custody/charge-confirmation.ts). The pattern is the same:
 *
 *   digest = keccak256(abi.encode(string "w3a.refusal.v2", uint256 chainId, address jobs, uint256 jobId,
 *              address worker, string failure, uint64 epoch, bytes32 keeperSetHash, bytes32 challenge))
 *   vote   = EIP-191 signature by the keeper's worker key over digest, with its quote and HPKE key
 *
 * `challenge` is the releasing keeper's own one-use random value (service.ts chargeChallenge), so
 * votes collected for an earlier release attempt do not count. `epoch` is each keeper's current
 * epoch (a keeper whose host shifted epochs signs another digest). `keeperSetHash` is the set as
 * the voting keeper's own state holds it (keeper-set.ts `keeperSetHash`: members and their
 * admission times), which is how the worker learns the set's size without a host's word: every
 * counted vote names the same set, and a strict majority of THAT set must have voted. A host
 * cannot shrink the set an honest keeper enclave signs: members leave only by removal entries
 * approved by a majority (keeper-removal.ts), and a keeper refuses to vote while a keeper whose
 * quote it verified in a hand-over is missing from its set (service.ts).
 *
 * The worker enclave (`verifyRefusalQuorum`) checks every vote itself: its signature over the
 * digest it rebuilds, the keeper a member of the named set and counted once, its quote verified
 * under the worker's measured policy binding the keeper's address and HPKE key, and the member's
 * registration (admission time) no older than the TCB policy's maxQuoteAge (any TEE type: a
 * stale keeper's vote does not count).
 */
import { encodeAbiParameters, hexToBytes, keccak256, recoverMessageAddress, type Address, type Hex, type LocalAccount } from 'viem'
import { W3aError } from '../core/errors.js'
import { JOB_FAILURE_CODES, type JobFailureReason } from '../analysis/index.js'
import { countMembers, keeperList, keeperQuorum, keeperSetHash, quorumOf, type CustodyState } from '../custody/index.js'
import { DEFAULT_TCB_POLICY, verifyWorkerQuote, type TeePolicy } from '../tee/index.js'

const MAX_KEEPERS = 64

export type RefusalDomain = { chainId: number; jobs: Address; registry: Address }
/** One keeper enclave's signed refusal of (job, worker) with a failure. */
export type RefusalVote = { keeper: Address; hpkePublicKey: Hex; quote: Hex; signature: Hex }
/** A member of the set the votes name; `attestedAt` in unix seconds (decimal string: it crosses JSON). */
export type NamedKeeper = { address: Address; attestedAt: string }
/**
 * What the worker enclave is handed for a refused job: the public failure, the terms every vote
 * signed, the set they name and the votes. `reason` is the releasing keeper's own (logged only).
 */
export type RefusalQuorum = { v: 2; failure: JobFailureReason; reason: string; epoch: string; challenge: Hex; keepers: NamedKeeper[]; votes: RefusalVote[] }

export function refusalVoteDigest(p: RefusalDomain & { jobId: bigint; worker: Address; failure: string; epoch: bigint; keeperSetHash: Hex; challenge: Hex }): Hex {
  return keccak256(
    encodeAbiParameters(
      [{ type: 'string' }, { type: 'uint256' }, { type: 'address' }, { type: 'uint256' }, { type: 'address' }, { type: 'string' }, { type: 'uint64' }, { type: 'bytes32' }, { type: 'bytes32' }],
      ['w3a.refusal.v2', BigInt(p.chainId), p.jobs, p.jobId, p.worker, p.failure, p.epoch, p.keeperSetHash, p.challenge],
    ),
  )
}

/** The terms a keeper's own state gives a refusal vote: its set (listed and hashed) and its epoch. */
export function refusalTerms(state: CustodyState, epoch: bigint): { keepers: NamedKeeper[]; keeperSetHash: Hex; epoch: bigint } {
  const list = keeperList(state)
  return { keepers: list.map((k) => ({ address: k.address, attestedAt: k.attestedAt.toString() })), keeperSetHash: keeperSetHash(list), epoch }
}

/** Keeper side: this enclave's vote for a failure of (job, worker) under `challenge`. */
export async function signRefusalVote(p: { signer: LocalAccount; hpkePublicKey: Hex; quote: Hex; domain: RefusalDomain; state: CustodyState; epoch: bigint; jobId: bigint; worker: Address; failure: JobFailureReason; challenge: Hex }): Promise<RefusalVote> {
  const terms = refusalTerms(p.state, p.epoch)
  const digest = refusalVoteDigest({ ...p.domain, jobId: p.jobId, worker: p.worker, failure: p.failure, epoch: p.epoch, keeperSetHash: terms.keeperSetHash, challenge: p.challenge })
  return { keeper: p.signer.address, hpkePublicKey: p.hpkePublicKey, quote: p.quote, signature: await p.signer.signMessage({ message: { raw: digest } }) }
}

/**
 * Releasing keeper: its own vote plus the peers' votes (from its host) that recover to distinct
 * members of its set over the digest of its own terms; a quorum if they make a strict majority.
 * Votes that count for nothing are dropped, so the worker is handed only what it will count.
 */
export async function assembleRefusalQuorum(p: {
  state: CustodyState
  domain: RefusalDomain
  epoch: bigint
  jobId: bigint
  worker: Address
  failure: JobFailureReason
  reason: string
  challenge: Hex
  own: RefusalVote
  votes: unknown
}): Promise<{ ok: true; quorum: RefusalQuorum } | { ok: false; have: number; need: number }> {
  const terms = refusalTerms(p.state, p.epoch)
  const digest = refusalVoteDigest({ ...p.domain, jobId: p.jobId, worker: p.worker, failure: p.failure, epoch: p.epoch, keeperSetHash: terms.keeperSetHash, challenge: p.challenge })
  const counted = new Map<string, RefusalVote>()
  for (const v of [p.own, ...parseVotes(p.votes)]) {
    const who = await recoverOrUndefined(digest, v.signature)
    if (who === undefined || who !== v.keeper.toLowerCase() || counted.has(who) || countMembers(p.state, [who]) === 0) continue
    counted.set(who, v)
  }
  const need = keeperQuorum(p.state)
  if (counted.size < need) return { ok: false, have: counted.size, need }
  return { ok: true, quorum: { v: 2, failure: p.failure, reason: p.reason, epoch: p.epoch.toString(), challenge: p.challenge, keepers: terms.keepers, votes: [...counted.values()] } }
}

/**
 * Worker side: the public failure, only if `refused` is a refusal quorum for this job and worker
 * that this enclave verified vote by vote (above). Anything else (a bare reason, a single keeper's
 * statement, votes over another set, job or worker, quotes that do not verify or are registered
 * too long ago, fewer than a strict majority) is REFUSAL_UNVERIFIED.
 */
export async function verifyRefusalQuorum(p: { refused: unknown; domain: RefusalDomain; policy: TeePolicy; minKeepers: number; jobId: bigint; worker: Address; now?: number }): Promise<JobFailureReason> {
  const bad = (why: string, details: string[] = []) => new W3aError('REFUSAL_UNVERIFIED', `job ${p.jobId}: the keeper refusal the host passed is not verified: ${why}`, { details })
  const q = parseQuorum(p.refused, bad)
  const list = q.keepers.map((k) => ({ address: k.address.toLowerCase() as Address, attestedAt: BigInt(k.attestedAt) }))
  if (list.length < p.minKeepers) throw bad(`the votes name a keeper set of ${list.length}; this network's measured config needs at least ${p.minKeepers} keepers`)
  const digest = refusalVoteDigest({ ...p.domain, jobId: p.jobId, worker: p.worker, failure: q.failure, epoch: BigInt(q.epoch), keeperSetHash: keeperSetHash(list), challenge: q.challenge })
  const now = p.now ?? Math.floor(Date.now() / 1000)
  const maxAge = (p.policy.tcb ?? DEFAULT_TCB_POLICY).maxQuoteAge
  const counted = new Set<string>()
  const skipped: string[] = []
  for (const v of q.votes) {
    const member = list.find((k) => k.address === v.keeper.toLowerCase())
    const who = await recoverOrUndefined(digest, v.signature)
    if (!member || who !== member.address) {
      skipped.push(`${v.keeper}: not a member's signature over this job, worker, failure and set`)
      continue
    }
    if (counted.has(who)) continue
    const registeredAt = Number(member.attestedAt)
    if (now - registeredAt > maxAge) {
      skipped.push(`${v.keeper}: registered ${now - registeredAt} s ago, more than the network's maximum quote age of ${maxAge} s`)
      continue
    }
    try {
      await verifyWorkerQuote(hexToBytes(v.quote), p.policy, { worker: member.address, hpkePublicKey: hexToBytes(v.hpkePublicKey), chainId: p.domain.chainId, registry: p.domain.registry, registeredAt })
    } catch (e) {
      skipped.push(`${v.keeper}: quote not accepted (${e instanceof W3aError ? e.code : 'invalid'})`)
      continue
    }
    counted.add(who)
  }
  const need = quorumOf(list.length)
  if (counted.size < need) throw bad(`${counted.size} of the ${need} keeper votes needed (a strict majority of the ${list.length} keepers the votes name)`, skipped)
  return q.failure
}

async function recoverOrUndefined(digest: Hex, signature: Hex): Promise<string | undefined> {
  try {
    return (await recoverMessageAddress({ message: { raw: digest }, signature })).toLowerCase()
  } catch {
    return undefined // a signature that does not recover vouches for nobody
  }
}

const isHex = (v: unknown, bytes?: number): v is Hex => typeof v === 'string' && (bytes === undefined ? /^0x([0-9a-fA-F]{2})+$/ : new RegExp(`^0x[0-9a-fA-F]{${bytes * 2}}$`)).test(v)
const isUint = (v: unknown): v is string => typeof v === 'string' && /^(0|[1-9][0-9]{0,19})$/.test(v) && BigInt(v) < 1n << 64n

function parseVotes(v: unknown): RefusalVote[] {
  if (v === undefined) return []
  if (!Array.isArray(v) || v.length > MAX_KEEPERS) throw new W3aError('INVALID_ARGUMENT', `refusal votes: expected a list of at most ${MAX_KEEPERS}`)
  return v.map((x: unknown) => {
    const o = x as Partial<RefusalVote> | null
    if (!isHex(o?.keeper, 20) || !isHex(o.hpkePublicKey, 32) || !isHex(o.quote) || !isHex(o.signature, 65)) throw new W3aError('INVALID_ARGUMENT', 'refusal votes: each is { keeper, hpkePublicKey, quote, signature }')
    return { keeper: o.keeper, hpkePublicKey: o.hpkePublicKey, quote: o.quote, signature: o.signature }
  })
}

function parseQuorum(v: unknown, bad: (why: string) => W3aError): RefusalQuorum {
  const q = v as Partial<RefusalQuorum> | null
  if (typeof q !== 'object' || q === null) throw bad('it is not a refusal quorum (a bare reason is the host’s word)')
  if (q.v !== 2) throw bad('not a refusal quorum (v2): a single keeper’s statement is not enough')
  if (typeof q.failure !== 'string' || !Object.hasOwn(JOB_FAILURE_CODES, q.failure)) throw bad('no known failure')
  if (!isUint(q.epoch) || !isHex(q.challenge, 32)) throw bad('epoch or challenge missing or malformed')
  if (!Array.isArray(q.keepers) || q.keepers.length === 0 || q.keepers.length > MAX_KEEPERS) throw bad('no keeper set named')
  let last = ''
  for (const k of q.keepers as unknown[]) {
    const o = k as Partial<NamedKeeper> | null
    if (!isHex(o?.address, 20) || !isUint(o.attestedAt)) throw bad('a keeper of the set is malformed')
    const a = o.address.toLowerCase()
    if (a <= last) throw bad('the keeper set is not in ascending order without repeats')
    last = a
  }
  let votes: RefusalVote[]
  try {
    votes = parseVotes(q.votes)
  } catch {
    throw bad('votes missing or malformed')
  }
  return { v: 2, failure: q.failure as JobFailureReason, reason: typeof q.reason === 'string' ? q.reason.slice(0, 64) : '', epoch: q.epoch, challenge: q.challenge, keepers: q.keepers as NamedKeeper[], votes }
}
