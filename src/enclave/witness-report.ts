/**
 * Signed statements of the rollback protection (issue 8, attack 4; docs/design/custody-protocol.md,
 * "Rollback protection"). Two kinds, both EIP-191 by an enclave's worker key over a keccak256 of
 * abi-encoded fields with a domain tag, chain id and registry, so none replays on another network:
 *
 *   statement = keccak256(abi.encode(string "w3a.freshness.statement.v1", uint256 chainId, address registry,
 *               address keeper, uint64 seq, bytes32 root))
 *     "my sealed state is at `seq` with `root`", by the keeper itself after a save;
 *   report    = keccak256(abi.encode(string "w3a.freshness.report.v1", uint256 chainId, address registry,
 *               address witness, address keeper, uint64 seq, bytes32 root, bytes32 nonce))
 *     "the highest state of `keeper` I witnessed is (`seq`, `root`)", by a peer (the witness).
 *     As the answer to a statement (an acknowledgement) `nonce` is zero; as a freshness answer at
 *     a keeper's resume it is the keeper's fresh challenge, so an old answer cannot be replayed.
 *
 * This file only builds, signs, parses and checks signatures; who counts as a witness and what
 * a report means is freshness.ts.
 */
import { encodeAbiParameters, isAddress, isAddressEqual, keccak256, recoverMessageAddress, type Address, type Hex, type LocalAccount } from 'viem'
import { W3aError } from '../core/errors.js'

export type FreshnessDomain = { chainId: number; registry: Address }
export type WitnessStatement = { keeper: Address; seq: bigint; root: Hex; signature: Hex }
export type WitnessReport = { witness: Address; keeper: Address; seq: bigint; root: Hex; nonce: Hex; signature: Hex }

export const ZERO_NONCE: Hex = `0x${'00'.repeat(32)}`
const U64 = 1n << 64n

export function statementDigest(d: FreshnessDomain, s: Omit<WitnessStatement, 'signature'>): Hex {
  return keccak256(
    encodeAbiParameters(
      [{ type: 'string' }, { type: 'uint256' }, { type: 'address' }, { type: 'address' }, { type: 'uint64' }, { type: 'bytes32' }],
      ['w3a.freshness.statement.v1', BigInt(d.chainId), d.registry, s.keeper, s.seq, s.root],
    ),
  )
}

export function reportDigest(d: FreshnessDomain, r: Omit<WitnessReport, 'signature'>): Hex {
  return keccak256(
    encodeAbiParameters(
      [{ type: 'string' }, { type: 'uint256' }, { type: 'address' }, { type: 'address' }, { type: 'address' }, { type: 'uint64' }, { type: 'bytes32' }, { type: 'bytes32' }],
      ['w3a.freshness.report.v1', BigInt(d.chainId), d.registry, r.witness, r.keeper, r.seq, r.root, r.nonce],
    ),
  )
}

export async function signStatement(signer: LocalAccount, d: FreshnessDomain, s: { seq: bigint; root: Hex }): Promise<WitnessStatement> {
  const body = { keeper: signer.address, seq: s.seq, root: s.root }
  return { ...body, signature: await signer.signMessage({ message: { raw: statementDigest(d, body) } }) }
}

export async function signReport(signer: LocalAccount, d: FreshnessDomain, r: { keeper: Address; seq: bigint; root: Hex; nonce: Hex }): Promise<WitnessReport> {
  const body = { witness: signer.address, keeper: r.keeper, seq: r.seq, root: r.root, nonce: r.nonce }
  return { ...body, signature: await signer.signMessage({ message: { raw: reportDigest(d, body) } }) }
}

const refuse = (what: string) => new W3aError('INVALID_ARGUMENT', `freshness message: ${what}`)
const isHex = (v: unknown, bytes: number): v is Hex => typeof v === 'string' && new RegExp(`^0x[0-9a-fA-F]{${bytes * 2}}$`).test(v)
const address = (v: unknown, what: string): Address => {
  if (typeof v !== 'string' || !isAddress(v, { strict: false })) throw refuse(`${what} is not an address`)
  return v.toLowerCase() as Address
}
const hex32 = (v: unknown, what: string): Hex => {
  if (!isHex(v, 32)) throw refuse(`${what} is not bytes32 hex`)
  return v.toLowerCase() as Hex
}
const seqOf = (v: unknown): bigint => {
  const n = typeof v === 'bigint' ? v : typeof v === 'string' && /^(0|[1-9][0-9]{0,19})$/.test(v) ? BigInt(v) : -1n
  if (n < 0n || n >= U64) throw refuse('seq is not a u64')
  return n
}
const signature = (v: unknown): Hex => {
  if (!isHex(v, 65)) throw refuse('signature is not 65 bytes of hex')
  return v
}

async function signedBy(digest: Hex, sig: Hex, who: Address): Promise<void> {
  let recovered: Address
  try {
    recovered = await recoverMessageAddress({ message: { raw: digest }, signature: sig })
  } catch {
    throw new W3aError('SIGNATURE_INVALID', 'freshness message: signature does not recover')
  }
  if (!isAddressEqual(recovered, who)) throw new W3aError('SIGNATURE_INVALID', `freshness message: not signed by ${who}`)
}

/** Parses a statement from the host and checks it is signed by the keeper it names (on this network). */
export async function verifyStatement(d: FreshnessDomain, json: unknown): Promise<WitnessStatement> {
  const o = (json ?? {}) as Record<string, unknown>
  const s: WitnessStatement = { keeper: address(o['keeper'], 'keeper'), seq: seqOf(o['seq']), root: hex32(o['root'], 'root'), signature: signature(o['signature']) }
  await signedBy(statementDigest(d, s), s.signature, s.keeper)
  return s
}

/** Parses a report from the host and checks it is signed by the witness it names (on this network). */
export async function verifyReport(d: FreshnessDomain, json: unknown): Promise<WitnessReport> {
  const o = (json ?? {}) as Record<string, unknown>
  const r: WitnessReport = {
    witness: address(o['witness'], 'witness'),
    keeper: address(o['keeper'], 'keeper'),
    seq: seqOf(o['seq']),
    root: hex32(o['root'], 'root'),
    nonce: hex32(o['nonce'], 'nonce'),
    signature: signature(o['signature']),
  }
  await signedBy(reportDigest(d, r), r.signature, r.witness)
  return r
}

/** Parses a nonce from the host (a resuming keeper's challenge, relayed to a witness). */
export function parseNonce(v: unknown): Hex {
  return hex32(v, 'nonce')
}
