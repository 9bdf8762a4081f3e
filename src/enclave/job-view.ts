import type { Job } from '../chain/index.js'

/** A job as the host read it from chain, handed to the enclave (which re-checks what it can). */
export type JobView = Pick<Job, 'id' | 'status' | 'analyst' | 'worker' | 'datasetId' | 'analysisHash' | 'privacyParamsHash' | 'inputCidsHash' | 'epsilonMicros'> &
  /** Absent: an SQL job with no function and no purpose (what the charge must then say too). */
  Partial<Pick<Job, 'pool' | 'analysisKind' | 'functionHash' | 'purpose'>>

export function jobViewOf(job: Job): JobView {
  const { id, status, analyst, worker, datasetId, analysisHash, privacyParamsHash, inputCidsHash, epsilonMicros, pool, analysisKind, functionHash, purpose } = job
  return { id, status, analyst, worker, datasetId, analysisHash, privacyParamsHash, inputCidsHash, epsilonMicros, pool, analysisKind, functionHash, purpose }
}
