/**
 * A keeper's approval of a tdx/sgx worker registration (WorkerRegistry.register needs more than
 * half of the active keepers). The keeper signs only after checking, itself, everything the
 * approval vouches for:
 *   - the quote verifies under the network's policy (`verifyQuote`: DCAP signature chain and
 *     collateral, measurement allow-list, TCB status / advisories / age via `checkTcbPolicy`);
 *   - its TEE type and measurement are the ones being registered;
 *   - its report data binds the worker address AND the HPKE key being registered, on this
 *     chain and registry — so clients that seal to the registered key seal to the enclave's;
 *   - attestationHash = keccak256(quote).
 * The signed digest (`keeperApprovalDigest`, w3a.approve.v2) names the HPKE key, so the same
 * approvals cannot register the worker with another key.
 */
import { bytesToHex, hexToBytes, keccak256, type Address, type Hex, type LocalAccount } from 'viem'
import { signKeeperApproval, type TeeType, type WorkerRole } from '../chain/worker.js'
import { W3aError } from '../core/errors.js'
import { verifyWorkerQuote } from '../tee/verify-quote.js'
import type { TeePolicy } from '../tee/types.js'

export type RegistrationToApprove = {
  worker: Address
  teeType: TeeType
  measurement: Hex
  hpkePublicKey: Hex
  roles: number | readonly WorkerRole[]
  quote: Uint8Array
}

export type ApproveRegistrationParameters = {
  /** The keeper's worker key (inside its enclave). */
  signer: Pick<LocalAccount, 'signMessage'>
  /** The network's policy, TCB policy included (`tcb` from the registry's tcbPolicy). */
  policy: TeePolicy
  chainId: number
  registry: Address
  registration: RegistrationToApprove
}

/** `attestedAt`: the verification time the approval names; register with this same value. */
export type ApproveRegistrationReturnType = { signature: Hex; attestationHash: Hex; attestedAt: number; tcbStatus: string }

/** Throws (REPORT_DATA_MISMATCH, TCB_NOT_ALLOWED, ATTESTATION_TOO_OLD, ATTESTATION_INVALID, …) instead of approving. */
export async function approveRegistration(p: ApproveRegistrationParameters): Promise<ApproveRegistrationReturnType> {
  const r = p.registration
  const verified = await verifyWorkerQuote(r.quote, p.policy, { worker: r.worker, hpkePublicKey: hexToBytes(r.hpkePublicKey), chainId: p.chainId, registry: p.registry })
  if (verified.teeType !== r.teeType) throw new W3aError('ATTESTATION_INVALID', `the quote is a ${verified.teeType} quote, the registration says ${r.teeType}`)
  if (verified.measurement.toLowerCase() !== r.measurement.toLowerCase()) {
    throw new W3aError('ATTESTATION_INVALID', `the quote's measurement ${verified.measurement} is not the registered ${r.measurement}`)
  }
  const attestationHash = keccak256(r.quote)
  const signature = await signKeeperApproval(p.signer, {
    chainId: p.chainId,
    registry: p.registry,
    worker: r.worker,
    measurement: verified.measurement,
    hpkePublicKey: bytesToHex(hexToBytes(r.hpkePublicKey)),
    attestationHash,
    roles: r.roles,
    attestedAt: verified.verifiedAt,
  })
  return { signature, attestationHash, attestedAt: verified.verifiedAt, tcbStatus: verified.tcbStatus }
}
