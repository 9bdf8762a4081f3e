/**
 * Who may put blocks on a storage node: an account signs each upload (EIP-191 over the
 * upload's digest), so the node can charge the bytes to that account's quota and refuse
 * anonymous floods. The digest binds the CAR's root, its exact byte length, the chain
 * (a signature for one network is not one for another) and an expiry; a node also refuses
 * a digest it already accepted, so a captured signature cannot burn its signer's quota.
 *
 * Who may take blocks off (unpin): the same kind of signature over
 * keccak256(abi.encodePacked('w3a-unpin-v1', datasetId, keccak256(roots joined by '\n'), chainId, expires));
 * the node checks that the signer is the dataset's owner or writer on chain (the gateway's
 * `/api/v1/datasets/{id}/unpin`). A replayed unpin drops nothing more: it is idempotent.
 *
 * An uploader takes back what it uploaded itself (a pool contributor's deleted contribution,
 * which is in no registry): keccak256(abi.encodePacked('w3a-unpin-own-v1', keccak256(roots
 * joined by '\n'), chainId, expires, nonce)) at `/api/v1/blocks/unpin`, the nonce a fresh random
 * 32 bytes; the node checks its own record of who uploaded each root (node/root-uploaders.ts)
 * and accepts each signature once (the nonce makes two honest requests two signatures).
 *
 * Portable (viem only): the browser entry uploads sealed analyses too.
 */
import { bytesToHex, encodePacked, keccak256, recoverMessageAddress, type Address, type Hex, type LocalAccount } from 'viem'
import { W3aError } from '../core/errors.js'

/** The HTTP headers that carry an upload's authorization. */
export const UPLOAD_HEADERS = {
  root: 'x-w3a-upload-root',
  bytes: 'x-w3a-upload-bytes',
  expires: 'x-w3a-upload-expires',
  signature: 'x-w3a-upload-signature',
} as const

/** How long a signed upload stays valid, and the furthest in the future a node accepts. */
export const UPLOAD_TTL_SECONDS = 600
export const MAX_UPLOAD_TTL_SECONDS = 3600

export type UploadStatement = { root: string; bytes: number; chainId: number; expires: number }

export function uploadDigest(s: UploadStatement): Hex {
  return keccak256(encodePacked(['string', 'string', 'uint256', 'uint256', 'uint256'], ['w3a-upload-v1', s.root, BigInt(s.bytes), BigInt(s.chainId), BigInt(s.expires)]))
}

/** The headers of a signed upload of `bytes` bytes of CAR rooted at `root`. */
export async function signUpload(params: { account: LocalAccount; root: string; bytes: number; chainId: number; now?: number }): Promise<Record<string, string>> {
  const expires = Math.floor((params.now ?? Date.now()) / 1000) + UPLOAD_TTL_SECONDS
  const digest = uploadDigest({ root: params.root, bytes: params.bytes, chainId: params.chainId, expires })
  const signature = await params.account.signMessage({ message: { raw: digest } })
  return {
    [UPLOAD_HEADERS.root]: params.root,
    [UPLOAD_HEADERS.bytes]: String(params.bytes),
    [UPLOAD_HEADERS.expires]: String(expires),
    [UPLOAD_HEADERS.signature]: signature,
  }
}

export type VerifiedUpload = UploadStatement & { uploader: Address; digest: Hex }

/** The HTTP headers that carry an unpin's authorization (the roots are the JSON body's). */
export const UNPIN_HEADERS = { expires: 'x-w3a-unpin-expires', signature: 'x-w3a-unpin-signature' } as const
/** The uploader's unpin also carries a nonce (0x + 64 hex digits). */
export const UNPIN_NONCE_HEADER = 'x-w3a-unpin-nonce'

export type UnpinStatement = { datasetId: Hex; roots: readonly string[]; chainId: number; expires: number }

/** keccak256 of the roots joined by '\n': what both kinds of unpin sign for their body. */
function rootsHash(roots: readonly string[]): Hex {
  return keccak256(new TextEncoder().encode(roots.join('\n')))
}

export function unpinDigest(s: UnpinStatement): Hex {
  return keccak256(encodePacked(['string', 'bytes32', 'bytes32', 'uint256', 'uint256'], ['w3a-unpin-v1', s.datasetId, rootsHash(s.roots), BigInt(s.chainId), BigInt(s.expires)]))
}

export type UnpinOwnStatement = { roots: readonly string[]; chainId: number; expires: number; nonce: Hex }

/** The digest of an uploader's request to unpin roots it uploaded itself (no dataset: the node's upload record decides). */
export function unpinOwnDigest(s: UnpinOwnStatement): Hex {
  return keccak256(encodePacked(['string', 'bytes32', 'uint256', 'uint256', 'bytes32'], ['w3a-unpin-own-v1', rootsHash(s.roots), BigInt(s.chainId), BigInt(s.expires), s.nonce]))
}

/** The headers of a signed request to unpin `roots` that `account` uploaded (its deleted pool contribution). */
export async function signUnpinOwn(params: { account: LocalAccount; roots: readonly string[]; chainId: number; now?: number }): Promise<Record<string, string>> {
  const nonce = bytesToHex(crypto.getRandomValues(new Uint8Array(32)))
  const headers = await signedUnpinHeaders(params.account, params.now, (expires) => unpinOwnDigest({ roots: params.roots, chainId: params.chainId, expires, nonce }))
  return { ...headers, [UNPIN_NONCE_HEADER]: nonce }
}

