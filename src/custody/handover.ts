/**
 * Keeper hand-over (docs/design/custody-protocol.md, "Hand-over"): a newly attested keeper gets
 * the current epoch secret and the custody state from a current keeper, over a channel bound to
 * both enclaves' quotes. Each side verifies the other's quote itself; the hosts only carry bytes.
 *
 * Request (newcomer → keeper), signed by the newcomer's worker key (EIP-191 over the digest):
 *   digest = keccak256(abi.encode(string "w3a.custody.handover.request.v2", uint256 chainId, address inbox,
 *            address worker, bytes32 hpkePublicKey, bytes32 ephemeralPublicKey, bytes32 keccak256(quote), uint256 issuedAt))
 * `quote` binds (report data) `worker` and its identity `hpkePublicKey`. The keeper verifies the
 * signature and freshness here; the quote is checked by the caller's `checkNewcomer`.
 *
 * Response (keeper → newcomer), HPKE to the ephemeral key, info "w3a/custody/handover/v1",
 * aad = requestHash (the request digest), plaintext = bytes keyringExport ‖ bytes snapshot ‖ u64 nextIndex;
 * it carries the keeper's own quote and identity HPKE key and is signed by the keeper's worker key over
 *   keccak256(abi.encode(string "w3a.custody.handover.response.v2", uint256 chainId, address inbox,
 *            bytes32 requestHash, address from, bytes32 hpkePublicKey, bytes32 keccak256(quote),
 *            uint256 epoch, uint256 nextIndex, bytes32 stateRoot, bytes32 keccak256(enc ‖ ciphertext)))
 * The newcomer requires the answer to its own request, recovers the signer (it must be `from`),
 * has `checkKeeper` verify that the quote binds `from` (so the sender is an attested enclave,
 * never a name the host chose), checks the state decodes to the signed root, and erases its
 * ephemeral private key.
 */
import { bytesToHex, encodeAbiParameters, hexToBytes, isAddress, isAddressEqual, keccak256, recoverMessageAddress, type Address, type Hex, type LocalAccount } from 'viem'
import { z } from 'zod'
import { W3aError } from '../core/errors.js'
import { hpkeOpen, hpkeSeal, type HpkeKeyPair } from '../crypto/hpke.js'
import { ByteReader, ByteWriter, malformed } from './canonical.js'
import { EpochKeyring } from './epoch-keys.js'
import { decodeSnapshot, encodeSnapshot } from './snapshot.js'
import type { CustodyState } from './state.js'
import { stateRoot } from './state-root.js'

const INFO = new TextEncoder().encode('w3a/custody/handover/v1')
/** How old a request may be when a keeper answers it. */
export const HANDOVER_MAX_AGE_SECONDS = 300

export type HandoverRequest = { chainId: number; inbox: Address; worker: Address; hpkePublicKey: Hex; ephemeralPublicKey: Hex; quote: Hex; issuedAt: bigint; signature: Hex }
export type HandoverResponse = {
  chainId: number
  inbox: Address
  requestHash: Hex
  /** The serving keeper: the signer, and the worker its quote binds. */
  from: Address
  /** The serving keeper's identity HPKE key (bound in its quote's report data). */
  hpkePublicKey: Hex
  /** The serving keeper's quote. */
  quote: Hex
  epoch: bigint
  nextIndex: bigint
  stateRoot: Hex
  enc: Hex
  ciphertext: Hex
  signature: Hex
}

export function handoverRequestHash(req: Omit<HandoverRequest, 'signature'>): Hex {
  return keccak256(
    encodeAbiParameters(
      [{ type: 'string' }, { type: 'uint256' }, { type: 'address' }, { type: 'address' }, { type: 'bytes32' }, { type: 'bytes32' }, { type: 'bytes32' }, { type: 'uint256' }],
      ['w3a.custody.handover.request.v2', BigInt(req.chainId), req.inbox, req.worker, req.hpkePublicKey, req.ephemeralPublicKey, keccak256(req.quote), req.issuedAt],
    ),
  )
}

