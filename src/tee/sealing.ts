/**
 * Sealing: secrets at rest encrypted under the enclave's sealing key (bound to measurement +
 * platform, see EnclaveBackend.sealingKey).
 *
 *   sealed = "W3AS" ‖ u8 version=1 ‖ nonce[12] ‖ AES-256-GCM(key, nonce, aad, plaintext) ‖ tag[16]
 *   aad    = "W3AS" ‖ u8 version ‖ label (UTF-8)
 *
 * The label names what the blob is (e.g. "w3a/enclave/custody-state/v1"), so a sealed blob of
 * one kind can never be unsealed as another. Nonces are random (96 bits): fine for the few
 * thousand writes a key sees in its life (the GCM bound for random nonces is 2^32 messages).
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto'
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs'
import { dirname } from 'node:path'
import { W3aError } from '../core/errors.js'

export const SEALED_MAGIC = Uint8Array.of(0x57, 0x33, 0x41, 0x53) // "W3AS"
export const SEALED_VERSION = 1
const NONCE = 12
const TAG = 16
const HEADER = SEALED_MAGIC.length + 1
export const SEALED_OVERHEAD = HEADER + NONCE + TAG

export function seal(key: Uint8Array, plaintext: Uint8Array, options: { label: string }): Uint8Array {
  checkKey(key)
  const nonce = randomBytes(NONCE)
  const cipher = createCipheriv('aes-256-gcm', key, nonce)
  cipher.setAAD(aad(options.label))
  const ct = Buffer.concat([cipher.update(plaintext), cipher.final()])
  const out = new Uint8Array(SEALED_OVERHEAD + plaintext.length)
  out.set(SEALED_MAGIC, 0)
  out[4] = SEALED_VERSION
  out.set(nonce, HEADER)
  out.set(ct, HEADER + NONCE)
  out.set(cipher.getAuthTag(), HEADER + NONCE + ct.length)
  return out
}

/** UNSEAL_FAILED on any tampering, a wrong key (other measurement or platform) or a wrong label. */
export function unseal(key: Uint8Array, sealed: Uint8Array, options: { label: string }): Uint8Array {
  checkKey(key)
  if (!(sealed instanceof Uint8Array) || sealed.length < SEALED_OVERHEAD || !SEALED_MAGIC.every((b, i) => sealed[i] === b)) {
    throw new W3aError('UNSEAL_FAILED', 'not a sealed blob (bad magic or too short)')
  }
  if (sealed[4] !== SEALED_VERSION) throw new W3aError('UNSEAL_FAILED', `unsupported sealed blob version ${sealed[4]}`)
  const nonce = sealed.subarray(HEADER, HEADER + NONCE)
  const ct = sealed.subarray(HEADER + NONCE, sealed.length - TAG)
  try {
    const d = createDecipheriv('aes-256-gcm', key, nonce)
    d.setAAD(aad(options.label))
    d.setAuthTag(sealed.subarray(sealed.length - TAG))
    return new Uint8Array(Buffer.concat([d.update(ct), d.final()]))
  } catch (cause) {
    // One answer for every failure: which check failed tells an attacker nothing useful.
    throw new W3aError('UNSEAL_FAILED', `could not unseal "${options.label}": wrong sealing key (other measurement or machine), wrong label, or tampered data`, { cause })
  }
}

/** Seals and writes atomically (temp file, fsync, rename), mode 0600. */
export function writeSealedFile(path: string, key: Uint8Array, label: string, bytes: Uint8Array): void {
  const sealed = seal(key, bytes, { label })
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 })
  const tmp = `${path}.tmp-${randomBytes(6).toString('hex')}`
  const fd = openSync(tmp, 'wx', 0o600)
  try {
    try {
      writeSync(fd, sealed)
      fsyncSync(fd) // the new content is on disk before the rename makes it the file
    } finally {
      closeSync(fd)
    }
    renameSync(tmp, path)
  } catch (e) {
    try {
      unlinkSync(tmp)
    } catch {
      /* already gone */
    }
    throw e
  }
  fsyncDir(dirname(path))
}

export function readSealedFile(path: string, key: Uint8Array, label: string): Uint8Array {
  let sealed: Uint8Array
  try {
    sealed = readFileSync(path)
  } catch (cause) {
    throw new W3aError('INPUT_UNREADABLE', `cannot read sealed file ${path}`, { cause })
  }
  return unseal(key, sealed, { label })
}

function aad(label: string): Uint8Array {
  if (typeof label !== 'string' || label.length === 0) throw new W3aError('INVALID_ARGUMENT', 'a seal label is required')
  const l = new TextEncoder().encode(label)
  const out = new Uint8Array(HEADER + l.length)
  out.set(SEALED_MAGIC, 0)
  out[4] = SEALED_VERSION
  out.set(l, HEADER)
  return out
}

function checkKey(key: Uint8Array): void {
  if (!(key instanceof Uint8Array) || key.length !== 32) throw new W3aError('INVALID_ARGUMENT', 'a sealing key is 32 bytes')
}

/** Makes the rename itself durable; not every platform lets a directory be fsynced, so best effort. */
function fsyncDir(dir: string): void {
  let fd: number | undefined
  try {
    fd = openSync(dir, 'r')
    fsyncSync(fd)
  } catch {
    /* e.g. Windows */
  } finally {
    if (fd !== undefined) closeSync(fd)
  }
}
