/**
 * A TDX worker's measurement as the allow-list holds it: sha256(MRTD ‖ RTMR0 ‖ RTMR1 ‖ RTMR2),
 * 48 bytes each (the custody protocol). Portable (no Node built-in): verifiers in browsers use it.
 */
import { sha256 } from '@noble/hashes/sha2.js'
import { bytesToHex, concatBytes, type Hex } from 'viem'
import { W3aError } from '../core/errors.js'

const TD_REGISTER_SIZE = 48

export function tdxMeasurement(r: { mrtd: Uint8Array; rtmr0: Uint8Array; rtmr1: Uint8Array; rtmr2: Uint8Array }): Hex {
  for (const [name, v] of Object.entries(r)) {
    if (!(v instanceof Uint8Array) || v.length !== TD_REGISTER_SIZE) throw new W3aError('INVALID_ARGUMENT', `${name} must be ${TD_REGISTER_SIZE} bytes`)
  }
  return bytesToHex(sha256(concatBytes([r.mrtd, r.rtmr0, r.rtmr1, r.rtmr2])))
}
