/**
 * The segment envelope's layout (docs/formats.md "Segment envelope"): constants, the header,
 * the associated data and the argument checks, with no cipher. Shared by the Node
 * implementation (envelope.ts, node:crypto) and the browser's writer (envelope-web.ts, Web
 * Crypto), so both write the same bytes.
 */
import { W3aError } from '../core/errors.js'

export type EnvelopeContext = { datasetId: `0x${string}` /* bytes32 hex */; segmentIndex: number }

export const ENVELOPE_VERSION = 1
export const DEFAULT_CHUNK_SIZE = 1024 * 1024
/** Bounds on the chunk size; the upper one caps what a reader buffers for an untrusted header. */
export const MIN_CHUNK_SIZE = 16
export const MAX_CHUNK_SIZE = 16 * 1024 * 1024
export const ENVELOPE_HEADER_SIZE = 44
export const ENVELOPE_TAG_SIZE = 16

export const MAGIC = Uint8Array.of(0x57, 0x33, 0x41, 0x45) // "W3AE"
export const SALT_OFFSET = 12
export const SALT_SIZE = 32
export const KDF_INFO = new TextEncoder().encode('w3a/envelope/v1/aes-256-gcm')
export const AAD_SIZE = ENVELOPE_HEADER_SIZE + 32 + 8 + 8 + 1
export const AAD_CHUNK_INDEX = ENVELOPE_HEADER_SIZE + 32 + 8
export const AAD_FINAL = AAD_SIZE - 1
const DATASET_ID_RE = /^0x[0-9a-fA-F]{64}$/

/** Size of the envelope for a plaintext of `plaintextSize` bytes (an empty plaintext is one chunk). */
export function envelopeCiphertextSize(plaintextSize: number, chunkSize: number = DEFAULT_CHUNK_SIZE): number {
  if (!Number.isSafeInteger(plaintextSize) || plaintextSize < 0) throw invalid(`plaintext size must be a non-negative integer, got ${plaintextSize}`)
  checkChunkSize(chunkSize)
  const chunks = Math.max(1, Math.ceil(plaintextSize / chunkSize))
  return ENVELOPE_HEADER_SIZE + plaintextSize + chunks * ENVELOPE_TAG_SIZE
}

/** A fresh header: magic, version, reserved zeros, the chunk size and a random salt. */
export function makeHeader(chunkSize: number): Uint8Array {
  checkChunkSize(chunkSize)
  const h = new Uint8Array(ENVELOPE_HEADER_SIZE)
  h.set(MAGIC, 0)
  h[4] = ENVELOPE_VERSION
  new DataView(h.buffer).setUint32(8, chunkSize)
  crypto.getRandomValues(h.subarray(SALT_OFFSET, SALT_OFFSET + SALT_SIZE))
  return h
}

/** The associated data of a segment, chunk index and final flag left for `setAadChunk`. */
export function segmentAad(header: Uint8Array, context: EnvelopeContext): Uint8Array {
  const aad = new Uint8Array(AAD_SIZE)
  aad.set(header, 0)
  const id = context.datasetId.slice(2)
  for (let i = 0; i < 32; i++) aad[ENVELOPE_HEADER_SIZE + i] = parseInt(id.slice(2 * i, 2 * i + 2), 16)
  writeU64(aad, ENVELOPE_HEADER_SIZE + 32, context.segmentIndex)
  return aad
}

/** Sets chunk `index` and its final flag in `aad` (segmentAad) and in the 12-byte `nonce`. */
export function setAadChunk(aad: Uint8Array, nonce: Uint8Array, index: number, final: boolean): void {
  if (!Number.isSafeInteger(index)) throw invalid('too many chunks in one segment')
  writeU64(nonce, 4, index)
  writeU64(aad, AAD_CHUNK_INDEX, index)
  aad[AAD_FINAL] = final ? 1 : 0
}

export function checkChunkSize(chunkSize: number): void {
  if (!Number.isInteger(chunkSize) || chunkSize < MIN_CHUNK_SIZE || chunkSize > MAX_CHUNK_SIZE) {
    throw invalid(`chunk size must be an integer in ${MIN_CHUNK_SIZE}..${MAX_CHUNK_SIZE}, got ${chunkSize}`)
  }
}

export function checkKeyAndContext(key: Uint8Array, context: EnvelopeContext): void {
  if (!(key instanceof Uint8Array) || key.length !== 32) throw invalid('dataset key must be 32 bytes')
  if (typeof context?.datasetId !== 'string' || !DATASET_ID_RE.test(context.datasetId)) throw invalid('datasetId must be 0x-prefixed bytes32 hex')
  if (!Number.isSafeInteger(context.segmentIndex) || context.segmentIndex < 0) throw invalid('segmentIndex must be a non-negative integer')
}

function writeU64(buf: Uint8Array, offset: number, n: number): void {
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength)
  v.setUint32(offset, Math.floor(n / 0x1_0000_0000))
  v.setUint32(offset + 4, n >>> 0)
}

export function invalid(message: string): W3aError {
  return new W3aError('INVALID_ARGUMENT', message)
}
