/**
 * The host's errands for the keeper quorum (untrusted side; the enclaves decide everything):
 *
 * - `collectKeeperVotes`: before a release, asks the other members of its enclave's custody
 *   keeper set for their word on it (`POST /v1/keeper/confirm-charge`): a signed confirmation of
 *   the job's charge, or a signed refusal vote. Its enclave counts only signatures of members
 *   over the digests it computes itself, so whatever this courier brings can only fall short.
 * - `proposeKeeperRemovals`: members its host reads as exited or slashed on chain are proposed for
 *   removal with the members' approvals (`POST /v1/keeper/approve-removal`).
 * - `joinKeeperSet`: after a hand-over, a keeper not yet in the set collects approvals from a
 *   majority of the members (`POST /v1/keeper/approve-registration`) and posts the keeper
 *   admission entry to the inbox (custody/keeper-set.ts).
 *
 * Members are found by address in the registry (their endpoint); with a set of one (the devnet's
 * genesis keeper) neither asks anybody.
 */
import { bytesToHex, keccak256, type Address, type Hex } from 'viem'
import { W3aError } from '../../core/errors.js'
import { toJsonText } from '../../core/json-text.js'
import { getWorker, postCustodyCommand, type ChainPublicClient, type WriteClients } from '../../chain/index.js'
import { encodeKeeperAdmission, encodeKeeperRemoval, type ChargeConfirmation } from '../../custody/index.js'
import type { EnclaveInfo } from '../../enclave/service.js'
import type { EnclaveCaller } from './enclave-caller.js'

const PEER_TIMEOUT_MS = 10_000

export type KeeperSetView = { keepers: Address[]; quorum: number; member: boolean }

type Peers = { caller: EnclaveCaller; publicClient: ChainPublicClient; registry: Address; self: Address; log?: (line: string) => void }

/** The other members of the enclave's keeper set, with their registered endpoints (unregistered ones are skipped). */
async function otherMembers(p: Peers): Promise<{ set: KeeperSetView; peers: { address: Address; endpoint: string }[] }> {
  const set = await p.caller.call<KeeperSetView>('keeperSet')
  const others = set.keepers.filter((k) => k.toLowerCase() !== p.self.toLowerCase())
  const peers = await Promise.all(
    others.map((address) =>
      getWorker(p.publicClient, { registry: p.registry, worker: address }).then(
        (w) => ({ address, endpoint: w.endpoint.replace(/\/+$/, '') }),
        () => undefined,
      ),
    ),
  )
  return { set, peers: peers.filter((x) => x !== undefined) }
}

