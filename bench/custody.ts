/**
 * Custody replay throughput vs. bare owner-signature verification, same machine, same run.
 * Prints figures only; benchmarks never assert. The last line is the judged ratio.
 *
 * Setup (not timed): 200 owners (viem local accounts) sign 10,000 real owner commands
 * (register / grant / revoke / set policy / delete, in a realistic mix), each sealed to the
 * epoch key of its block as an owner would, across several epochs.
 *
 * Timed:
 *   custody : one keeper replays the whole inbox from an empty state: HPKE-open, parse,
 *             verify the EIP-712 signature, apply, compute the state root for the receipt.
 *   bare    : verifyOwnerCommand over the same 10,000 signed commands, already decoded.
 * Both verify the same signatures with the same function (verifyOwnerCommand).
 *
 *   npm run bench:custody
 *   BENCH_COMMANDS=2000 npm run bench:custody
 */
import { bytesToHex, type Address, type Hex, type LocalAccount } from 'viem'
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'
import { datasetIdFor, dekHash, signOwnerCommand, verifyOwnerCommand, type CommandDomain, type OwnerCommand, type SignedOwnerCommand } from '../src/crypto/typed-commands.js'
import {
  EpochKeyring,
  applyInboxEntry,
  createEmptyState,
  createInitialSecret,
  epochKeyPair,
  nextEpochSecret,
  parsePolicy,
  policyHash,
  replayInbox,
  sealCommand,
  stateRoot,
  type CustodyReceipt,
  type CustodyState,
  type InboxEntry,
} from '../src/custody/index.js'

const COMMANDS = Number(process.env.BENCH_COMMANDS ?? 10_000)
const OWNERS = 200
const EPOCHS = 5n
const EPOCH_LENGTH = 1_000n
const RUNS = 3
const CHAIN_ID = 31337
const INBOX: Address = '0x5fbdb2315678afecb367f032d93f642f64180aa3'
const DOMAIN: CommandDomain = { chainId: CHAIN_ID, verifyingContract: INBOX }
const T0 = 1_750_000_000n

// A deterministic choice stream (no Math.random): a xorshift seeded with a constant.
let seed = 0x2545f491n
function pick(n: number): number {
  seed ^= (seed << 13n) & 0xffffffffn
  seed ^= seed >> 17n
  seed ^= (seed << 5n) & 0xffffffffn
  return Number(seed % BigInt(n))
}

type Planned = { account: LocalAccount; command: OwnerCommand; dek?: Uint8Array; policy?: ReturnType<typeof parsePolicy> }

/** Commands in inbox order: each owner registers first, then mostly acts on its live datasets. */
function plan(owners: LocalAccount[]): Planned[] {
  const live = new Map<Address, Hex[]>(owners.map((o) => [o.address, []]))
  const nonces = new Map<Address, bigint>()
  const grantees = owners.slice(0, 50).map((o) => o.address)
  const expiry = T0 + 10n * 365n * 86400n
  const out: Planned[] = []
  for (let i = 0; i < COMMANDS; i++) {
    const account = owners[i < OWNERS ? i : pick(OWNERS)]!
    const nonce = (nonces.get(account.address) ?? 0n) + 1n
    nonces.set(account.address, nonce)
    const mine = live.get(account.address)!
    const roll = pick(100)
    if (mine.length === 0 || roll < 15) {
      const salt = bytesToHex(crypto.getRandomValues(new Uint8Array(32)))
      const dek = crypto.getRandomValues(new Uint8Array(32))
      const datasetId = datasetIdFor(account.address, salt)
      mine.push(datasetId)
      out.push({ account, dek, command: { type: 'RegisterDataset', message: { datasetId, salt, manifestCid: 'bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku', sealedKeyHash: dekHash(dek), nonce, expiry } } })
      continue
    }
    const datasetId = mine[pick(mine.length)]!
    const grantee = grantees[pick(grantees.length)]!
    if (roll < 60) out.push({ account, command: { type: 'Grant', message: { datasetId, grantee, expiresAt: pick(2) ? 0n : expiry, uses: pick(5), nonce, expiry } } })
    else if (roll < 78) out.push({ account, command: { type: 'Revoke', message: { datasetId, grantee, nonce, expiry } } })
    else if (roll < 93) {
      const policy = parsePolicy({ k: 2 + pick(50), epsilonBudget: 1 + pick(20), buyerDeny: [grantees[pick(grantees.length)]!] })
      out.push({ account, policy, command: { type: 'SetPolicy', message: { datasetId, policyHash: policyHash(policy), nonce, expiry } } })
    } else {
      mine.splice(mine.indexOf(datasetId), 1)
      out.push({ account, command: { type: 'Delete', message: { datasetId, nonce, expiry } } })
    }
  }
  return out
}

