/**
 * The cluster's epoch secrets (docs/design/custody-protocol.md, "Epochs"):
 *
 *   S_0      = 32 random bytes, made in the first keeper
 *   S_{e+1}  = HKDF-SHA256(IKM = S_e, salt = "", info = "w3a/epoch/ratchet", L = 32)
 *   key pair = RFC 9180 DeriveKeyPair(HKDF-SHA256(IKM = S_e, salt = "", info = "w3a/epoch/hpke", L = 32))
 *
 * The ratchet is one-way: S_e gives every later secret and no earlier one. `EpochKeyring`
 * holds the current epoch's secret only; moving forward zeroes the old bytes, so ciphertexts
 * sealed to an erased epoch (such as a deleted dataset's register command) can no longer be
 * opened by anyone (crypto-shredding). JavaScript cannot promise that no copy survives in
 * freed memory; the keeper's process lives in the enclave for that reason.
 */
import { Aes128Gcm, CipherSuite, DhkemX25519HkdfSha256 as NativeX25519Kem, HkdfSha256 } from '@hpke/core'
import { hkdf } from '@noble/hashes/hkdf.js'
import { sha256 } from '@noble/hashes/sha2.js'
import { W3aError } from '../core/errors.js'
import { deriveHpkeKeyPair, hpkeCipherSuite, type HpkeKeyPair } from '../crypto/hpke.js'
import { ByteReader, ByteWriter, malformed } from './canonical.js'

const RATCHET_INFO = new TextEncoder().encode('w3a/epoch/ratchet')
const HPKE_INFO = new TextEncoder().encode('w3a/epoch/hpke')
const ANALYSIS_INFO = new TextEncoder().encode('w3a/epoch/analysis-hpke')
const SECRET_SIZE = 32
const EXPORT_MAGIC = new TextEncoder().encode('W3EK')
const EXPORT_VERSION = 1

export function createInitialSecret(): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(SECRET_SIZE))
}

export function nextEpochSecret(secret: Uint8Array): Uint8Array {
  checkSecret(secret)
  return hkdf(sha256, secret, undefined, RATCHET_INFO, SECRET_SIZE)
}

export async function epochKeyPair(secret: Uint8Array): Promise<HpkeKeyPair> {
  checkSecret(secret)
  const ikm = hkdf(sha256, secret, undefined, HPKE_INFO, SECRET_SIZE)
  try {
    return await deriveHpkeKeyPair(ikm)
  } finally {
    ikm.fill(0)
  }
}

/** The analysis key pair of a seed from `EpochKeyring.analysisSeed`. */
export async function analysisKeyPair(seed: Uint8Array): Promise<HpkeKeyPair> {
  checkSecret(seed)
  return deriveHpkeKeyPair(seed)
}

type Opener = { pair: HpkeKeyPair; suite: CipherSuite; recipientKey: CryptoKeyPair }

let openingSuite: Promise<CipherSuite> | undefined

/**
 * The suite keepers open inbox entries with: exactly hpke.ts's suite, but with X25519 from
 * WebCrypto when the runtime has it (Node does): the portable pure-JS X25519 costs about as
 * much as the owner's signature check, per entry. Falls back to hpke.ts's suite elsewhere.
 */
function keeperSuite(): Promise<CipherSuite> {
  openingSuite ??= (async () => {
    const native = new CipherSuite({ kem: new NativeX25519Kem(), kdf: new HkdfSha256(), aead: new Aes128Gcm() })
    try {
      await native.kem.deserializePrivateKey(new Uint8Array(32).fill(7))
      return native
    } catch {
      return hpkeCipherSuite()
    }
  })()
  return openingSuite
}

export class EpochKeyring {
  #epoch: bigint
  #secret: Uint8Array
  #opener: Promise<Opener> | undefined
  #destroyed = false

  /** Takes a copy of `secret`; zero your own copy when done with it. */
  constructor(epoch: bigint, secret: Uint8Array) {
    if (typeof epoch !== 'bigint' || epoch < 0n || epoch >= 1n << 64n) throw new W3aError('INVALID_ARGUMENT', 'epoch must be a u64 bigint')
    checkSecret(secret)
    this.#epoch = epoch
    this.#secret = secret.slice()
  }

  get epoch(): bigint {
    this.#alive()
    return this.#epoch
  }

