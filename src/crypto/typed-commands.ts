/**
 * Owner commands for the custody contract, as EIP-712 typed data: the owner's EVM account
 * signs them (a browser wallet can, via `commandTypedData`), keepers verify them.
 *
 * This module checks signature, domain and expiry only. Replay protection is the custody
 * state's job: it must accept each (signer, nonce) at most once, in inbox order. A signed
 * command stays valid for anyone to submit until `expiry`, so keep expiries short.
 *
 * What the fields mean (the custody contract's rules, src/custody/apply.ts):
 * - RegisterDataset: `datasetId` must equal `datasetIdFor(signer, salt)` =
 *   keccak256(abi.encode(address owner, bytes32 salt)), as the dataset registry derives it, so
 *   nobody can front-run an owner's id and only the real owner can register the DEK.
 *   `sealedKeyHash` = `dekHash(dek)` = keccak256(dek): the DEK travels next to the signed
 *   command inside the sealed envelope and must hash to it.
 * - Grant: replaces any earlier grant to the same grantee. `expiresAt` is unix seconds,
 *   0 = never expires; `uses` is the number of analyses allowed, 0 = unlimited.
 * - Revoke: removes the grantee's grant (revoking a grantee without a grant is a no-op).
 * - Delete: drops the DEK (crypto-shredding); the dataset id can never be registered again.
 * - SetPolicy: the policy itself travels inside the sealed envelope and must hash to
 *   `policyHash` (`policyHash()` of src/custody/policy.ts); it replaces the whole policy.
 * - SetWriter (owner): `writer` may append to the dataset from now on (UpdateManifest); the zero
 *   address removes it. A web-analytics site names its attested ingest worker's key here.
 * - UpdateManifest (owner, or the writer the owner set): the dataset's manifest is now
 *   `manifestCid` (an appended version; the key stays the same).
 * - RotateKey (owner, or the writer): the dataset's key is now the DEK that travels with the
 *   command (it must hash to `keyHash`, as RegisterDataset's) and its manifest `manifestCid`,
 *   whose segments are sealed under that key. The previous DEK is zeroed in custody state, so
 *   no key release opens the old segments again (a site's visitor deletion rewrites them).
 * - RegisterPool (a curator): `datasetId` = datasetIdFor(signer, salt) becomes a pool with this
 *   public `purpose`; it holds no key of its own, only its contributors' (docs/pools.md).
 * - Contribute (a contributor): registers the contribution `datasetId` = datasetIdFor(signer,
 *   salt) in `pool`, with the contributor's own DEK (as RegisterDataset: `sealedKeyHash`) and
 *   consent: the purposes it `allow`s ("*" = any) and `deny`s.
 * - SetConsent (the contributor): replaces a contribution's consent; `withdrawn` true keeps it
 *   out of every job charged from now on.
 *
 * `ReadCustody` is not a command: an owner signs it to read the confidential custody state
 * of a dataset straight from a keeper (src/custody/owner-query.ts). Same domain as commands.
 */
import { keccak_256 } from '@noble/hashes/sha3.js'
import { bytesToHex, hashTypedData, hexToBytes, isAddress, isAddressEqual, isHex, parseSignature, recoverAddress, validateTypedData, type Address, type Hex, type LocalAccount } from 'viem'
import { W3aError } from '../core/errors.js'

export type CommandDomain = { chainId: number; verifyingContract: `0x${string}` }

export const COMMAND_DOMAIN_NAME = 'W3A Custody'
export const COMMAND_DOMAIN_VERSION = '1'

