/**
 * Shared types of the TEE runtime: what a backend (sim, tdx) offers the enclave code, what
 * a verifier accepts (policy) and what it returns once a quote has passed.
 */
import type { Address, Hex } from 'viem'
import type { TcbPolicy } from './tcb-policy.js'

export type TeeType = 'sim' | 'tdx' | 'sgx'

export type TeePolicy = {
  /** Accept simulated quotes. Dev networks only: a production network never accepts sim. */
  allowSim: boolean
  /** Signer of sim quotes (default: the public DEV_ATTESTATION_SIGNER). */
  devAttestationSigner?: Address
  /** If given, a quote whose measurement is not listed is refused (MEASUREMENT_NOT_ALLOWED). */
  allowedMeasurements?: readonly Hex[]
  /**
   * If given, a sim quote whose measurement is not listed is refused (MEASUREMENT_NOT_ALLOWED):
   * the list an enclave derives from its measured network config (network-measurement.ts).
   */
  simMeasurements?: readonly Hex[]
  /** Intel DCAP collateral (PCK CRLs, TCB info, QE identity) as JSON: needed for tdx/sgx quotes. */
  collateral?: unknown
  /** Verification time, unix seconds (default: now). Collateral must be valid at this time. */
  now?: number
  /** The network's TCB policy (the registry's `tcbPolicy`); default DEFAULT_TCB_POLICY. Not applied to sim quotes. */
  tcb?: TcbPolicy
  /**
   * The present, unix seconds (default: the system clock), for the policy's age limit: a quote
   * verified as of an older `now` than `maxQuoteAge` allows is refused (ATTESTATION_TOO_OLD).
   */
  currentTime?: number
}

export type VerifiedQuote = {
  teeType: TeeType
  /** bytes32: sim = bundle hash, tdx = sha256(MRTD‖RTMR0‖RTMR1‖RTMR2), sgx = MRENCLAVE. */
  measurement: Hex
  /** The 64 bytes the enclave bound into the quote. */
  reportData: Hex
  /** Intel TCB status (e.g. UpToDate, OutOfDate); `Simulated` for sim quotes. */
  tcbStatus: string
  advisoryIds: string[]
  /** Unix seconds at which it was verified (the time the collateral was checked valid at). */
  verifiedAt: number
  /** keccak256 of the quote bytes. */
  quoteHash: Hex
}

/** The part of a TEE the enclave code talks to. */
export interface EnclaveBackend {
  readonly teeType: TeeType
  /** True for backends that protect nothing (sim): the worker must say so loudly. */
  readonly insecure: boolean
  measurement(): Promise<Hex>
  /** A quote binding `reportData` (exactly 64 bytes) to this enclave's measurement. */
  quote(reportData: Uint8Array): Promise<Uint8Array>
  /** 32-byte key bound to measurement + platform, for secrets at rest. */
  sealingKey(): Promise<Uint8Array>
}

export const REPORT_DATA_SIZE = 64