async function postPeer<T>(endpoint: string, path: string, body: unknown): Promise<T> {
  const res = await fetch(`${endpoint}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: toJsonText(body), signal: AbortSignal.timeout(PEER_TIMEOUT_MS) })
  if (!res.ok) throw new Error(`HTTP ${res.status}: ${(await res.text()).slice(0, 200)}`)
  return (await res.json()) as T
}

/**
 * Every other member's word on a release, over one fresh challenge of the enclave's (kept there
 * for the next release of this job): each member's host reads the job and the worker itself,
 * fetches the sealed analysis itself, and its enclave judges the release from its own state
 * (service.ts `voteOnRelease`): a charge confirmation if it would release, a refusal vote if it
 * would refuse (refusal-quorum.ts). `quote` is the worker's, relayed (each enclave verifies it).
 * Unreachable members and answers of neither kind are left out (logged).
 */
export async function collectKeeperVotes(p: Peers & { jobId: bigint; quote: Hex }): Promise<{ confirmations: ChargeConfirmation[]; votes: unknown[] }> {
  const { peers } = await otherMembers(p)
  if (peers.length === 0) return { confirmations: [], votes: [] }
  const challenge = await p.caller.call<Hex>('chargeChallenge', { jobId: p.jobId })
  const confirmations: ChargeConfirmation[] = []
  const votes: unknown[] = []
  await Promise.all(
    peers.map(async (k) => {
      try {
        const a = await postPeer<{ ok: boolean; reason?: string; keeper?: Address; signature?: Hex; vote?: unknown }>(k.endpoint, '/v1/keeper/confirm-charge', { jobId: p.jobId.toString(), challenge, quote: p.quote })
        if (a.ok && a.keeper && a.signature) return void confirmations.push({ keeper: a.keeper, signature: a.signature })
        if (a.vote) votes.push(a.vote)
        p.log?.(`job ${p.jobId}: keeper ${k.address} does not confirm the charge (${a.reason ?? 'no reason'}${a.vote ? '; it votes to refuse' : ''})`)
      } catch (e) {
        p.log?.(`job ${p.jobId}: keeper ${k.address} unreachable for a confirmation: ${(e as Error).message}`)
      }
    }),
  )
  return { confirmations, votes }
}

/** A set member its host may approve removing: exited, slashed, or without the keeper role on chain. */
export function leftOnChain(w: { status: string; roles: readonly string[] }): boolean {
  return w.status === 'exited' || w.status === 'slashed' || !w.roles.includes('keeper')
}

/**
 * Proposes the removal of every member of the enclave's keeper set that this host reads as gone
 * from the chain (leftOnChain): its own enclave's approval and the other members' (each host reads
 * the registry itself), and posts the removal entry once a strict majority approved
 * (custody/keeper-removal.ts). Returns the keepers whose removal was posted.
 */
export async function proposeKeeperRemovals(p: Peers & { inbox: Address; writer: WriteClients }): Promise<Address[]> {
  const { set, peers } = await otherMembers(p)
  if (!set.member || set.keepers.length <= 1) return []
  const posted: Address[] = []
  for (const keeper of set.keepers) {
    if (keeper.toLowerCase() === p.self.toLowerCase()) continue
    const w = await getWorker(p.publicClient, { registry: p.registry, worker: keeper }).catch(() => undefined)
    if (!w || !leftOnChain(w)) continue
    const approvals: Hex[] = []
    let admittedAt: bigint | undefined
    const own = await p.caller.call<{ signature: Hex; admittedAt: bigint }>('approveKeeperRemoval', { keeper, activeOnChain: false })
    approvals.push(own.signature)
    admittedAt = own.admittedAt
    for (const k of peers) {
      if (approvals.length >= set.quorum) break
      if (k.address.toLowerCase() === keeper.toLowerCase()) continue
      try {
        const a = await postPeer<{ signature: Hex; admittedAt: string | number }>(k.endpoint, '/v1/keeper/approve-removal', { keeper })
        if (BigInt(a.admittedAt) === admittedAt) approvals.push(a.signature)
      } catch (e) {
        p.log?.(`keeper removal of ${keeper}: ${k.address} does not approve: ${(e as Error).message}`)
      }
    }
    if (approvals.length < set.quorum) continue
    await postCustodyCommand(p.writer, { inbox: p.inbox, epoch: 0n, ciphertext: bytesToHex(encodeKeeperRemoval({ keeper, admittedAt, approvals })) })
    posted.push(keeper)
  }
  return posted
}

/**
 * A keeper outside its enclave's keeper set asks the members for approvals of its own quote and
 * posts the admission once a strict majority approved. Returns the entry's inbox index
 * (undefined: already a member). Throws KEEPER_NOT_ADMITTED when too few members approve.
 */
export async function joinKeeperSet(p: Peers & { info: EnclaveInfo; roles: number; inbox: Address; writer: WriteClients }): Promise<bigint | undefined> {
  const { set, peers } = await otherMembers(p)
  if (set.member) return undefined
  const registration = { worker: p.info.address, teeType: p.info.teeType, measurement: p.info.measurement, hpkePublicKey: p.info.hpkePublicKey, roles: p.roles, quote: p.info.quote }
  // One verification time for every approver: the digest they sign names it.
  const attestedAt = Math.floor(Date.now() / 1000)
  const problems: string[] = []
  const approvals: Hex[] = []
  for (const k of peers) {
    if (approvals.length >= set.quorum) break
    try {
      const a = await postPeer<{ signature: Hex; attestedAt: number }>(k.endpoint, '/v1/keeper/approve-registration', { registration, attestedAt })
      if (a.attestedAt !== attestedAt) throw new Error(`approved for time ${a.attestedAt}, not ${attestedAt}`)
      approvals.push(a.signature)
    } catch (e) {
      problems.push(`${k.address}: ${(e as Error).message}`)
    }
  }
  if (approvals.length < set.quorum) {
    throw new W3aError('KEEPER_NOT_ADMITTED', `only ${approvals.length} of the ${set.quorum} keeper approvals needed to join the keeper set of ${set.keepers.length}`, { details: problems })
  }
  const admission = encodeKeeperAdmission({
    worker: p.info.address,
    hpkePublicKey: p.info.hpkePublicKey,
    measurement: p.info.measurement,
    teeType: p.info.teeType as 'sim' | 'tdx' | 'sgx',
    roles: p.roles,
    attestationHash: keccak256(p.info.quote),
    attestedAt: BigInt(attestedAt),
    quote: p.info.quote,
    approvals,
  })
  // Public, like a job charge: the epoch field is unused.
  return (await postCustodyCommand(p.writer, { inbox: p.inbox, epoch: 0n, ciphertext: bytesToHex(admission) })).index
}
