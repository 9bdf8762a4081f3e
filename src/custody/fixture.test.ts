/**
 * Shared test fixture (no tests of its own): a simulated custody inbox with real sealed,
 * signed commands, and keeper replicas that replay it the way a keeper process does.
 */
import { bytesToHex, type Address, type Hex, type LocalAccount } from 'viem'
import { keccak_256 } from '@noble/hashes/sha3.js'
import { datasetIdFor, dekHash, signOwnerCommand, type CommandDomain, type OwnerCommand, type SignedOwnerCommand } from '../crypto/typed-commands.js'
import { applyInboxEntry } from './apply.js'
import { EpochKeyring, epochKeyPair, nextEpochSecret } from './epoch-keys.js'
import type { InboxEntry } from './inbox-head.js'
import type { CustodyPolicy } from './policy.js'
import type { CustodyReceipt, SignedCustodyReceipt } from './receipt.js'
import { sealCommand } from './sealed-command.js'
import { createEmptyState, type CustodyState } from './state.js'

export const CHAIN_ID = 31337
export const INBOX: Address = '0x5fbdb2315678afecb367f032d93f642f64180aa3'
export const DOMAIN: CommandDomain = { chainId: CHAIN_ID, verifyingContract: INBOX }
export const EPOCH_LENGTH = 100n
export const T0 = 1_750_000_000n
export const RELAYER: Address = '0x00000000000000000000000000000000000000aa'
/** The Jobs contract: its inbox entries are job charges. */
export const JOBS: Address = '0x00000000000000000000000000000000000000j0'.replace('j', 'b') as Address

/** Deterministic test bytes (no Math.random): keccak of a label. */
export function testBytes(label: string, n = 32): Uint8Array {
  const out = new Uint8Array(n)
  for (let i = 0, c = 0; i < n; c++) {
    const h = keccak_256(new TextEncoder().encode(`${label}/${c}`))
    out.set(h.subarray(0, Math.min(32, n - i)), i)
    i += 32
  }
  return out
}

export function secretAt(secret0: Uint8Array, epoch: bigint): Uint8Array {
  let s: Uint8Array = secret0.slice()
  for (let e = 0n; e < epoch; e++) s = nextEpochSecret(s)
  return s
}

export async function signCommand(account: LocalAccount, command: OwnerCommand, domain: CommandDomain = DOMAIN): Promise<SignedOwnerCommand> {
  return signOwnerCommand({ account, domain, command })
}

/** A RegisterDataset command with a properly derived id and DEK hash. */
export function registerCommand(owner: Address, p: { salt: Hex; dek: Uint8Array; nonce: bigint; expiry: bigint; manifestCid?: string }): { command: OwnerCommand; datasetId: Hex } {
  const datasetId = datasetIdFor(owner, p.salt)
  return {
    datasetId,
    command: { type: 'RegisterDataset', message: { datasetId, salt: p.salt, manifestCid: p.manifestCid ?? 'bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku', sealedKeyHash: dekHash(p.dek), nonce: p.nonce, expiry: p.expiry } },
  }
}

/** The chain side: blocks, epochs and the inbox log. */
export class TestInbox {
  readonly entries: InboxEntry[] = []
  block = 1n

  constructor(readonly secret0: Uint8Array) {}

  get epoch(): bigint {
    return this.block / EPOCH_LENGTH
  }

  timestamp(block = this.block): bigint {
    return T0 + block * 12n
  }

  mine(blocks: bigint): void {
    this.block += blocks
  }

  async publicKey(epoch: bigint): Promise<Uint8Array> {
    return (await epochKeyPair(secretAt(this.secret0, epoch))).publicKey
  }

  async seal(signed: SignedOwnerCommand, opts: { dek?: Uint8Array; policy?: CustodyPolicy; sealEpoch?: bigint; chainId?: number; inbox?: Address } = {}): Promise<Uint8Array> {
    const epoch = opts.sealEpoch ?? this.epoch
    return sealCommand({
      epochPublicKey: await this.publicKey(epoch),
      epoch,
      chainId: opts.chainId ?? CHAIN_ID,
      inbox: opts.inbox ?? INBOX,
      signed,
      ...(opts.dek ? { dek: opts.dek } : {}),
      ...(opts.policy ? { policy: opts.policy } : {}),
    })
  }

  /** Appends an entry in the current block (then moves one block on). `postEpoch` is what `post(epoch, …)` names. */
  postRaw(ciphertext: Uint8Array, postEpoch = this.epoch, sender: Address = RELAYER): InboxEntry {
    const entry: InboxEntry = { index: BigInt(this.entries.length), sender, epoch: postEpoch, ciphertext, blockNumber: this.block, timestamp: this.timestamp() }
    this.entries.push(entry)
    this.mine(1n)
    return entry
  }

  async post(signed: SignedOwnerCommand, opts: { dek?: Uint8Array; policy?: CustodyPolicy; sealEpoch?: bigint } = {}): Promise<InboxEntry> {
    const ct = await this.seal(signed, opts)
    return this.postRaw(ct, opts.sealEpoch ?? this.epoch)
  }
}

/** A keeper replaying the inbox: moves its keyring to each entry's block epoch, then applies it. */
export class Replica {
  state: CustodyState = createEmptyState()
  readonly receipts: (CustodyReceipt | SignedCustodyReceipt)[] = []

  constructor(
    readonly keyring: EpochKeyring,
    readonly signer?: LocalAccount,
  ) {}

  static fromSecret(secret0: Uint8Array, signer?: LocalAccount): Replica {
    return new Replica(new EpochKeyring(0n, secret0), signer)
  }

  async apply(entry: InboxEntry): Promise<CustodyReceipt | SignedCustodyReceipt> {
    const blockEpoch = entry.blockNumber / EPOCH_LENGTH
    this.keyring.advanceTo(blockEpoch)
    const ctx = { keyring: this.keyring, chainId: CHAIN_ID, inbox: INBOX, jobs: JOBS, currentEpoch: blockEpoch }
    const out = this.signer ? await applyInboxEntry(this.state, entry, { ...ctx, signer: this.signer }) : await applyInboxEntry(this.state, entry, ctx)
    this.state = out.state
    this.receipts.push(out.receipt)
    return out.receipt
  }
}

export function containsBytes(haystack: Uint8Array, needle: Uint8Array): boolean {
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer
    return true
  }
  return false
}

export function hexOf(b: Uint8Array): string {
  return bytesToHex(b).slice(2)
}
