/**
 * Custody receipts: what a keeper says happened to one inbox entry, signed by its worker key.
 *
 *   digest    = keccak256(abi.encode(string "w3a.custody.receipt.v1", uint256 chainId, address inbox,
 *                 uint256 index, bytes32 commandHash, uint8 status (1 applied, 2 refused), string reason,
 *                 bytes32 datasetId (0 if unknown), string type, uint256 epoch, bytes32 stateRoot,
 *                 bool hasUnrecoverableAfterEpoch, uint256 unrecoverableAfterEpoch))
 *   signature = EIP-191 personal_sign over the 32 digest bytes (viem `signMessage({ message: { raw } })`)
 *
 * `commandHash` is keccak256 of the inbox ciphertext, so an owner can match a receipt to what
 * they posted. A Delete or RotateKey receipt names `unrecoverableAfterEpoch`: the epoch the
 * command that carried the (now dropped) key was sealed to; once keepers have erased that
 * epoch's secret, the on-chain copy of that DEK is gone for good. `epoch` is the epoch in which the keeper applied the entry.
 */
import { encodeAbiParameters, isAddress, isAddressEqual, keccak256, recoverMessageAddress, type Address, type Hex, type LocalAccount } from 'viem'
import { z } from 'zod'
import { W3aError } from '../core/errors.js'
import { OWNER_COMMAND_TYPES, type OwnerCommandType } from '../crypto/typed-commands.js'
import { malformed } from './canonical.js'
import { ZERO_HASH } from './state.js'

export const REFUSAL_REASONS = [
  'undecryptable',
  'sealed-to-past-epoch',
  'malformed',
  'wrong-domain',
  'bad-signature',
  'expired',
  'policy-mismatch',
  'dek-mismatch',
  'bad-id-derivation',
  'replayed-nonce',
  'already-registered',
  'unknown-dataset',
  'dataset-deleted',
  'not-owner',
  // Job charges (job-charge.ts): why custody refused to charge a job
  'not-granted',
  'grant-expired',
  'no-uses-left',
  'budget-exhausted',
  'analyst-budget-exhausted',
  'analysis-not-allowed',
  'denied',
  'invalid-epsilon',
  'epsilon-below-minimum',
  'exact-not-allowed',
  'exact-queries-exhausted',
  'duplicate-job',
  'function-not-allowed',
  // Pools (pool.ts)
  'not-a-pool',
  'not-a-contribution',
  'no-contributions',
  // Keeper admissions (keeper-set.ts)
  'already-keeper',
  'quorum-not-reached',
  'bad-attestation',
  // Keeper removals (keeper-removal.ts)
  'not-keeper',
  'last-keeper',
] as const
export type RefusalReason = (typeof REFUSAL_REASONS)[number]

/** An owner command, the charge the Jobs contract posts for a job, a keeper admission or removal. */
export const RECEIPT_TYPES = [...(Object.keys(OWNER_COMMAND_TYPES) as OwnerCommandType[]), 'JobCharge', 'KeeperAdmission', 'KeeperRemoval'] as const
export type ReceiptType = OwnerCommandType | 'JobCharge' | 'KeeperAdmission' | 'KeeperRemoval'

export type CustodyReceipt = {
  chainId: number
  inbox: Address
  index: bigint
  commandHash: Hex
  status: 'applied' | 'refused'
  reason?: RefusalReason
  datasetId?: Hex
  type?: ReceiptType
  epoch: bigint
  stateRoot: Hex
  unrecoverableAfterEpoch?: bigint
}

export type SignedCustodyReceipt = CustodyReceipt & { keeper: Address; signature: Hex }
/** What keepers serve and owners check. */
export type Receipt = SignedCustodyReceipt

export function receiptDigest(r: CustodyReceipt): Hex {
  return keccak256(
    encodeAbiParameters(
      [
        { type: 'string' },
        { type: 'uint256' },
        { type: 'address' },
        { type: 'uint256' },
        { type: 'bytes32' },
        { type: 'uint8' },
        { type: 'string' },
        { type: 'bytes32' },
        { type: 'string' },
        { type: 'uint256' },
        { type: 'bytes32' },
        { type: 'bool' },
        { type: 'uint256' },
      ],
      [
        'w3a.custody.receipt.v1',
        BigInt(r.chainId),
        r.inbox,
        r.index,
        r.commandHash,
        r.status === 'applied' ? 1 : 2,
        r.reason ?? '',
        r.datasetId ?? ZERO_HASH,
        r.type ?? '',
        r.epoch,
        r.stateRoot,
        r.unrecoverableAfterEpoch !== undefined,
        r.unrecoverableAfterEpoch ?? 0n,
      ],
    ),
  )
}

export async function signReceipt(receipt: CustodyReceipt, signer: LocalAccount): Promise<SignedCustodyReceipt> {
  const signature = await signer.signMessage({ message: { raw: receiptDigest(receipt) } })
  return { ...receipt, keeper: signer.address, signature }
}

/**
 * Checks that `receipt` (the object, or its JSON form with decimal-string bigints) is signed by
 * `expectedSigner` and names it as keeper. Throws SIGNATURE_INVALID (CUSTODY_MALFORMED if it
 * does not parse); returns the receipt with bigints.
 */
export async function verifyReceipt(receipt: SignedCustodyReceipt | Record<string, unknown>, expectedSigner: Address): Promise<SignedCustodyReceipt> {
  const r = typeof receipt?.index === 'bigint' ? (receipt as SignedCustodyReceipt) : receiptFromJson(receipt)
  let recovered: Address | undefined
  try {
    recovered = await recoverMessageAddress({ message: { raw: receiptDigest(r) }, signature: r.signature })
  } catch {
    recovered = undefined
  }
  if (!recovered || !isAddressEqual(recovered, expectedSigner) || !isAddressEqual(r.keeper, expectedSigner)) {
    throw new W3aError('SIGNATURE_INVALID', 'Custody receipt is not signed by the expected keeper', { details: [`expected: ${expectedSigner}`, `index: ${String(r.index)}`] })
  }
  return r
}

// ---- JSON (bigints as decimal strings), for HTTP and files ----

const hex32 = z.string().regex(/^0x[0-9a-fA-F]{64}$/)
const addr = z.string().refine((s) => isAddress(s, { strict: false }))
const dec = z
  .string()
  .regex(/^(0|[1-9][0-9]{0,77})$/)
  .transform((s) => BigInt(s))
const receiptJsonSchema = z.strictObject({
  chainId: z.number().int().positive(),
  inbox: addr,
  index: dec,
  commandHash: hex32,
  status: z.enum(['applied', 'refused']),
  reason: z.enum(REFUSAL_REASONS).optional(),
  datasetId: hex32.optional(),
  type: z.enum(RECEIPT_TYPES as unknown as [ReceiptType, ...ReceiptType[]]).optional(),
  epoch: dec,
  stateRoot: hex32,
  unrecoverableAfterEpoch: dec.optional(),
  keeper: addr,
  signature: z.string().regex(/^0x[0-9a-fA-F]{130}$/),
})

export function receiptToJson(r: SignedCustodyReceipt): Record<string, unknown> {
  return Object.fromEntries(Object.entries(r).map(([k, v]) => [k, typeof v === 'bigint' ? v.toString() : v]))
}

export function receiptFromJson(json: unknown): SignedCustodyReceipt {
  const r = receiptJsonSchema.safeParse(json)
  if (!r.success) throw malformed(`receipt: ${r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`)
  return r.data as SignedCustodyReceipt
}