async function buildInbox(): Promise<{ secret0: Uint8Array; entries: InboxEntry[]; signed: SignedOwnerCommand[] }> {
  const owners = Array.from({ length: OWNERS }, () => privateKeyToAccount(generatePrivateKey()))
  const secret0 = createInitialSecret()
  const publicKeys: Uint8Array[] = []
  for (let e = 0n, s: Uint8Array = secret0.slice(); e < EPOCHS; e++, s = nextEpochSecret(s)) publicKeys.push((await epochKeyPair(s)).publicKey)
  const planned = plan(owners)
  const perBlock = Math.ceil(COMMANDS / Number(EPOCHS * EPOCH_LENGTH)) // spread evenly over the epochs
  const entries: InboxEntry[] = []
  const signed: SignedOwnerCommand[] = []
  for (let i = 0; i < planned.length; i++) {
    const p = planned[i]!
    const blockNumber = BigInt(Math.floor(i / perBlock))
    const epoch = blockNumber / EPOCH_LENGTH
    const s = await signOwnerCommand({ account: p.account, domain: DOMAIN, command: p.command })
    signed.push(s)
    const ciphertext = await sealCommand({ epochPublicKey: publicKeys[Number(epoch)]!, epoch, chainId: CHAIN_ID, inbox: INBOX, signed: s, ...(p.dek ? { dek: p.dek } : {}), ...(p.policy ? { policy: p.policy } : {}) })
    entries.push({ index: BigInt(i), sender: p.account.address, epoch, ciphertext, blockNumber, timestamp: T0 + blockNumber * 2n })
  }
  return { secret0, entries, signed }
}

/** The keeper's replay path (replayInbox: in order, with upcoming entries of the epoch decrypted ahead). */
async function replay(secret0: Uint8Array, entries: InboxEntry[], signer?: LocalAccount): Promise<{ seconds: number; state: CustodyState; receipts: CustodyReceipt[] }> {
  const keyring = new EpochKeyring(0n, secret0)
  const t0 = process.hrtime.bigint()
  const out = await replayInbox(createEmptyState(), entries, { keyring, chainId: CHAIN_ID, inbox: INBOX, epochLength: EPOCH_LENGTH, ...(signer ? { signer } : {}) })
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9
  keyring.destroy()
  return { seconds, ...out }
}

/** The plain loop: one applyInboxEntry after the other, nothing overlapped. */
async function replaySequential(secret0: Uint8Array, entries: InboxEntry[]): Promise<{ seconds: number; state: CustodyState }> {
  const keyring = new EpochKeyring(0n, secret0)
  let state = createEmptyState()
  const t0 = process.hrtime.bigint()
  for (const entry of entries) {
    const currentEpoch = entry.blockNumber / EPOCH_LENGTH
    keyring.advanceTo(currentEpoch)
    state = (await applyInboxEntry(state, entry, { keyring, chainId: CHAIN_ID, inbox: INBOX, currentEpoch })).state
  }
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9
  keyring.destroy()
  return { seconds, state }
}

async function verifyAll(entries: InboxEntry[], signed: SignedOwnerCommand[]): Promise<number> {
  const t0 = process.hrtime.bigint()
  for (let i = 0; i < signed.length; i++) await verifyOwnerCommand({ signed: signed[i]!, domain: DOMAIN, now: Number(entries[i]!.timestamp) })
  return Number(process.hrtime.bigint() - t0) / 1e9
}

const fmt = (n: number): string => n.toFixed(0).padStart(6)

const tSetup = process.hrtime.bigint()
const { secret0, entries, signed } = await buildInbox()
const bytes = entries.reduce((n, e) => n + e.ciphertext.length, 0)
console.log(`custody replay, ${entries.length} sealed signed commands from ${OWNERS} owners over ${EPOCHS} epochs (${(bytes / entries.length).toFixed(0)} B avg), best of ${RUNS}, node ${process.version}`)
console.log(`  setup (sign + seal, not timed): ${(Number(process.hrtime.bigint() - tSetup) / 1e9).toFixed(1)} s`)

// Warm-up on a slice, then alternate the two measurements so both see the same machine state.
await replay(secret0, entries.slice(0, 300))
await verifyAll(entries.slice(0, 300), signed.slice(0, 300))
let bestReplay = Infinity
let bestSequential = Infinity
let bestVerify = Infinity
let last: Awaited<ReturnType<typeof replay>> | undefined
for (let r = 0; r < RUNS; r++) {
  last = await replay(secret0, entries)
  bestReplay = Math.min(bestReplay, last.seconds)
  bestVerify = Math.min(bestVerify, await verifyAll(entries, signed))
  const seq = await replaySequential(secret0, entries)
  bestSequential = Math.min(bestSequential, seq.seconds)
  if (stateRoot(seq.state) !== stateRoot(last.state)) throw new Error('the sequential and pipelined replays disagree')
}
const outcomes = new Map<string, number>()
for (const r of last!.receipts) outcomes.set(r.reason ?? r.status, (outcomes.get(r.reason ?? r.status) ?? 0) + 1)
const signedRun = await replay(secret0, entries, privateKeyToAccount(generatePrivateKey()))

const custodyRate = entries.length / bestReplay
const bareRate = signed.length / bestVerify
const ms = (s: number, n: number) => `${((s / n) * 1e3).toFixed(2)} ms each`
console.log(`  outcomes: ${[...outcomes].map(([k, v]) => `${k} ${v}`).join(', ')}; datasets ${last!.state.datasets.size}; final root ${stateRoot(last!.state).slice(0, 18)}…`)
console.log(`  custody apply, keeper replay (open + verify + apply + root): ${fmt(custodyRate)} commands/s   (${ms(bestReplay, entries.length)})`)
console.log(`  custody apply, plain one-by-one loop (not overlapped):       ${fmt(entries.length / bestSequential)} commands/s   (${ms(bestSequential, entries.length)})`)
console.log(`  keeper replay also signing every receipt (one run):          ${fmt(entries.length / signedRun.seconds)} commands/s`)
console.log(`  bare signature verify (verifyOwnerCommand, same sigs):       ${fmt(bareRate)} signatures/s (${ms(bestVerify, signed.length)})`)
console.log(`ratio (custody apply / bare signature verify): ${(custodyRate / bareRate).toFixed(2)} (target >= 0.5)`)