/** What a hand-over peer shows of itself: its worker address, identity HPKE key and the quote binding both. */
export type HandoverPeer = { worker: Address; hpkePublicKey: Uint8Array; quote: Uint8Array }

export async function createHandoverRequest(params: {
  identity: LocalAccount
  /** The newcomer's identity HPKE public key (the one its quote binds). */
  hpkePublicKey: Uint8Array
  ephemeral: HpkeKeyPair
  quote: Uint8Array
  chainId: number
  inbox: Address
  /** unix seconds; default: this machine's clock */
  now?: number
}): Promise<HandoverRequest> {
  const { identity, ephemeral, quote } = params
  const now = params.now ?? Math.floor(Date.now() / 1000)
  if (!(ephemeral?.publicKey instanceof Uint8Array) || ephemeral.publicKey.length !== 32) throw new W3aError('INVALID_ARGUMENT', 'ephemeral HPKE public key must be 32 bytes')
  if (!(params.hpkePublicKey instanceof Uint8Array) || params.hpkePublicKey.length !== 32) throw new W3aError('INVALID_ARGUMENT', 'identity HPKE public key must be 32 bytes')
  const body = {
    chainId: params.chainId,
    inbox: params.inbox,
    worker: identity.address,
    hpkePublicKey: bytesToHex(params.hpkePublicKey),
    ephemeralPublicKey: bytesToHex(ephemeral.publicKey),
    quote: bytesToHex(quote),
    issuedAt: BigInt(now),
  }
  const signature = await identity.signMessage({ message: { raw: handoverRequestHash(body) } })
  return { ...body, signature }
}

/**
 * Checks the request's signature, network (`opts.chainId`/`opts.inbox` when given) and age,
 * then asks `checkNewcomer` to verify the newcomer's quote binds `worker` and `hpkePublicKey`
 * under the keeper's own policy (and any extra gate), refusing by throwing or returning false.
 * Throws HANDOVER_REFUSED; returns the parsed request.
 */
export async function verifyHandoverRequest(
  req: HandoverRequest | unknown,
  checkNewcomer: (newcomer: HandoverPeer) => Promise<boolean | void> | boolean | void,
  opts: { chainId?: number; inbox?: Address; /** unix seconds; default: this machine's clock */ now?: number; maxAgeSeconds?: number } = {},
): Promise<HandoverRequest> {
  const refuse = (detail: string, cause?: unknown) => new W3aError('HANDOVER_REFUSED', 'Keeper hand-over request refused', { details: [detail], cause })
  let parsed: HandoverRequest
  try {
    parsed = parseHandoverRequest(req)
  } catch (cause) {
    throw refuse('request does not parse', cause)
  }
  if ((opts.chainId !== undefined && parsed.chainId !== opts.chainId) || (opts.inbox !== undefined && !isAddressEqual(parsed.inbox, opts.inbox))) throw refuse('request is for another chain or inbox')
  const age = BigInt(opts.now ?? Math.floor(Date.now() / 1000)) - parsed.issuedAt
  if (age < -30n || age > BigInt(opts.maxAgeSeconds ?? HANDOVER_MAX_AGE_SECONDS)) throw refuse('request is stale or from the future')
  const hash = handoverRequestHash(parsed)
  let recovered: Address
  try {
    recovered = await recoverMessageAddress({ message: { raw: hash }, signature: parsed.signature })
  } catch (cause) {
    throw refuse('signature does not recover', cause)
  }
  if (!isAddressEqual(recovered, parsed.worker)) throw refuse('request is not signed by the named worker')
  let ok: boolean | void
  try {
    ok = await checkNewcomer({ worker: parsed.worker, hpkePublicKey: hexToBytes(parsed.hpkePublicKey), quote: hexToBytes(parsed.quote) })
  } catch (cause) {
    throw refuse(`newcomer check failed: ${causeText(cause)}`, cause)
  }
  if (ok === false) throw refuse('newcomer is not an attested keeper with an allowed measurement')
  return parsed
}

/**
 * Seals the keyring and state to the request's ephemeral key; call only after `verifyHandoverRequest`.
 * `quote` and `hpkePublicKey` are the serving keeper's own (its quote binds `signer`'s address and that key).
 */
