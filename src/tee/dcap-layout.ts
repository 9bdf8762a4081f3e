/**
 * Strict structure check of an Intel DCAP quote (v3 SGX, v4/v5 TDX), run before the
 * cryptographic verification.
 *
 * Why: @phala/dcap-qvl checks every signature, but tolerates bytes no signature covers —
 * an auth-data size larger than its content, the outer certification-data type, the PEM
 * separators and the Intel root certificate inside the quote's PCK chain (it verifies against
 * its built-in root instead), the zero padding after the quote. Flipping those gives another
 * byte string that still verifies, so the quote hash (`attestationHash` on chain) would not
 * name one attestation. Here every length must match its content exactly, the chain must be
 * the canonical PEM of exactly PCK leaf, intermediate CA and Intel's root, and padding
 * must be zeros. (ECDSA signatures remain malleable in principle — (r, s) ↔ (r, n−s) — and
 * Intel does not normalise them, so a quote hash is still not a uniqueness key: see docs/tee.md.)
 */
import { constants as dcapConstants } from '@phala/dcap-qvl'
import { W3aError } from '../core/errors.js'

export const DCAP_TEE_TYPE_SGX = 0x00000000
export const DCAP_TEE_TYPE_TDX = 0x00000081

const HEADER = 48
const SGX_REPORT = 384
const TD10_REPORT = 584
const TD15_REPORT = 648
const ECDSA_SIG = 64
const ECDSA_KEY = 64
const QE_REPORT = 384
const CERT_TYPE_PCK_CHAIN = 5
const CERT_TYPE_QE_REPORT = 6
const ATTESTATION_KEY_ECDSA_P256 = 2

export type DcapLayout = { version: 3 | 4 | 5; teeType: 'sgx' | 'tdx'; reportType: 'sgx' | 'td10' | 'td15'; reportOffset: number; signedLength: number }

/** Throws ATTESTATION_INVALID unless `quote` is a canonically encoded DCAP quote. */
export function checkDcapLayout(quote: Uint8Array): DcapLayout {
  const r = new Reader(quote)
  const version = r.u16()
  if (version !== 3 && version !== 4 && version !== 5) throw bad(`unsupported DCAP quote version ${version}`)
  if (r.u16() !== ATTESTATION_KEY_ECDSA_P256) throw bad('unsupported attestation key type (only ECDSA P-256)')
  const tee = r.u32()
  if (tee !== DCAP_TEE_TYPE_SGX && tee !== DCAP_TEE_TYPE_TDX) throw bad(`unknown TEE type 0x${tee.toString(16)}`)
  r.skip(HEADER - 8)

  let reportType: DcapLayout['reportType']
  if (version === 5) {
    const bodyType = r.u16()
    const bodySize = r.u32()
    reportType = bodyType === 1 ? 'sgx' : bodyType === 2 ? 'td10' : bodyType === 3 ? 'td15' : fail(`unknown v5 body type ${bodyType}`)
    if (bodySize !== reportSize(reportType)) throw bad(`v5 body size ${bodySize} does not match a ${reportType} report`)
  } else reportType = tee === DCAP_TEE_TYPE_TDX ? 'td10' : 'sgx'
  if ((reportType === 'sgx') !== (tee === DCAP_TEE_TYPE_SGX)) throw bad('report type does not match the TEE type')
  const reportOffset = r.offset
  r.skip(reportSize(reportType))
  const signedLength = r.offset

  const authSize = r.u32()
  const authEnd = r.offset + authSize
  if (authEnd > quote.length) throw bad('auth data runs past the end of the quote')
  r.skip(ECDSA_SIG + ECDSA_KEY)
  let chain: Uint8Array
  if (version === 3) {
    chain = readQeSection(r)
  } else {
    // v4/v5: the certification data (type 6) wraps the QE report section.
    if (r.u16() !== CERT_TYPE_QE_REPORT) throw bad('outer certification data is not of type 6 (QE report)')
    const size = r.u32()
    const start = r.offset
    chain = readQeSection(r)
    if (r.offset - start !== size) throw bad('QE report certification data size does not match its content')
  }
  if (r.offset !== authEnd) throw bad('auth data size does not match its content')
  for (let i = authEnd; i < quote.length; i++) if (quote[i] !== 0) throw bad('non-zero bytes after the quote')
  checkPckChain(chain)
  return { version, teeType: tee === DCAP_TEE_TYPE_TDX ? 'tdx' : 'sgx', reportType, reportOffset, signedLength }
}