  /**
   * Ratchets forward to `epoch`, zeroing every secret on the way. Going back is impossible
   * (EPOCH_REGRESSION): the old secrets are gone. Advancing to the current epoch is a no-op.
   */
  advanceTo(epoch: bigint): void {
    this.#alive()
    if (typeof epoch !== 'bigint' || epoch >= 1n << 64n) throw new W3aError('INVALID_ARGUMENT', 'epoch must be a u64 bigint')
    if (epoch < this.#epoch) {
      throw new W3aError('EPOCH_REGRESSION', 'The keyring cannot go back to an earlier epoch', { details: [`current: ${this.#epoch}`, `asked: ${epoch}`] })
    }
    if (epoch === this.#epoch) return
    this.#forgetOpener()
    let s = this.#secret
    for (let e = this.#epoch; e < epoch; e++) {
      const next = nextEpochSecret(s)
      s.fill(0)
      s = next
    }
    this.#secret = s
    this.#epoch = epoch
  }

  /** The current epoch's HPKE key pair (a copy: zero the private key when done). */
  async keyPair(): Promise<HpkeKeyPair> {
    const { pair } = await this.#getOpener()
    return { publicKey: pair.publicKey.slice(), privateKey: pair.privateKey.slice() }
  }

  /**
   * Seed of the current epoch's analysis key pair (`analysisKeyPair`): HKDF(S_e, info
   * "w3a/epoch/analysis-hpke"), independent of the custody key. Keepers keep it one epoch longer
   * than S_e, so an analysis sealed just before a boundary still opens; no custody command
   * (and so no dataset key) can be opened with it. Zero it when done.
   */
  analysisSeed(): Uint8Array {
    this.#alive()
    return hkdf(sha256, this.#secret, undefined, ANALYSIS_INFO, SECRET_SIZE)
  }

  /** The current epoch's public key, as published on chain (`publishEpochKey`). */
  async publicKey(): Promise<Uint8Array> {
    return (await this.#getOpener()).pair.publicKey.slice()
  }

  /**
   * Opens a single-shot HPKE ciphertext sealed to the current epoch key. Throws HPKE_OPEN_FAILED.
   * Keeps the deserialized key pair between calls: with a full pair, decapsulation skips
   * recomputing the public key (one X25519 multiplication instead of two per inbox entry).
   * A native WebCrypto private key cannot be zeroed by us; it is dropped on advance.
   */
  async open(params: { enc: Uint8Array; info: Uint8Array; aad: Uint8Array }, ciphertext: Uint8Array): Promise<Uint8Array> {
    const epoch = this.#epoch
    const { suite, recipientKey } = await this.#getOpener()
    if (this.#destroyed || epoch !== this.#epoch) throw new W3aError('HPKE_OPEN_FAILED', 'The keyring moved to another epoch while opening')
    try {
      const pt = await suite.open({ recipientKey, enc: params.enc, info: params.info }, ciphertext, params.aad)
      return new Uint8Array(pt)
    } catch (cause) {
      throw new W3aError('HPKE_OPEN_FAILED', 'Could not open the HPKE ciphertext (wrong key, wrong info/aad, or tampered data)', { cause })
    }
  }

  /**
   * `"W3EK" ‖ u8 version ‖ u64 epoch ‖ S_e` (45 bytes), for sealing at rest or a hand-over.
   * It is the live secret: seal it, then zero the returned bytes.
   */
  export(): Uint8Array {
    this.#alive()
    return new ByteWriter().raw(EXPORT_MAGIC).u8(EXPORT_VERSION).u64(this.#epoch).raw(this.#secret).finish()
  }

  /** Reads an `export()`; the input bytes are not kept (zero them when done). */
  static import(bytes: Uint8Array): EpochKeyring {
    const r = new ByteReader(bytes)
    const magic = r.raw(4)
    if (!magic.every((b, i) => b === EXPORT_MAGIC[i]) || r.u8() !== EXPORT_VERSION) throw malformed('not a W3A keyring export')
    const epoch = r.u64()
    const secret = r.raw(SECRET_SIZE)
    r.end()
    try {
      return new EpochKeyring(epoch, secret)
    } finally {
      secret.fill(0)
    }
  }

  /** Zeroes everything; the keyring is unusable afterwards. */
  destroy(): void {
    this.#forgetOpener()
    this.#secret.fill(0)
    this.#destroyed = true
  }

  #alive(): void {
    if (this.#destroyed) throw new W3aError('INTERNAL', 'This epoch keyring was destroyed')
  }

  #getOpener(): Promise<Opener> {
    this.#alive()
    this.#opener ??= (async () => {
      const pair = await epochKeyPair(this.#secret)
      const suite = await keeperSuite()
      const recipientKey = { privateKey: await suite.kem.deserializePrivateKey(pair.privateKey), publicKey: await suite.kem.deserializePublicKey(pair.publicKey) }
      return { pair, suite, recipientKey }
    })()
    return this.#opener
  }

  #forgetOpener(): void {
    const pending = this.#opener
    this.#opener = undefined
    // Zero the derived private key and the KEM's copy of it once they exist.
    void pending?.then(
      ({ pair, recipientKey }) => {
        pair.privateKey.fill(0)
        const inner = (recipientKey.privateKey as unknown as { key?: unknown }).key
        if (inner instanceof Uint8Array) inner.fill(0)
      },
      () => undefined,
    )
  }
}

function checkSecret(secret: Uint8Array): void {
  if (!(secret instanceof Uint8Array) || secret.length !== SECRET_SIZE) throw new W3aError('INVALID_ARGUMENT', `an epoch secret is ${SECRET_SIZE} bytes`)
}