export async function createHandoverResponse(params: {
  keyring: EpochKeyring
  state: CustodyState
  nextIndex: bigint
  request: HandoverRequest
  signer: LocalAccount
  quote: Uint8Array
  hpkePublicKey: Uint8Array
}): Promise<HandoverResponse> {
  const { keyring, state, nextIndex, request, signer } = params
  if (!(params.hpkePublicKey instanceof Uint8Array) || params.hpkePublicKey.length !== 32) throw new W3aError('INVALID_ARGUMENT', 'identity HPKE public key must be 32 bytes')
  if (nextIndex !== state.processed) throw new W3aError('INVALID_ARGUMENT', 'nextIndex must be the number of entries the state has applied', { details: [`state: ${state.processed}`, `given: ${nextIndex}`] })
  const requestHash = handoverRequestHash(request)
  const exported = keyring.export()
  const snapshot = encodeSnapshot(state)
  const plaintext = new ByteWriter().bytes(exported).bytes(snapshot).u64(nextIndex).finish()
  exported.fill(0)
  snapshot.fill(0)
  let sealed: { enc: Uint8Array; ciphertext: Uint8Array }
  try {
    sealed = await hpkeSeal({ recipientPublicKey: hexToBytes(request.ephemeralPublicKey), info: INFO, aad: hexToBytes(requestHash) }, plaintext)
  } finally {
    plaintext.fill(0)
  }
  const body = {
    chainId: request.chainId,
    inbox: request.inbox,
    requestHash,
    from: signer.address,
    hpkePublicKey: bytesToHex(params.hpkePublicKey),
    quote: bytesToHex(params.quote),
    epoch: keyring.epoch,
    nextIndex,
    stateRoot: stateRoot(state),
    enc: bytesToHex(sealed.enc),
    ciphertext: bytesToHex(sealed.ciphertext),
  }
  return { ...body, signature: await signer.signMessage({ message: { raw: responseDigest(body) } }) }
}

/**
 * Verifies and opens the answer to `request`: it must answer that request, be signed by its
 * `from`, and `checkKeeper` must accept the quote it carries as binding `from` (the sender is
 * then an attested enclave, never a name the host picked). Always zeroes `ephemeralPrivateKey`
 * (one use only, even on failure: ask again with a new ephemeral key). Throws HANDOVER_REFUSED.
 */
export async function openHandoverResponse(params: {
  response: HandoverResponse | unknown
  ephemeralPrivateKey: Uint8Array
  request: HandoverRequest
  checkKeeper: (keeper: HandoverPeer) => Promise<boolean | void> | boolean | void
}): Promise<{ from: Address; keyring: EpochKeyring; state: CustodyState; nextIndex: bigint }> {
  const { ephemeralPrivateKey, request } = params
  const refuse = (detail: string, cause?: unknown) => new W3aError('HANDOVER_REFUSED', 'Keeper hand-over response refused', { details: [detail], cause })
  try {
    let resp: HandoverResponse
    try {
      resp = parseHandoverResponse(params.response)
    } catch (cause) {
      throw refuse('response does not parse', cause)
    }
    if (resp.requestHash !== handoverRequestHash(request) || resp.chainId !== request.chainId || !isAddressEqual(resp.inbox, request.inbox)) throw refuse('response answers another request')
    let recovered: Address
    try {
      recovered = await recoverMessageAddress({ message: { raw: responseDigest(resp) }, signature: resp.signature })
    } catch (cause) {
      throw refuse('signature does not recover', cause)
    }
    if (!isAddressEqual(recovered, resp.from)) throw refuse('response is not signed by the keeper it names')
    let ok: boolean | void
    try {
      ok = await params.checkKeeper({ worker: resp.from, hpkePublicKey: hexToBytes(resp.hpkePublicKey), quote: hexToBytes(resp.quote) })
    } catch (cause) {
      throw refuse(`serving keeper's quote refused: ${causeText(cause)}`, cause)
    }
    if (ok === false) throw refuse("serving keeper's quote refused")
    let plaintext: Uint8Array
    try {
      plaintext = await hpkeOpen({ recipientPrivateKey: ephemeralPrivateKey, enc: hexToBytes(resp.enc), info: INFO, aad: hexToBytes(resp.requestHash) }, hexToBytes(resp.ciphertext))
    } catch (cause) {
      throw refuse('response does not open with this ephemeral key', cause)
    }
    try {
      const r = new ByteReader(plaintext)
      const exported = r.bytes()
      const snapshot = r.bytes()
      const nextIndex = r.u64()
      r.end()
      const keyring = EpochKeyring.import(exported)
      exported.fill(0)
      const state = decodeSnapshot(snapshot)
      snapshot.fill(0)
      if (keyring.epoch !== resp.epoch || nextIndex !== resp.nextIndex || nextIndex !== state.processed || stateRoot(state) !== resp.stateRoot) {
        keyring.destroy()
        throw refuse('sealed contents do not match the signed epoch, index or state root')
      }
      return { from: recovered, keyring, state, nextIndex }
    } finally {
      plaintext.fill(0)
    }
  } finally {
    ephemeralPrivateKey.fill(0)
  }
}

