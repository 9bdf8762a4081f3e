import type { Job } from '../chain/index.js'

/** A job as the host read it from chain, handed to the enclave (which re-checks what it can). */
export type JobView = Pick<Job, 'id' | 'status' | 'analyst' | 'worker' | 'datasetId' | 'analysisHash' | 'privacyParamsHash' | 'inputCidsHash' | 'epsilonMicros'>

export function jobViewOf(job: Job): JobView {
  const { id, status, analyst, worker, datasetId, analysisHash, privacyParamsHash, inputCidsHash, epsilonMicros } = job
  return { id, status, analyst, worker, datasetId, analysisHash, privacyParamsHash, inputCidsHash, epsilonMicros }
}
