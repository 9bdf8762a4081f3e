/**
 * The 64 bytes a worker binds into its quote (docs/design/custody-protocol.md, "Report data"):
 *   keccak256(abi.encode(bytes32("w3a.worker.v1"), address worker, bytes32 hpkePublicKey,
 *                        uint256 chainId, address registry)) ‖ 32 zero bytes
 * The registry contract recomputes it, so a quote cannot be replayed for other keys,
 * chains or networks.
 */
import { encodeAbiParameters, hexToBytes, bytesToHex, keccak256, stringToHex, isAddress, type Address } from 'viem'
import { W3aError } from '../core/errors.js'
import { REPORT_DATA_SIZE } from './types.js'

export const WORKER_REPORT_DATA_TAG = stringToHex('w3a.worker.v1', { size: 32 })

export type WorkerReportDataParameters = { worker: Address; hpkePublicKey: Uint8Array; chainId: number; registry: Address }

export function workerReportData(p: WorkerReportDataParameters): Uint8Array {
  if (!isAddress(p.worker, { strict: false })) throw new W3aError('INVALID_ARGUMENT', `worker is not an address: ${String(p.worker)}`)
  if (!isAddress(p.registry, { strict: false })) throw new W3aError('INVALID_ARGUMENT', `registry is not an address: ${String(p.registry)}`)
  if (!(p.hpkePublicKey instanceof Uint8Array) || p.hpkePublicKey.length !== 32) throw new W3aError('INVALID_ARGUMENT', 'hpkePublicKey must be 32 bytes')
  if (!Number.isSafeInteger(p.chainId) || p.chainId <= 0) throw new W3aError('INVALID_ARGUMENT', `chainId must be a positive integer, got ${p.chainId}`)
  const encoded = encodeAbiParameters(
    [{ type: 'bytes32' }, { type: 'address' }, { type: 'bytes32' }, { type: 'uint256' }, { type: 'address' }],
    [WORKER_REPORT_DATA_TAG, p.worker, bytesToHex(p.hpkePublicKey), BigInt(p.chainId), p.registry],
  )
  const out = new Uint8Array(REPORT_DATA_SIZE)
  out.set(hexToBytes(keccak256(encoded)), 0) // last 32 bytes stay zero (reserved)
  return out
}
