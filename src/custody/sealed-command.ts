/**
 * The sealed owner command posted to the custody inbox (docs/design/custody-protocol.md):
 *
 *   ciphertext = enc (32 bytes) ‖ HPKE ciphertext
 *   HPKE base mode to the epoch public key, info = "w3a/custody/command/v1",
 *   aad = abi.encode(uint256 chainId, address inbox, uint256 epoch)
 *   plaintext = UTF-8 JSON { "v": 1, "signed": SignedOwnerCommand, "dek"?: "0x…", "policy"?: {…} }
 *
 * In the JSON, uint256/uint64 fields are decimal strings and bytes are 0x-hex. The aad binds
 * the ciphertext to one chain, inbox and epoch, so it cannot be replayed into another network
 * or re-posted under another epoch number.
 */
import { bytesToHex, hexToBytes, isAddress, type Address, type Hex } from 'viem'
import { z } from 'zod'
import { W3aError } from '../core/errors.js'
import { hpkeOpen, hpkeSeal } from '../crypto/hpke.js'
import { OWNER_COMMAND_TYPES, type OwnerCommand, type SignedOwnerCommand } from '../crypto/typed-commands.js'
import { malformed } from './canonical.js'
import type { EpochKeyring } from './epoch-keys.js'
import { CustodyPolicySchema, parsePolicy, type CustodyPolicy } from './policy.js'

export const COMMAND_INFO = new TextEncoder().encode('w3a/custody/command/v1')
/** CustodyInbox.MAX_CIPHERTEXT_BYTES: larger ciphertexts are refused before any decryption. */
export const MAX_COMMAND_BYTES = 16 * 1024
const ENC_SIZE = 32

export type CommandEnvelope = { signed: SignedOwnerCommand; dek?: Uint8Array; policy?: CustodyPolicy }

/** abi.encode(uint256 chainId, address inbox, uint256 epoch): 96 bytes. */
export function commandAad(chainId: number, inbox: Address, epoch: bigint): Uint8Array {
  if (!Number.isSafeInteger(chainId) || chainId <= 0) throw new W3aError('INVALID_ARGUMENT', 'chainId must be a positive integer')
  if (typeof inbox !== 'string' || !isAddress(inbox, { strict: false })) throw new W3aError('INVALID_ARGUMENT', 'inbox must be an address')
  if (typeof epoch !== 'bigint' || epoch < 0n || epoch >= 1n << 256n) throw new W3aError('INVALID_ARGUMENT', 'epoch must be a uint256 bigint')
  const aad = new Uint8Array(96)
  const view = new DataView(aad.buffer)
  view.setBigUint64(24, BigInt(chainId))
  aad.set(hexToBytes(inbox), 32 + 12)
  for (let i = 0; i < 4; i++) view.setBigUint64(64 + i * 8, (epoch >> BigInt((3 - i) * 64)) & 0xffffffffffffffffn)
  return aad
}

export async function sealCommand(params: {
  epochPublicKey: Uint8Array
  epoch: bigint
  chainId: number
  inbox: Address
  signed: SignedOwnerCommand
  dek?: Uint8Array
  policy?: CustodyPolicy
}): Promise<Uint8Array> {
  const { signed, dek, policy } = params
  if (dek !== undefined && (!(dek instanceof Uint8Array) || dek.length !== 32)) throw new W3aError('INVALID_ARGUMENT', 'dataset key must be 32 bytes')
  const json = JSON.stringify({
    v: 1,
    signed: { ...signed, command: { type: signed.command.type, message: jsonMessage(signed.command) } },
    ...(dek ? { dek: bytesToHex(dek) } : {}),
    ...(policy ? { policy: parsePolicy(policy) } : {}),
  })
  const plaintext = new TextEncoder().encode(json)
  try {
    const { enc, ciphertext } = await hpkeSeal({ recipientPublicKey: params.epochPublicKey, info: COMMAND_INFO, aad: commandAad(params.chainId, params.inbox, params.epoch) }, plaintext)
    const out = new Uint8Array(enc.length + ciphertext.length)
    out.set(enc)
    out.set(ciphertext, enc.length)
    if (out.length > MAX_COMMAND_BYTES) throw new W3aError('INVALID_ARGUMENT', `sealed command exceeds ${MAX_COMMAND_BYTES} bytes`)
    return out
  } finally {
    plaintext.fill(0)
  }
}

