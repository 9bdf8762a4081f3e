/**
 * The segment envelope's writer on Web Crypto (AES-256-GCM, HKDF-SHA256): the browser seals
 * a dataset's segments with it before they leave the page (the dashboard's upload). Same bytes
 * as envelope.ts's encryptSegment (layout in envelope-format.ts, docs/formats.md); readers
 * use envelope.ts. Whole-segment: the page holds the file anyway.
 */
import {
  checkKeyAndContext,
  DEFAULT_CHUNK_SIZE,
  ENVELOPE_HEADER_SIZE,
  ENVELOPE_TAG_SIZE,
  envelopeCiphertextSize,
  KDF_INFO,
  makeHeader,
  SALT_OFFSET,
  SALT_SIZE,
  segmentAad,
  setAadChunk,
  type EnvelopeContext,
} from './envelope-format.js'

/** Seals one segment: header, then each chunk's ciphertext and tag, the last flagged final. */
export async function encryptSegmentWeb(params: { key: Uint8Array; context: EnvelopeContext; chunkSize?: number }, plaintext: Uint8Array): Promise<Uint8Array> {
  checkKeyAndContext(params.key, params.context)
  const chunkSize = params.chunkSize ?? DEFAULT_CHUNK_SIZE
  const header = makeHeader(chunkSize)
  const ikm = await crypto.subtle.importKey('raw', params.key as Uint8Array<ArrayBuffer>, 'HKDF', false, ['deriveKey'])
  const subkey = await crypto.subtle.deriveKey(
    { name: 'HKDF', hash: 'SHA-256', salt: header.slice(SALT_OFFSET, SALT_OFFSET + SALT_SIZE), info: KDF_INFO },
    ikm,
    { name: 'AES-GCM', length: 256 },
    false,
    ['encrypt'],
  )
  const aad = segmentAad(header, params.context)
  const nonce = new Uint8Array(12)
  const out = new Uint8Array(envelopeCiphertextSize(plaintext.length, chunkSize))
  out.set(header, 0)
  let o = ENVELOPE_HEADER_SIZE
  let index = 0
  let p = 0
  do {
    const end = Math.min(plaintext.length, p + chunkSize)
    setAadChunk(aad, nonce, index, end === plaintext.length)
    // Web Crypto returns ciphertext || tag, the envelope's chunk layout.
    const sealed = await crypto.subtle.encrypt({ name: 'AES-GCM', iv: nonce, additionalData: aad as Uint8Array<ArrayBuffer>, tagLength: ENVELOPE_TAG_SIZE * 8 }, subkey, plaintext.subarray(p, end) as Uint8Array<ArrayBuffer>)
    out.set(new Uint8Array(sealed), o)
    o += sealed.byteLength
    p = end
    index++
  } while (p < plaintext.length)
  return out
}