/** EIP-712 struct definitions, one per command; field order is part of the signed type. */
export const OWNER_COMMAND_TYPES = {
  RegisterDataset: [
    { name: 'datasetId', type: 'bytes32' },
    { name: 'salt', type: 'bytes32' },
    { name: 'manifestCid', type: 'string' },
    { name: 'sealedKeyHash', type: 'bytes32' },
    { name: 'nonce', type: 'uint256' },
    { name: 'expiry', type: 'uint64' },
  ],
  Grant: [
    { name: 'datasetId', type: 'bytes32' },
    { name: 'grantee', type: 'address' },
    { name: 'expiresAt', type: 'uint64' },
    { name: 'uses', type: 'uint32' },
    { name: 'nonce', type: 'uint256' },
    { name: 'expiry', type: 'uint64' },
  ],
  Revoke: [
    { name: 'datasetId', type: 'bytes32' },
    { name: 'grantee', type: 'address' },
    { name: 'nonce', type: 'uint256' },
    { name: 'expiry', type: 'uint64' },
  ],
  Delete: [
    { name: 'datasetId', type: 'bytes32' },
    { name: 'nonce', type: 'uint256' },
    { name: 'expiry', type: 'uint64' },
  ],
  SetPolicy: [
    { name: 'datasetId', type: 'bytes32' },
    { name: 'policyHash', type: 'bytes32' },
    { name: 'nonce', type: 'uint256' },
    { name: 'expiry', type: 'uint64' },
  ],
  SetWriter: [
    { name: 'datasetId', type: 'bytes32' },
    { name: 'writer', type: 'address' },
    { name: 'nonce', type: 'uint256' },
    { name: 'expiry', type: 'uint64' },
  ],
  UpdateManifest: [
    { name: 'datasetId', type: 'bytes32' },
    { name: 'manifestCid', type: 'string' },
    { name: 'nonce', type: 'uint256' },
    { name: 'expiry', type: 'uint64' },
  ],
  RotateKey: [
    { name: 'datasetId', type: 'bytes32' },
    { name: 'manifestCid', type: 'string' },
    { name: 'keyHash', type: 'bytes32' },
    { name: 'nonce', type: 'uint256' },
    { name: 'expiry', type: 'uint64' },
  ],
  RegisterPool: [
    { name: 'datasetId', type: 'bytes32' },
    { name: 'salt', type: 'bytes32' },
    { name: 'manifestCid', type: 'string' },
    { name: 'purpose', type: 'string' },
    { name: 'nonce', type: 'uint256' },
    { name: 'expiry', type: 'uint64' },
  ],
  Contribute: [
    { name: 'datasetId', type: 'bytes32' },
    { name: 'salt', type: 'bytes32' },
    { name: 'pool', type: 'bytes32' },
    { name: 'manifestCid', type: 'string' },
    { name: 'sealedKeyHash', type: 'bytes32' },
    { name: 'allow', type: 'string[]' },
    { name: 'deny', type: 'string[]' },
    { name: 'nonce', type: 'uint256' },
    { name: 'expiry', type: 'uint64' },
  ],
  SetConsent: [
    { name: 'datasetId', type: 'bytes32' },
    { name: 'allow', type: 'string[]' },
    { name: 'deny', type: 'string[]' },
    { name: 'withdrawn', type: 'bool' },
    { name: 'nonce', type: 'uint256' },
    { name: 'expiry', type: 'uint64' },
  ],
} as const

export type OwnerCommandType = keyof typeof OWNER_COMMAND_TYPES

/** Fields every command carries: `nonce` is for replay tracking, `expiry` is unix seconds. */
type Common = { datasetId: Hex; nonce: bigint; expiry: bigint }

/** `datasetId` = datasetIdFor(signer, salt); `sealedKeyHash` = dekHash(dek). */
export type RegisterDatasetMessage = Common & { salt: Hex; manifestCid: string; sealedKeyHash: Hex }
/** `expiresAt` (unix seconds, 0 = never) and `uses` (0 = unlimited) are the grant's limits. */
export type GrantMessage = Common & { grantee: Address; expiresAt: bigint; uses: number }
export type RevokeMessage = Common & { grantee: Address }
export type DeleteMessage = Common
export type SetPolicyMessage = Common & { policyHash: Hex }
export type SetWriterMessage = Common & { writer: Address }
export type UpdateManifestMessage = Common & { manifestCid: string }
/** `keyHash` = dekHash(new DEK); `manifestCid` = the manifest of the segments sealed under it. */
export type RotateKeyMessage = Common & { manifestCid: string; keyHash: Hex }
export type RegisterPoolMessage = Common & { salt: Hex; manifestCid: string; purpose: string }
/** `allow` / `deny`: purposes (docs/pools.md: compared trimmed, lowercased, spaces collapsed); "*" in allow = any. */
export type ContributeMessage = Common & { salt: Hex; pool: Hex; manifestCid: string; sealedKeyHash: Hex; allow: string[]; deny: string[] }
export type SetConsentMessage = Common & { allow: string[]; deny: string[]; withdrawn: boolean }

