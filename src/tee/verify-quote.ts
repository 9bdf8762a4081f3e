/**
 * One entry point for every quote a W3A node receives: dispatch on the format, verify
 * (sim signature under a sim-allowing policy, or Intel DCAP with collateral), then enforce
 * the measurement allow-list and the network's TCB policy (`checkTcbPolicy`: allowed TCB
 * statuses and advisories, maximum age). `verifyWorkerQuote` adds the report-data check that
 * binds the quote to one worker's keys on one chain and registry.
 */
import { bytesToHex, type Address, type Hex } from 'viem'
import { W3aError } from '../core/errors.js'
import { detectQuoteFormat } from './quote-kind.js'
import { workerReportData } from './report-data.js'
import { verifySimQuote } from './sim-quote.js'
import { assertTcbPolicy, DEFAULT_TCB_POLICY } from './tcb-policy.js'
import type { TeePolicy, VerifiedQuote } from './types.js'

export async function verifyQuote(quote: Uint8Array, policy: TeePolicy, registration?: { registeredAt?: number }): Promise<VerifiedQuote> {
  const verified =
    detectQuoteFormat(quote) === 'sim'
      ? await verifySimQuote(quote, policy)
      : // Loaded when a DCAP quote comes: a page checking sim workers does not download it.
        await (await import('./dcap.js')).verifyDcapQuote(quote, { collateral: policy.collateral, ...(policy.now === undefined ? {} : { now: policy.now }) })
  for (const list of [policy.allowedMeasurements, verified.teeType === 'sim' ? policy.simMeasurements : undefined]) {
    if (list === undefined) continue
    const m = verified.measurement.toLowerCase()
    if (!list.some((a) => a.toLowerCase() === m)) {
      throw new W3aError('MEASUREMENT_NOT_ALLOWED', `the quote's measurement ${verified.measurement} is not on the allow-list`, {
        details: [`tee ${verified.teeType}; ${list.length} measurement(s) allowed`],
      })
    }
  }
  assertTcbPolicy(
    { ...verified, ...(registration?.registeredAt === undefined ? {} : { registeredAt: registration.registeredAt }) },
    policy.tcb ?? DEFAULT_TCB_POLICY,
    policy.currentTime ?? Math.floor(Date.now() / 1000),
  )
  return verified
}

export type WorkerQuoteExpectation = {
  worker: Address
  hpkePublicKey: Uint8Array
  chainId: number
  registry: Address
  /** When the worker registered (unix seconds): a registration older than the policy's maxQuoteAge is refused. */
  registeredAt?: number
}

/** verifyQuote, then: the report data must be exactly workerReportData(worker, hpkePublicKey, chainId, registry). */
export async function verifyWorkerQuote(quote: Uint8Array, policy: TeePolicy, expected: WorkerQuoteExpectation): Promise<VerifiedQuote> {
  const verified = await verifyQuote(quote, policy, expected)
  const want: Hex = bytesToHex(workerReportData(expected))
  if (verified.reportData.toLowerCase() !== want.toLowerCase()) {
    throw new W3aError('REPORT_DATA_MISMATCH', `the quote does not bind worker ${expected.worker}'s keys on chain ${expected.chainId}`, {
      details: [`quote report data  ${verified.reportData}`, `expected           ${want}`],
    })
  }
  return verified
}
