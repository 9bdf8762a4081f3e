/**
 * May a keeper hand a job's dataset key to its worker? Only for a job whose charge it applied
 * from the inbox (job-charge.ts) with exactly the fields the job carries on chain, and only
 * while the dataset still exists: a Delete after the charge still stops the release.
 */
import { bytesToHex, hexToBytes, type Address, type Hex } from 'viem'
import { jobWorkerAad, type JobWorkerBinding } from '../chain/jobs.js'
import { hpkeOpen, hpkeSeal } from '../crypto/hpke.js'
import { jobChargeKey, type DeclaredAnalysis, type JobCharge } from './job-charge.js'
import { liveInputs, type ContributionKey } from './pool.js'
import { parsePolicy, type CustodyPolicy } from './policy.js'
import type { RefusalReason } from './receipt.js'
import { getDataset, ZERO_HASH, type CustodyState } from './state.js'

export type JobReleaseRefusal = RefusalReason | 'not-charged' | 'job-mismatch'

export type JobReleaseDecision =
  | {
      ok: true
      /** Empty for a pool: its keys are its contributions'. */
      dek: Uint8Array
      manifestCid: string
      policy: CustodyPolicy
      epsilonLeft: number
      analystEpsilonLeft: number | null
      /** A pool job: the charge's contributions still live, with copies of their keys (pool.ts). */
      contributions?: ContributionKey[]
      /** What the job declared (v3 charges): the sealed analysis must match it. */
      declared?: DeclaredAnalysis
    }
  | { ok: false; reason: JobReleaseRefusal }

/** The declared fields of a charge, if it has them. */
function declaredOf(c: Partial<DeclaredAnalysis>): DeclaredAnalysis | undefined {
  return c.analysisKind === undefined ? undefined : { analysisKind: c.analysisKind, functionHash: c.functionHash ?? ZERO_HASH, purpose: c.purpose ?? '' }
}

export function checkJobRelease(state: CustodyState, job: Omit<JobCharge, 'admitted'>): JobReleaseDecision {
  const charge = state.jobCharges.get(jobChargeKey(job.jobId))
  if (!charge) return { ok: false, reason: 'not-charged' }
  if (charge.status !== 'charged') return { ok: false, reason: charge.reason ?? 'not-charged' }
  const same = (a: string, b: string) => a.toLowerCase() === b.toLowerCase()
  if (
    !same(charge.analyst, job.analyst) ||
    !same(charge.datasetId, job.datasetId) ||
    !same(charge.analysisHash, job.analysisHash) ||
    !same(charge.privacyParamsHash, job.privacyParamsHash) ||
    charge.epsilonMicros !== job.epsilonMicros ||
    JSON.stringify(declaredOf(charge) ?? null) !== JSON.stringify(declaredOf(job) ?? null)
  ) {
    return { ok: false, reason: 'job-mismatch' }
  }
  const d = getDataset(state, job.datasetId)
  if (!d) return { ok: false, reason: 'unknown-dataset' }
  const contributions = d.pool ? liveInputs(state, charge.inputs ?? []) : undefined
  // A pool whose charged contributions were all deleted since has nothing left to release.
  if (d.deleted || (d.pool ? contributions!.length === 0 : !d.dek)) return { ok: false, reason: 'dataset-deleted' }
  const analystSpent = d.budget.perAnalyst.get(job.analyst.toLowerCase() as Address) ?? 0
  const declared = declaredOf(charge)
  return {
    ok: true,
    ...(contributions ? { contributions } : {}),
    ...(declared ? { declared } : {}),
    dek: d.dek ? d.dek.slice() : new Uint8Array(0),
    manifestCid: d.manifestCid,
    policy: d.policy,
    epsilonLeft: Math.max(0, d.policy.epsilonBudget - d.budget.spent),
    analystEpsilonLeft: d.policy.analystEpsilonBudget === undefined ? null : Math.max(0, d.policy.analystEpsilonBudget - analystSpent),
  }
}

/**
 * What the keeper sends the job's worker, HPKE-sealed to the worker's registered (attested) key:
 * info "w3a/job-release/v1", aad = abi.encode(chainId, jobs, jobId, worker). JSON inside; the
 * dataset key travels only in it.
 */
export type JobRelease = {
  jobId: bigint
  datasetId: Hex
  manifestCid: string
  dek: Uint8Array
  policy: CustodyPolicy
  /** The opened analysis (request + privacy params), already checked against the job's hashes. */
  analysis: { request: unknown; privacy: unknown }
  epsilonLeft: number
  analystEpsilonLeft: number | null
  /** The job's noise seed (job-noise.ts): the same for every attempt of the job. */
  noiseSeed: Uint8Array
  /** A pool job: each contribution's id, owner (its privacy unit), manifest and key. */
  contributions?: { datasetId: Hex; owner: Address; manifestCid: string; dek: Uint8Array }[]
}

export type JobReleaseAad = JobWorkerBinding

const RELEASE_INFO = new TextEncoder().encode('w3a/job-release/v1')
const releaseAad = jobWorkerAad

export async function sealJobRelease(p: JobReleaseAad & { workerHpkeKey: Uint8Array; release: JobRelease }): Promise<{ enc: Hex; ciphertext: Hex }> {
  const r = p.release
  const contributions = r.contributions?.map((c) => ({ datasetId: c.datasetId, owner: c.owner, manifestCid: c.manifestCid, dek: bytesToHex(c.dek) }))
  const json = JSON.stringify({ ...r, jobId: r.jobId.toString(), dek: bytesToHex(r.dek), noiseSeed: bytesToHex(r.noiseSeed), ...(contributions ? { contributions } : {}) })
  const out = await hpkeSeal({ recipientPublicKey: p.workerHpkeKey, info: RELEASE_INFO, aad: releaseAad(p) }, new TextEncoder().encode(json))
  return { enc: bytesToHex(out.enc), ciphertext: bytesToHex(out.ciphertext) }
}

export async function openJobRelease(p: JobReleaseAad & { workerPrivateKey: Uint8Array; sealed: { enc: Hex; ciphertext: Hex } }): Promise<JobRelease> {
  const pt = await hpkeOpen({ recipientPrivateKey: p.workerPrivateKey, enc: hexToBytes(p.sealed.enc), info: RELEASE_INFO, aad: releaseAad(p) }, hexToBytes(p.sealed.ciphertext))
  try {
    const j = JSON.parse(new TextDecoder().decode(pt)) as Omit<JobRelease, 'jobId' | 'dek' | 'policy' | 'noiseSeed' | 'contributions'> & { jobId: string; dek: Hex; policy: unknown; noiseSeed: Hex; contributions?: { datasetId: Hex; owner: Address; manifestCid: string; dek: Hex }[] }
    const { contributions, ...rest } = j
    return {
      ...rest,
      jobId: BigInt(j.jobId),
      dek: hexToBytes(j.dek),
      policy: parsePolicy(j.policy),
      noiseSeed: hexToBytes(j.noiseSeed),
      ...(contributions ? { contributions: contributions.map((c) => ({ ...c, dek: hexToBytes(c.dek) })) } : {}),
    }
  } finally {
    pt.fill(0)
  }
}
