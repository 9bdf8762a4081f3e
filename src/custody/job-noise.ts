/**
 * A job's noise seed: the secret its DP noise is drawn from (analysis/keyed-rng.ts). Keepers
 * derive it from the analysis-key seed of the epoch the job's analysis was sealed to, and
 * the job's identity, and hand it to the job's worker inside the sealed release. So every
 * attempt of a job, on any worker, draws the same noise (re-running a job to average the
 * noise away gives the same numbers), while no one outside the keepers can predict it.
 *
 * seed = HKDF-SHA256(ikm = analysis seed, info = "w3a/job-noise/v1" ‖ abi.encode(chainId, jobs, jobId)), 32 bytes.
 */
import { hkdf } from '@noble/hashes/hkdf.js'
import { sha256 } from '@noble/hashes/sha2.js'
import { encodeAbiParameters, hexToBytes, type Address } from 'viem'

const INFO = new TextEncoder().encode('w3a/job-noise/v1')

export function jobNoiseSeed(analysisSeed: Uint8Array, job: { chainId: number; jobs: Address; jobId: bigint }): Uint8Array {
  const binding = hexToBytes(encodeAbiParameters([{ type: 'uint256' }, { type: 'address' }, { type: 'uint256' }], [BigInt(job.chainId), job.jobs, job.jobId]))
  const info = new Uint8Array(INFO.length + binding.length)
  info.set(INFO)
  info.set(binding, INFO.length)
  return hkdf(sha256, analysisSeed, undefined, info, 32)
}