/** QE report ‖ QE report signature ‖ QE auth data ‖ certification data (must be a PCK chain, type 5). Returns the chain. */
function readQeSection(r: Reader): Uint8Array {
  r.skip(QE_REPORT + ECDSA_SIG)
  r.skip(r.u16())
  const type = r.u16()
  if (type !== CERT_TYPE_PCK_CHAIN) throw bad(`PCK certification data type ${type} is not supported (only 5: PCK certificate chain in the quote)`)
  return r.bytes(r.u32())
}

/** The chain must be exactly PEM(leaf) PEM(intermediate) PEM(Intel root), 64-column lines, optional NUL terminator. */
function checkPckChain(chain: Uint8Array): void {
  const text = latin1(chain)
  const blocks = [...text.matchAll(/-----BEGIN CERTIFICATE-----\n([A-Za-z0-9+/=\n]+?)\n-----END CERTIFICATE-----\n/g)]
  if (blocks.length !== 3) throw bad(`PCK certificate chain must hold 3 certificates, found ${blocks.length}`)
  let ders: Uint8Array[]
  try {
    ders = blocks.map((m) => Uint8Array.from(atob(m[1]!.replace(/\n/g, '')), (c) => c.charCodeAt(0)))
  } catch {
    throw bad('PCK certificate chain is not canonically encoded')
  }
  const canonical = ders.map(pem).join('')
  const rest = text.slice(canonical.length)
  if (!text.startsWith(canonical) || !/^\0*$/.test(rest)) throw bad('PCK certificate chain is not canonically encoded')
  const root = dcapConstants.TRUSTED_ROOT_CA_DER
  if (ders[2]!.length !== root.length || !ders[2]!.every((b, i) => b === root[i])) throw bad('PCK certificate chain does not end in the Intel SGX root CA')
}

/** Bytes as latin1 text (one char per byte), without Node's Buffer so browsers verify too. */
function latin1(bytes: Uint8Array): string {
  let s = ''
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000))
  return s
}

function pem(der: Uint8Array): string {
  const lines = btoa(latin1(der)).match(/.{1,64}/g) ?? []
  return `-----BEGIN CERTIFICATE-----\n${lines.join('\n')}\n-----END CERTIFICATE-----\n`
}

function reportSize(t: DcapLayout['reportType']): number {
  return t === 'sgx' ? SGX_REPORT : t === 'td10' ? TD10_REPORT : TD15_REPORT
}

class Reader {
  offset = 0
  constructor(private readonly b: Uint8Array) {}
  private need(n: number): void {
    if (this.offset + n > this.b.length) throw bad('quote is truncated')
  }
  skip(n: number): void {
    this.need(n)
    this.offset += n
  }
  bytes(n: number): Uint8Array {
    this.need(n)
    const out = this.b.subarray(this.offset, this.offset + n)
    this.offset += n
    return out
  }
  u16(): number {
    this.need(2)
    const v = this.b[this.offset]! | (this.b[this.offset + 1]! << 8)
    this.offset += 2
    return v
  }
  u32(): number {
    this.need(4)
    const v = (this.b[this.offset]! | (this.b[this.offset + 1]! << 8) | (this.b[this.offset + 2]! << 16)) + this.b[this.offset + 3]! * 0x1000000
    this.offset += 4
    return v
  }
}

function bad(reason: string): W3aError {
  return new W3aError('ATTESTATION_INVALID', `DCAP quote refused: ${reason}`)
}

function fail(reason: string): never {
  throw bad(reason)
}