export type OwnerCommand =
  | { type: 'RegisterDataset'; message: RegisterDatasetMessage }
  | { type: 'Grant'; message: GrantMessage }
  | { type: 'Revoke'; message: RevokeMessage }
  | { type: 'Delete'; message: DeleteMessage }
  | { type: 'SetPolicy'; message: SetPolicyMessage }
  | { type: 'SetWriter'; message: SetWriterMessage }
  | { type: 'UpdateManifest'; message: UpdateManifestMessage }
  | { type: 'RotateKey'; message: RotateKeyMessage }
  | { type: 'RegisterPool'; message: RegisterPoolMessage }
  | { type: 'Contribute'; message: ContributeMessage }
  | { type: 'SetConsent'; message: SetConsentMessage }

export type SignedOwnerCommand = { command: OwnerCommand; domain: CommandDomain; signer: Address; signature: Hex }

/** The exact EIP-712 payload (eth_signTypedData_v4 shape, as viem takes it). */
export type OwnerCommandTypedData = {
  domain: { name: typeof COMMAND_DOMAIN_NAME; version: typeof COMMAND_DOMAIN_VERSION; chainId: number; verifyingContract: Address }
  types: { [K in OwnerCommandType]?: (typeof OWNER_COMMAND_TYPES)[K] }
  primaryType: OwnerCommandType
  message: OwnerCommand['message']
}

export function commandTypedData(domain: CommandDomain, command: OwnerCommand): OwnerCommandTypedData {
  checkCommand(command)
  checkDomain(domain)
  const typedData: OwnerCommandTypedData = {
    domain: { name: COMMAND_DOMAIN_NAME, version: COMMAND_DOMAIN_VERSION, chainId: domain.chainId, verifyingContract: domain.verifyingContract },
    types: { [command.type]: OWNER_COMMAND_TYPES[command.type] },
    primaryType: command.type,
    message: command.message,
  }
  try {
    validateTypedData(typedData as Parameters<typeof validateTypedData>[0]) // sizes of bytes32/address, ranges of uint32/uint64
  } catch (cause) {
    throw new W3aError('INVALID_ARGUMENT', `${command.type}: a field does not fit its EIP-712 type`, { details: [String((cause as Error).message).split('\n')[0]!], cause })
  }
  return typedData
}

export async function signOwnerCommand(params: { account: LocalAccount; domain: CommandDomain; command: OwnerCommand }): Promise<SignedOwnerCommand> {
  const { account, domain, command } = params
  if (typeof account.signTypedData !== 'function') throw new W3aError('INVALID_ARGUMENT', 'account cannot sign typed data')
  const signature = await account.signTypedData(commandTypedData(domain, command) as Parameters<LocalAccount['signTypedData']>[0])
  return { command, domain: { chainId: domain.chainId, verifyingContract: domain.verifyingContract }, signer: account.address, signature }
}

/**
 * Checks that `signed` was signed by `signed.signer` for this chain and custody contract
 * and has not expired at `now` (unix seconds). Returns the signer. Does not track nonces.
 */
export async function verifyOwnerCommand(params: { signed: SignedOwnerCommand; domain: CommandDomain; now: number }): Promise<`0x${string}`> {
  const { signed, domain, now } = params
  checkDomain(domain)
  if (!Number.isSafeInteger(now) || now < 0) throw new W3aError('INVALID_ARGUMENT', 'now must be unix seconds')
  if (typeof signed?.signer !== 'string' || !isAddress(signed.signer, { strict: false })) throw invalidSignature('signer is not an address')
  if (signed.domain?.chainId !== domain.chainId || typeof signed.domain.verifyingContract !== 'string' || !isAddress(signed.domain.verifyingContract, { strict: false }) || !isAddressEqual(signed.domain.verifyingContract, domain.verifyingContract)) {
    throw invalidSignature('signed for another chain or custody contract', [
      `signed for: chain ${signed.domain?.chainId}, contract ${signed.domain?.verifyingContract}`,
      `expected: chain ${domain.chainId}, contract ${domain.verifyingContract}`,
    ])
  }
  // The hash uses the verifier's own domain, so nothing in the submitted object can widen it.
  const digest = hashTypedData(commandTypedData(domain, signed.command) as Parameters<typeof hashTypedData>[0])
  let recovered: Address
  try {
    recovered = await recoverAddress({ hash: digest, signature: checkSignature(signed.signature) })
  } catch (cause) {
    if (cause instanceof W3aError) throw cause
    throw invalidSignature('signature does not recover to an address', [], cause)
  }
  if (!isAddressEqual(recovered, signed.signer)) throw invalidSignature('signature is not from the stated signer', [`stated: ${signed.signer}`, `recovered: ${recovered}`])
  if (signed.command.message.expiry <= BigInt(now)) {
    throw new W3aError('COMMAND_EXPIRED', 'Owner command has expired', { details: [`expiry: ${signed.command.message.expiry}`, `now: ${now}`] })
  }
  return recovered
}