/**
 * Opens a sealed command with the epoch keyring (or a raw epoch private key). Throws
 * HPKE_OPEN_FAILED if it does not open, CUSTODY_MALFORMED if the plaintext is not a valid
 * envelope. Does not verify the signature: that is `applyInboxEntry`'s job.
 */
export async function openCommand(params: {
  keyring?: EpochKeyring
  epochPrivateKey?: Uint8Array
  epoch: bigint
  chainId: number
  inbox: Address
  ciphertext: Uint8Array
}): Promise<CommandEnvelope> {
  const { ciphertext } = params
  if (!(ciphertext instanceof Uint8Array) || ciphertext.length <= ENC_SIZE || ciphertext.length > MAX_COMMAND_BYTES) {
    throw new W3aError('HPKE_OPEN_FAILED', 'Sealed command has an impossible length')
  }
  const hp = { enc: ciphertext.subarray(0, ENC_SIZE), info: COMMAND_INFO, aad: commandAad(params.chainId, params.inbox, params.epoch) }
  let plaintext: Uint8Array
  if (params.keyring) {
    if (params.keyring.epoch !== params.epoch) throw new W3aError('HPKE_OPEN_FAILED', 'Sealed to another epoch than the keyring holds')
    plaintext = await params.keyring.open(hp, ciphertext.subarray(ENC_SIZE))
  } else if (params.epochPrivateKey) {
    plaintext = await hpkeOpen({ recipientPrivateKey: params.epochPrivateKey, ...hp }, ciphertext.subarray(ENC_SIZE))
  } else {
    throw new W3aError('INVALID_ARGUMENT', 'openCommand needs a keyring or an epoch private key')
  }
  try {
    return parseEnvelope(plaintext)
  } finally {
    plaintext.fill(0)
  }
}

// ---- JSON form ----

const hex32 = z.string().regex(/^0x[0-9a-fA-F]{64}$/)
const decimal = z
  .string()
  .regex(/^(0|[1-9][0-9]{0,77})$/)
  .transform((s) => BigInt(s))
const FIELD_SCHEMAS = {
  bytes32: hex32,
  address: z.string().refine((s) => isAddress(s, { strict: false })),
  string: z.string().max(4096),
  uint256: decimal,
  uint64: decimal,
  uint32: z.number().int().min(0).max(0xffffffff),
  bool: z.boolean(),
  // Purposes of a consent (Contribute, SetConsent): short texts, few of them.
  'string[]': z.array(z.string().min(1).max(128)).max(32),
} as const

const commandSchemas = Object.entries(OWNER_COMMAND_TYPES).map(([type, fields]) =>
  z.strictObject({
    type: z.literal(type),
    message: z.strictObject(Object.fromEntries(fields.map((f) => [f.name, FIELD_SCHEMAS[f.type as keyof typeof FIELD_SCHEMAS]]))),
  }),
)

const envelopeSchema = z.strictObject({
  v: z.literal(1),
  signed: z.strictObject({
    command: z.union(commandSchemas as unknown as [z.ZodTypeAny, z.ZodTypeAny, ...z.ZodTypeAny[]]),
    domain: z.strictObject({ chainId: z.number().int().positive(), verifyingContract: z.string().refine((s) => isAddress(s, { strict: false })) }),
    signer: z.string().refine((s) => isAddress(s, { strict: false })),
    signature: z.string().regex(/^0x[0-9a-fA-F]{130}$/),
  }),
  dek: hex32.optional(),
  policy: CustodyPolicySchema.optional(),
})

function parseEnvelope(plaintext: Uint8Array): CommandEnvelope {
  let json: unknown
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(plaintext))
  } catch (cause) {
    throw malformed('sealed command is not UTF-8 JSON', cause)
  }
  const r = envelopeSchema.safeParse(json)
  if (!r.success) throw malformed(`sealed command: ${r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`)
  const { signed, dek, policy } = r.data
  const out: CommandEnvelope = {
    signed: { command: signed.command as OwnerCommand, domain: signed.domain as SignedOwnerCommand['domain'], signer: signed.signer as Address, signature: signed.signature as Hex },
  }
  if (dek !== undefined) out.dek = hexToBytes(dek as Hex)
  if (policy !== undefined) out.policy = parsePolicy(policy)
  return out
}

function jsonMessage(command: OwnerCommand): Record<string, unknown> {
  return Object.fromEntries(Object.entries(command.message).map(([k, v]) => [k, typeof v === 'bigint' ? v.toString() : v]))
}