function causeText(cause: unknown): string {
  if (cause instanceof W3aError) return `${cause.code}: ${cause.shortMessage}`
  return cause instanceof Error ? cause.message : String(cause)
}

function responseDigest(r: Omit<HandoverResponse, 'signature'>): Hex {
  const sealed = keccak256(new Uint8Array([...hexToBytes(r.enc), ...hexToBytes(r.ciphertext)]))
  return keccak256(
    encodeAbiParameters(
      [
        { type: 'string' },
        { type: 'uint256' },
        { type: 'address' },
        { type: 'bytes32' },
        { type: 'address' },
        { type: 'bytes32' },
        { type: 'bytes32' },
        { type: 'uint256' },
        { type: 'uint256' },
        { type: 'bytes32' },
        { type: 'bytes32' },
      ],
      ['w3a.custody.handover.response.v2', BigInt(r.chainId), r.inbox, r.requestHash, r.from, r.hpkePublicKey, keccak256(r.quote), r.epoch, r.nextIndex, r.stateRoot, sealed],
    ),
  )
}

// ---- JSON forms (bigints as decimal strings) ----

const hex = z.string().regex(/^0x([0-9a-fA-F]{2})*$/)
const hex32 = z.string().regex(/^0x[0-9a-fA-F]{64}$/)
const sig = z.string().regex(/^0x[0-9a-fA-F]{130}$/)
const addr = z.string().refine((s) => isAddress(s, { strict: false }))
const big = z.union([z.bigint(), z.string().regex(/^(0|[1-9][0-9]{0,19})$/).transform((s) => BigInt(s))]).refine((n) => n >= 0n && n < 1n << 64n)
const requestSchema = z.strictObject({ chainId: z.number().int().positive(), inbox: addr, worker: addr, hpkePublicKey: hex32, ephemeralPublicKey: hex32, quote: hex, issuedAt: big, signature: sig })
const responseSchema = z.strictObject({
  chainId: z.number().int().positive(),
  inbox: addr,
  requestHash: hex32,
  from: addr,
  hpkePublicKey: hex32,
  quote: hex,
  epoch: big,
  nextIndex: big,
  stateRoot: hex32,
  enc: hex32,
  ciphertext: hex,
  signature: sig,
})

export function parseHandoverRequest(json: unknown): HandoverRequest {
  const r = requestSchema.safeParse(json)
  if (!r.success) throw malformed(`hand-over request: ${r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`)
  return r.data as HandoverRequest
}

export function parseHandoverResponse(json: unknown): HandoverResponse {
  const r = responseSchema.safeParse(json)
  if (!r.success) throw malformed(`hand-over response: ${r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`)
  return { ...(r.data as HandoverResponse), requestHash: r.data.requestHash.toLowerCase() as Hex }
}

/** Either message as plain JSON (bigints as decimal strings). */
export function handoverToJson(msg: HandoverRequest | HandoverResponse): Record<string, unknown> {
  return Object.fromEntries(Object.entries(msg).map(([k, v]) => [k, typeof v === 'bigint' ? v.toString() : v]))
}