const SECP256K1_HALF_N = 0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0n

/** 65-byte r||s||v with low s, as Ethereum signers produce; the high-s twin of a signature is refused. */
function checkSignature(signature: unknown): Hex {
  if (typeof signature !== 'string' || !isHex(signature) || signature.length !== 2 + 65 * 2) throw invalidSignature('signature must be 65 bytes of hex')
  let s: Hex
  try {
    s = parseSignature(signature).s // also refuses a recovery byte other than 0, 1, 27, 28
  } catch (cause) {
    throw invalidSignature('signature has a bad recovery byte', [], cause)
  }
  if (BigInt(s) > SECP256K1_HALF_N) throw invalidSignature('signature has a high s value')
  return signature
}

function checkDomain(domain: CommandDomain): void {
  if (!Number.isSafeInteger(domain?.chainId) || domain.chainId <= 0) throw new W3aError('INVALID_ARGUMENT', 'chainId must be a positive integer')
  if (typeof domain.verifyingContract !== 'string' || !isAddress(domain.verifyingContract, { strict: false })) throw new W3aError('INVALID_ARGUMENT', 'verifyingContract must be an address')
}

/** Exactly the fields of the command's struct: an extra field would travel unsigned. */
function checkCommand(command: OwnerCommand): void {
  const fields = OWNER_COMMAND_TYPES[command?.type as OwnerCommandType]
  if (fields === undefined) throw new W3aError('INVALID_ARGUMENT', `unknown owner command type: ${String(command?.type)}`)
  const msg = command.message as Record<string, unknown> | undefined
  if (typeof msg !== 'object' || msg === null) throw new W3aError('INVALID_ARGUMENT', `${command.type}: message missing`)
  const want = fields.map((f) => f.name as string)
  const extra = Object.keys(msg).filter((k) => !want.includes(k))
  const missing = want.filter((k) => msg[k] === undefined)
  if (extra.length > 0 || missing.length > 0) {
    throw new W3aError('INVALID_ARGUMENT', `${command.type}: message fields do not match the signed type`, {
      details: [...(extra.length ? [`unexpected: ${extra.join(', ')}`] : []), ...(missing.length ? [`missing: ${missing.join(', ')}`] : [])],
    })
  }
  if (typeof msg.expiry !== 'bigint' || typeof msg.nonce !== 'bigint') throw new W3aError('INVALID_ARGUMENT', `${command.type}: nonce and expiry must be bigint`)
}

function invalidSignature(detail: string, more: string[] = [], cause?: unknown): W3aError {
  return new W3aError('SIGNATURE_INVALID', 'Owner command signature is not valid', { details: [detail, ...more], cause })
}

/** The dataset id the registry and the custody contract derive: keccak256(abi.encode(address owner, bytes32 salt)). */
export function datasetIdFor(owner: Address, salt: Hex): Hex {
  if (typeof owner !== 'string' || !isAddress(owner, { strict: false })) throw new W3aError('INVALID_ARGUMENT', 'owner must be an address')
  if (typeof salt !== 'string' || !BYTES32_RE.test(salt)) throw new W3aError('INVALID_ARGUMENT', 'salt must be 0x-prefixed bytes32 hex')
  const buf = new Uint8Array(64) // abi.encode pads the address to 32 bytes on the left
  buf.set(hexToBytes(owner), 12)
  buf.set(hexToBytes(salt), 32)
  return bytesToHex(keccak_256(buf))
}

/** `sealedKeyHash` of RegisterDataset: keccak256 of the raw 32-byte DEK. */
export function dekHash(dek: Uint8Array): Hex {
  if (!(dek instanceof Uint8Array) || dek.length !== 32) throw new W3aError('INVALID_ARGUMENT', 'dataset key must be 32 bytes')
  return bytesToHex(keccak_256(dek))
}

const BYTES32_RE = /^0x[0-9a-fA-F]{64}$/

