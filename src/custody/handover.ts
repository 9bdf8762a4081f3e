/**
 * Keeper hand-over (docs/design/custody-protocol.md, "Hand-over"): a newly attested keeper gets
 * the current epoch secret and the custody state from a current keeper.
 *
 * Request (newcomer → keeper), signed by the newcomer's worker key (EIP-191 over the digest):
 *   digest = keccak256(abi.encode(string "w3a.custody.handover.request.v1", uint256 chainId, address inbox,
 *            address worker, bytes32 ephemeralPublicKey, bytes32 keccak256(quote), uint256 issuedAt))
 * The keeper verifies the signature and freshness here; the quote, measurement allow-list,
 * report data and on-chain keeper role are checked by the caller's `checkNewcomer` (src/tee + chain).
 *
 * Response (keeper → newcomer), HPKE to the ephemeral key, info "w3a/custody/handover/v1",
 * aad = requestHash (the request digest), plaintext = bytes keyringExport ‖ bytes snapshot ‖ u64 nextIndex;
 * signed by the keeper's worker key over
 *   keccak256(abi.encode(string "w3a.custody.handover.response.v1", uint256 chainId, address inbox,
 *            bytes32 requestHash, uint256 epoch, uint256 nextIndex, bytes32 stateRoot, bytes32 keccak256(enc ‖ ciphertext)))
 * The newcomer checks the signer, that the state decodes to the signed root, and erases its
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

export type HandoverRequest = { chainId: number; inbox: Address; worker: Address; ephemeralPublicKey: Hex; quote: Hex; issuedAt: bigint; signature: Hex }
export type HandoverResponse = {
  chainId: number
  inbox: Address
  requestHash: Hex
  from: Address
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
      [{ type: 'string' }, { type: 'uint256' }, { type: 'address' }, { type: 'address' }, { type: 'bytes32' }, { type: 'bytes32' }, { type: 'uint256' }],
      ['w3a.custody.handover.request.v1', BigInt(req.chainId), req.inbox, req.worker, req.ephemeralPublicKey, keccak256(req.quote), req.issuedAt],
    ),
  )
}

export async function createHandoverRequest(params: {
  identity: LocalAccount
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
  const body = { chainId: params.chainId, inbox: params.inbox, worker: identity.address, ephemeralPublicKey: bytesToHex(ephemeral.publicKey), quote: bytesToHex(quote), issuedAt: BigInt(now) }
  const signature = await identity.signMessage({ message: { raw: handoverRequestHash(body) } })
  return { ...body, signature }
}

/**
 * Checks the request's signature, network (`opts.chainId`/`opts.inbox` when given) and age,
 * then asks `checkNewcomer` (quote, measurement, report data, on-chain keeper role), which
 * refuses by throwing or returning false. Throws HANDOVER_REFUSED; returns the parsed request.
 */
export async function verifyHandoverRequest(
  req: HandoverRequest | unknown,
  checkNewcomer: (worker: Address, quote: Uint8Array, hpkeEphemeralPub: Uint8Array) => Promise<boolean | void> | boolean | void,
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
    ok = await checkNewcomer(parsed.worker, hexToBytes(parsed.quote), hexToBytes(parsed.ephemeralPublicKey))
  } catch (cause) {
    throw refuse('newcomer check failed', cause)
  }
  if (ok === false) throw refuse('newcomer is not an attested keeper with an allowed measurement')
  return parsed
}

/** Seals the keyring and state to the request's ephemeral key; call only after `verifyHandoverRequest`. */
export async function createHandoverResponse(params: { keyring: EpochKeyring; state: CustodyState; nextIndex: bigint; request: HandoverRequest; signer: LocalAccount }): Promise<HandoverResponse> {
  const { keyring, state, nextIndex, request, signer } = params
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
    epoch: keyring.epoch,
    nextIndex,
    stateRoot: stateRoot(state),
    enc: bytesToHex(sealed.enc),
    ciphertext: bytesToHex(sealed.ciphertext),
  }
  return { ...body, signature: await signer.signMessage({ message: { raw: responseDigest(body) } }) }
}

/**
 * Verifies and opens a hand-over response (for `request`, when given: the ephemeral key is
 * fresh per request, so the HPKE open binds it anyway). Always zeroes `ephemeralPrivateKey`
 * (one use only, even on failure: ask again with a new ephemeral key). Throws HANDOVER_REFUSED.
 */
export async function openHandoverResponse(
  response: HandoverResponse | unknown,
  ephemeralPrivateKey: Uint8Array,
  expectedSender: Address,
  request?: HandoverRequest,
): Promise<{ keyring: EpochKeyring; state: CustodyState; nextIndex: bigint }> {
  const refuse = (detail: string, cause?: unknown) => new W3aError('HANDOVER_REFUSED', 'Keeper hand-over response refused', { details: [detail], cause })
  try {
    let resp: HandoverResponse
    try {
      resp = parseHandoverResponse(response)
    } catch (cause) {
      throw refuse('response does not parse', cause)
    }
    if (!isAddressEqual(resp.from, expectedSender)) throw refuse('response is not from the expected keeper')
    if (request && (resp.requestHash !== handoverRequestHash(request) || resp.chainId !== request.chainId || !isAddressEqual(resp.inbox, request.inbox))) throw refuse('response answers another request')
    let recovered: Address
    try {
      recovered = await recoverMessageAddress({ message: { raw: responseDigest(resp) }, signature: resp.signature })
    } catch (cause) {
      throw refuse('signature does not recover', cause)
    }
    if (!isAddressEqual(recovered, expectedSender)) throw refuse('response is not signed by the expected keeper')
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
      return { keyring, state, nextIndex }
    } finally {
      plaintext.fill(0)
    }
  } finally {
    ephemeralPrivateKey.fill(0)
  }
}

function responseDigest(r: Omit<HandoverResponse, 'signature'>): Hex {
  const sealed = keccak256(new Uint8Array([...hexToBytes(r.enc), ...hexToBytes(r.ciphertext)]))
  return keccak256(
    encodeAbiParameters(
      [{ type: 'string' }, { type: 'uint256' }, { type: 'address' }, { type: 'bytes32' }, { type: 'uint256' }, { type: 'uint256' }, { type: 'bytes32' }, { type: 'bytes32' }],
      ['w3a.custody.handover.response.v1', BigInt(r.chainId), r.inbox, r.requestHash, r.epoch, r.nextIndex, r.stateRoot, sealed],
    ),
  )
}

// ---- JSON forms (bigints as decimal strings) ----

const hex = z.string().regex(/^0x([0-9a-fA-F]{2})*$/)
const hex32 = z.string().regex(/^0x[0-9a-fA-F]{64}$/)
const sig = z.string().regex(/^0x[0-9a-fA-F]{130}$/)
const addr = z.string().refine((s) => isAddress(s, { strict: false }))
const big = z.union([z.bigint(), z.string().regex(/^(0|[1-9][0-9]{0,19})$/).transform((s) => BigInt(s))]).refine((n) => n >= 0n && n < 1n << 64n)
const requestSchema = z.strictObject({ chainId: z.number().int().positive(), inbox: addr, worker: addr, ephemeralPublicKey: hex32, quote: hex, issuedAt: big, signature: sig })
const responseSchema = z.strictObject({
  chainId: z.number().int().positive(),
  inbox: addr,
  requestHash: hex32,
  from: addr,
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