/** Checks an uploader's unpin headers against its roots: not expired, signed. Returns the signer, and the digest (accepted once). */
export async function verifyUnpinOwnHeaders(headers: Headers, params: { roots: readonly string[]; chainId: number; now?: number }): Promise<{ signer: Address; digest: Hex; expires: number }> {
  const { expiresText, signature } = unpinHeaderValues(headers, 'the signature of the account that uploaded the roots')
  const nonce = headers.get(UNPIN_NONCE_HEADER) ?? ''
  if (!/^0x[0-9a-fA-F]{64}$/.test(nonce)) throw unauthorized(`an unpin of your own uploads carries a nonce (header ${UNPIN_NONCE_HEADER}: 0x + 64 hex digits)`)
  const expires = checkExpiry(expiresText, signature, params.now)
  const digest = unpinOwnDigest({ roots: params.roots, chainId: params.chainId, expires, nonce: nonce as Hex })
  return { signer: await recoverSigner(digest, signature, 'unpin'), digest, expires }
}

function unpinHeaderValues(headers: Headers, whose: string): { expiresText: string; signature: string } {
  const expiresText = headers.get(UNPIN_HEADERS.expires) ?? ''
  const signature = headers.get(UNPIN_HEADERS.signature) ?? ''
  if (!expiresText || !signature) throw unauthorized(`an unpin needs ${whose} (headers ${Object.values(UNPIN_HEADERS).join(', ')})`)
  return { expiresText, signature }
}

/** The headers of a signed request to unpin `roots` (old versions of dataset `datasetId`). */
export async function signUnpin(params: { account: LocalAccount; datasetId: Hex; roots: readonly string[]; chainId: number; now?: number }): Promise<Record<string, string>> {
  return signedUnpinHeaders(params.account, params.now, (expires) => unpinDigest({ datasetId: params.datasetId, roots: params.roots, chainId: params.chainId, expires }))
}

async function signedUnpinHeaders(account: LocalAccount, now: number | undefined, digest: (expires: number) => Hex): Promise<Record<string, string>> {
  const expires = Math.floor((now ?? Date.now()) / 1000) + UPLOAD_TTL_SECONDS
  const signature = await account.signMessage({ message: { raw: digest(expires) } })
  return { [UNPIN_HEADERS.expires]: String(expires), [UNPIN_HEADERS.signature]: signature }
}

/** Checks an unpin's headers against the roots and dataset it is for: not expired, signed. Returns the signer. */
export async function verifyUnpinHeaders(headers: Headers, params: { datasetId: Hex; roots: readonly string[]; chainId: number; now?: number }): Promise<Address> {
  const { expiresText, signature } = unpinHeaderValues(headers, "the dataset owner's or writer's signature")
  const expires = checkExpiry(expiresText, signature, params.now)
  return recoverSigner(unpinDigest({ datasetId: params.datasetId, roots: params.roots, chainId: params.chainId, expires }), signature, 'unpin')
}

/** The expiry of a signed request: well formed, not past, not too far ahead. */
function checkExpiry(expiresText: string, signature: string, nowMs?: number): number {
  if (!/^[1-9][0-9]{0,15}$/.test(expiresText)) throw unauthorized('the signed request headers are malformed')
  if (!/^0x[0-9a-fA-F]{130}$/.test(signature)) throw unauthorized('the signature is not a 65-byte hex signature')
  const expires = Number(expiresText)
  const now = Math.floor((nowMs ?? Date.now()) / 1000)
  if (expires <= now) throw unauthorized(`the signature expired at ${expires} (now ${now}); sign it again`)
  if (expires > now + MAX_UPLOAD_TTL_SECONDS) throw unauthorized(`the signature is valid until ${expires}, more than ${MAX_UPLOAD_TTL_SECONDS} s ahead`)
  return expires
}

async function recoverSigner(digest: Hex, signature: string, what: string): Promise<Address> {
  try {
    return await recoverMessageAddress({ message: { raw: digest }, signature: signature as Hex })
  } catch {
    throw unauthorized(`the ${what} signature does not recover to an account`)
  }
}

function unauthorized(message: string): W3aError {
  return new W3aError('UPLOAD_UNAUTHORIZED', message, {
    details: ['Block uploads are signed by an account (the SDK and `w3a` do it with the account you pass: --account N or W3A_PRIVATE_KEY). Update an older client.'],
  })
}

/** Reads and checks an upload's headers: well formed, not expired, signed. Returns the signer. */
export async function verifyUploadHeaders(headers: Headers, params: { chainId: number; now?: number }): Promise<VerifiedUpload> {
  const get = (h: string) => headers.get(h) ?? ''
  const root = get(UPLOAD_HEADERS.root)
  const bytesText = get(UPLOAD_HEADERS.bytes)
  const expiresText = get(UPLOAD_HEADERS.expires)
  const signature = get(UPLOAD_HEADERS.signature)
  if (!root || !bytesText || !expiresText || !signature) {
    throw unauthorized(`an upload needs an account's signature (headers ${Object.values(UPLOAD_HEADERS).join(', ')})`)
  }
  if (!/^[1-9][0-9]{0,15}$/.test(bytesText)) throw unauthorized('the upload headers are malformed')
  const bytes = Number(bytesText)
  const expires = checkExpiry(expiresText, signature, params.now)
  const statement = { root, bytes, chainId: params.chainId, expires }
  const digest = uploadDigest(statement)
  return { ...statement, uploader: await recoverSigner(digest, signature, 'upload'), digest }
}