/** The owner query's struct: `responseKey` is the X25519 public key the answer is sealed to. */
export const CUSTODY_QUERY_TYPES = {
  ReadCustody: [
    { name: 'datasetId', type: 'bytes32' },
    { name: 'requester', type: 'address' },
    { name: 'responseKey', type: 'bytes32' },
    { name: 'nonce', type: 'uint256' },
    { name: 'expiry', type: 'uint64' },
  ],
} as const

export type ReadCustodyMessage = { datasetId: Hex; requester: Address; responseKey: Hex; nonce: bigint; expiry: bigint }
export type SignedCustodyQuery = { query: ReadCustodyMessage; domain: CommandDomain; signature: Hex }

export function custodyQueryTypedData(domain: CommandDomain, query: ReadCustodyMessage) {
  checkDomain(domain)
  const want = CUSTODY_QUERY_TYPES.ReadCustody.map((f) => f.name as string)
  const keys = typeof query === 'object' && query !== null ? Object.keys(query) : []
  if (keys.length !== want.length || !want.every((k) => keys.includes(k))) throw new W3aError('INVALID_ARGUMENT', 'ReadCustody: message fields do not match the signed type')
  if (typeof query.nonce !== 'bigint' || typeof query.expiry !== 'bigint') throw new W3aError('INVALID_ARGUMENT', 'ReadCustody: nonce and expiry must be bigint')
  const typedData = {
    domain: { name: COMMAND_DOMAIN_NAME, version: COMMAND_DOMAIN_VERSION, chainId: domain.chainId, verifyingContract: domain.verifyingContract },
    types: CUSTODY_QUERY_TYPES,
    primaryType: 'ReadCustody' as const,
    message: query,
  }
  try {
    validateTypedData(typedData as Parameters<typeof validateTypedData>[0])
  } catch (cause) {
    throw new W3aError('INVALID_ARGUMENT', 'ReadCustody: a field does not fit its EIP-712 type', { details: [String((cause as Error).message).split('\n')[0]!], cause })
  }
  return typedData
}

export async function signCustodyQuery(params: { account: LocalAccount; domain: CommandDomain; query: ReadCustodyMessage }): Promise<SignedCustodyQuery> {
  const { account, domain, query } = params
  if (typeof account.signTypedData !== 'function') throw new W3aError('INVALID_ARGUMENT', 'account cannot sign typed data')
  if (!isAddressEqual(query.requester, account.address)) throw new W3aError('INVALID_ARGUMENT', 'ReadCustody: requester must be the signing account')
  const signature = await account.signTypedData(custodyQueryTypedData(domain, query) as Parameters<LocalAccount['signTypedData']>[0])
  return { query, domain: { chainId: domain.chainId, verifyingContract: domain.verifyingContract }, signature }
}

/** Checks domain, that `query.requester` signed it, and expiry at `now` (unix seconds). Returns the requester. */
export async function verifyCustodyQuery(params: { signed: SignedCustodyQuery; domain: CommandDomain; now: number }): Promise<Address> {
  const { signed, domain, now } = params
  checkDomain(domain)
  if (!Number.isSafeInteger(now) || now < 0) throw new W3aError('INVALID_ARGUMENT', 'now must be unix seconds')
  const requester = signed?.query?.requester
  if (typeof requester !== 'string' || !isAddress(requester, { strict: false })) throw invalidSignature('requester is not an address')
  if (signed.domain?.chainId !== domain.chainId || typeof signed.domain.verifyingContract !== 'string' || !isAddress(signed.domain.verifyingContract, { strict: false }) || !isAddressEqual(signed.domain.verifyingContract, domain.verifyingContract)) {
    throw invalidSignature('signed for another chain or custody contract')
  }
  const digest = hashTypedData(custodyQueryTypedData(domain, signed.query) as Parameters<typeof hashTypedData>[0])
  let recovered: Address
  try {
    recovered = await recoverAddress({ hash: digest, signature: checkSignature(signed.signature) })
  } catch (cause) {
    if (cause instanceof W3aError) throw cause
    throw invalidSignature('signature does not recover to an address', [], cause)
  }
  if (!isAddressEqual(recovered, requester)) throw invalidSignature('signature is not from the requester')
  if (signed.query.expiry <= BigInt(now)) throw new W3aError('COMMAND_EXPIRED', 'Custody query has expired', { details: [`expiry: ${signed.query.expiry}`, `now: ${now}`] })
  return recovered
}
