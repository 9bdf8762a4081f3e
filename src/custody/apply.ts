/**
 * The custody contract's transition function: one inbox entry in, a new state and a receipt out.
 * Every keeper runs it over the same entries in inbox order and must reach the same state, so
 * it reads nothing but its arguments: the clock is the entry's block timestamp, collections are
 * hashed in sorted order, and which epoch key may open an entry is fixed by the chain (below).
 *
 * Epoch rule: `ctx.currentEpoch` is the epoch of the block the entry was mined in, and the
 * keyring must be at exactly that epoch (advance it first). An entry sealed to an earlier epoch
 * is refused ('sealed-to-past-epoch') even if this keeper still held that secret; one sealed to
 * a later epoch cannot be opened ('undecryptable'). So the outcome never depends on when a
 * keeper happened to erase a secret.
 *
 * Keeper admissions (keeper-set.ts) and removals (keeper-removal.ts) are public entries any sender may post; they are recognised
 * by their tag, before any decryption, when the context names the registry and the enclave's
 * measured quote policy (an enclave always does; replays that omit them read them as commands).
 *
 * Refusals leave the content untouched: only `processed`, `head` and `epoch` move. Calling with
 * the wrong index or an earlier epoch than already applied is a caller bug and throws
 * CUSTODY_OUT_OF_ORDER (nothing applied).
 *
 * Nonces: a (signer, nonce) is spent while the command that used it is unexpired; after its
 * expiry it is pruned (when that signer's next command applies), since any replay of it is
 * refused as 'expired' anyway. This keeps the state bounded by live commands.
 */
import { isAddress, isAddressEqual, zeroAddress, type Address, type Hex, type LocalAccount } from 'viem'
import { W3aError, isW3aError } from '../core/errors.js'
import { datasetIdFor, dekHash, verifyOwnerCommand, type OwnerCommand, type OwnerCommandType } from '../crypto/typed-commands.js'
import type { EpochKeyring } from './epoch-keys.js'
import { commandHash as hashCommand, nextInboxHead, type InboxEntry } from './inbox-head.js'
import { DEFAULT_POLICY, analysisDenial, policyHash, type CustodyPolicy } from './policy.js'
import { signReceipt, type CustodyReceipt, type ReceiptType, type RefusalReason, type SignedCustodyReceipt } from './receipt.js'
import { decodeJobCharge, epsilonOfMicros, jobChargeKey, type JobCharge, type JobChargeRecord } from './job-charge.js'
import { applyKeeperAdmission, prepareKeeperAdmission, type CheckedAdmission, type KeeperAdmissionContext } from './keeper-set.js'
import { applyKeeperRemoval, prepareKeeperRemoval, type CheckedRemoval } from './keeper-removal.js'
import { chargeAccess, checkAccess } from './release-check.js'
import { MAX_PURPOSE_LENGTH, normalizePurpose, normalizePurposes, poolInputs, withContribution } from './pool.js'
import { openCommand } from './sealed-command.js'
import { datasetRecord, getDataset, type CustodyState, type DatasetRecord, type GrantRecord, type NonceSet } from './state.js'
import { stateRoot } from './state-root.js'

export type ApplyContext = {
  /** Holds the secret of `currentEpoch` (and only that one). */
  keyring: EpochKeyring
  chainId: number
  /** The custody inbox contract: also the commands' EIP-712 verifyingContract. */
  inbox: Address
  /** Epoch of the entry's block (blockNumber / epochLength). */
  currentEpoch: bigint
  /** The keeper's worker key: when given, the receipt comes back signed. */
  signer?: LocalAccount
  /** The Jobs contract: entries it posted are job charges (job-charge.ts), not sealed commands. */
  jobs?: Address
  /** The registry and the enclave's measured policy: with both, keeper admissions apply (keeper-set.ts). */
  keeperSet?: Omit<KeeperAdmissionContext, 'chainId'>
}

/** An entry after the checks that need no state (decrypt, parse, signature, expiry, hashes). */
export type PreparedEntry = {
  entry: InboxEntry
  commandHash: Hex
  currentEpoch: bigint
  chainId: number
  inbox: Address
} & (
  | { ok: false; reason: RefusalReason; datasetId?: Hex; type?: ReceiptType }
  | { ok: true; signer: Address; command: OwnerCommand; dek?: Uint8Array; policy?: CustodyPolicy; charge?: undefined; admission?: undefined; removal?: undefined }
  | { ok: true; charge: JobCharge; admission?: undefined; removal?: undefined }
  | { ok: true; admission: CheckedAdmission; charge?: undefined; removal?: undefined }
  | { ok: true; removal: CheckedRemoval; charge?: undefined; admission?: undefined }
)

const U64 = 1n << 64n

/**
 * Applies `entry` to `state`. Returns a NEW state (the input is not modified, except that a
 * Delete zeroes the DEK bytes both share) and the receipt, signed if `ctx.signer` is given
 * (otherwise sign it later with `signReceipt`: replaying history needs no signatures).
 */
export async function applyInboxEntry(state: CustodyState, entry: InboxEntry, ctx: ApplyContext & { signer: LocalAccount }): Promise<{ state: CustodyState; receipt: SignedCustodyReceipt }>
export async function applyInboxEntry(state: CustodyState, entry: InboxEntry, ctx: ApplyContext): Promise<{ state: CustodyState; receipt: CustodyReceipt }>
export async function applyInboxEntry(state: CustodyState, entry: InboxEntry, ctx: ApplyContext): Promise<{ state: CustodyState; receipt: CustodyReceipt | SignedCustodyReceipt }> {
  checkOrder(state, entry, ctx.currentEpoch)
  const out = applyPreparedEntry(state, await prepareInboxEntry(entry, ctx))
  return ctx.signer ? { state: out.state, receipt: await signReceipt(out.receipt, ctx.signer) } : out
}

/**
 * The stateless half of `applyInboxEntry`. Entries of the same epoch may be prepared ahead and
 * concurrently (their decryption does not depend on state), then applied one by one in order.
 */
export async function prepareInboxEntry(entry: InboxEntry, ctx: ApplyContext): Promise<PreparedEntry> {
  checkEntry(entry)
  if (ctx.keyring.epoch !== ctx.currentEpoch) {
    throw new W3aError('INVALID_ARGUMENT', 'Advance the keyring to the epoch of the entry before applying it', { details: [`keyring: ${ctx.keyring.epoch}`, `entry block epoch: ${ctx.currentEpoch}`] })
  }
  const base = { entry, commandHash: hashCommand(entry.ciphertext), currentEpoch: ctx.currentEpoch, chainId: ctx.chainId, inbox: ctx.inbox }
  const refuse = (reason: RefusalReason, command?: OwnerCommand): PreparedEntry => ({ ...base, ok: false, reason, ...describe(command) })

  // The Jobs contract's entries are public charges; its epoch field is unused (posted as 0).
  if (ctx.jobs !== undefined && isAddressEqual(entry.sender as Address, ctx.jobs)) {
    const charge = decodeJobCharge(entry.ciphertext)
    return charge ? { ...base, ok: true, charge } : { ...base, ok: false, reason: 'malformed', type: 'JobCharge' }
  }

  if (ctx.keeperSet !== undefined) {
    const admission = await prepareKeeperAdmission(entry.ciphertext, entry.timestamp, { ...ctx.keeperSet, chainId: ctx.chainId })
    if (admission) return admission.ok ? { ...base, ok: true, admission } : { ...base, ok: false, reason: admission.reason, type: 'KeeperAdmission' }
    const removal = await prepareKeeperRemoval(entry.ciphertext, { chainId: ctx.chainId, registry: ctx.keeperSet.registry })
    if (removal) return removal.ok ? { ...base, ok: true, removal } : { ...base, ok: false, reason: removal.reason, type: 'KeeperRemoval' }
  }

  if (entry.epoch < ctx.currentEpoch) return refuse('sealed-to-past-epoch')
  if (entry.epoch > ctx.currentEpoch) return refuse('undecryptable')
  let envelope
  try {
    envelope = await openCommand({ keyring: ctx.keyring, epoch: entry.epoch, chainId: ctx.chainId, inbox: ctx.inbox, ciphertext: entry.ciphertext })
  } catch (e) {
    if (isW3aError(e, 'CUSTODY_MALFORMED')) return refuse('malformed')
    if (isW3aError(e, 'HPKE_OPEN_FAILED')) return refuse('undecryptable')
    throw e
  }
  const { signed, dek, policy } = envelope
  const command = signed.command
  if (signed.domain.chainId !== ctx.chainId || !isAddressEqual(signed.domain.verifyingContract, ctx.inbox)) return wipe(dek, refuse('wrong-domain', command))
  let signer: Address
  try {
    signer = await verifyOwnerCommand({ signed, domain: { chainId: ctx.chainId, verifyingContract: ctx.inbox }, now: Number(entry.timestamp) })
  } catch (e) {
    const reason = isW3aError(e, 'COMMAND_EXPIRED') ? 'expired' : isW3aError(e, 'SIGNATURE_INVALID') ? 'bad-signature' : isW3aError(e, 'INVALID_ARGUMENT') ? 'malformed' : undefined
    if (reason === undefined) throw e
    return wipe(dek, refuse(reason, command))
  }
  // Only what was signed may travel: a DEK with RegisterDataset, Contribute or RotateKey, a policy with SetPolicy.
  const carriesKey = command.type === 'RegisterDataset' || command.type === 'Contribute'
  if ((dek !== undefined && !carriesKey && command.type !== 'RotateKey') || (policy !== undefined && command.type !== 'SetPolicy')) return wipe(dek, refuse('malformed', command))
  if (command.type === 'SetPolicy' && (policy === undefined || policyHash(policy) !== command.message.policyHash.toLowerCase())) return refuse('policy-mismatch', command)
  if (command.type === 'RegisterPool' && datasetIdFor(signer, command.message.salt) !== command.message.datasetId.toLowerCase()) return refuse('bad-id-derivation', command)
  if (carriesKey) {
    if (dek === undefined || dekHash(dek) !== command.message.sealedKeyHash.toLowerCase()) return wipe(dek, refuse('dek-mismatch', command))
    if (datasetIdFor(signer, command.message.salt) !== command.message.datasetId.toLowerCase()) return wipe(dek, refuse('bad-id-derivation', command))
  }
  if (command.type === 'RotateKey' && (dek === undefined || dekHash(dek) !== command.message.keyHash.toLowerCase())) return wipe(dek, refuse('dek-mismatch', command))
  return { ...base, ok: true, signer: signer.toLowerCase() as Address, command, ...(dek ? { dek } : {}), ...(policy ? { policy } : {}) }
}

/** The stateful half: nonce and dataset rules, then the new state, root and receipt. Synchronous. */
export function applyPreparedEntry(state: CustodyState, p: PreparedEntry): { state: CustodyState; receipt: CustodyReceipt } {
  const { entry } = p
  checkOrder(state, entry, p.currentEpoch)
  const head = nextInboxHead(state.head, entry, p.commandHash)
  if (entry.head !== undefined && entry.head.toLowerCase() !== head) {
    throw new W3aError('CUSTODY_OUT_OF_ORDER', 'Inbox entry does not continue the hash chain: the feed dropped, reordered or altered an entry', { details: [`index ${entry.index}`, `expected head ${head}`, `feed says ${entry.head}`] })
  }
  const moved: CustodyState = { ...state, processed: state.processed + 1n, head, epoch: p.currentEpoch }
  const receipt = (next: CustodyState, extra: Partial<CustodyReceipt> & Pick<CustodyReceipt, 'status'>): { state: CustodyState; receipt: CustodyReceipt } => {
    const frozen = Object.freeze(next)
    return {
      state: frozen,
      receipt: { chainId: p.chainId, inbox: p.inbox, index: entry.index, commandHash: p.commandHash, epoch: p.currentEpoch, stateRoot: stateRoot(frozen), ...extra },
    }
  }
  if (!p.ok) return receipt(moved, { status: 'refused', reason: p.reason, ...(p.datasetId ? { datasetId: p.datasetId } : {}), ...(p.type ? { type: p.type } : {}) })
  if (p.charge) {
    const out = applyJobCharge(moved, p.charge, entry)
    return receipt(out.state, { type: 'JobCharge', datasetId: p.charge.datasetId, ...(out.reason ? { status: 'refused', reason: out.reason } : { status: 'applied' }) })
  }
  if (p.admission) {
    const out = applyKeeperAdmission(moved, p.admission, entry.index)
    return receipt(out.state, { type: 'KeeperAdmission', ...(out.reason ? { status: 'refused', reason: out.reason } : { status: 'applied' }) })
  }
  if (p.removal) {
    const out = applyKeeperRemoval(moved, p.removal)
    return receipt(out.state, { type: 'KeeperRemoval', ...(out.reason ? { status: 'refused', reason: out.reason } : { status: 'applied' }) })
  }

  const { command, signer } = p
  const now = entry.timestamp
  const id = command.message.datasetId.toLowerCase() as Hex
  const about = { datasetId: id, type: command.type }
  const refuse = (reason: RefusalReason) => {
    if (p.dek) p.dek.fill(0)
    return receipt(moved, { status: 'refused', reason, ...about })
  }

  const nonces = state.usedNonces.get(signer)
  const spentUntil = nonces?.get(command.message.nonce)
  if (spentUntil !== undefined && spentUntil > now) return refuse('replayed-nonce')

  const existing = state.datasets.get(id)
  let record: DatasetRecord
  let unrecoverableAfterEpoch: bigint | undefined
  // A second record a command changes: the pool a contribution joins or leaves.
  let pool: { id: Hex; record: DatasetRecord } | undefined
  const fresh = { grants: new Map(), budget: { spent: 0, perAnalyst: new Map() }, registeredAtIndex: entry.index, registeredEpoch: entry.epoch, deleted: false } as const
  if (command.type === 'RegisterPool') {
    if (existing) return refuse('already-registered')
    const purpose = normalizePurpose(command.message.purpose)
    if (purpose.length === 0 || purpose.length > MAX_PURPOSE_LENGTH) return refuse('malformed')
    record = datasetRecord({ ...fresh, owner: signer, manifestCid: command.message.manifestCid, dek: null, dekHash: null, policy: DEFAULT_POLICY, pool: Object.freeze({ purpose, contributions: Object.freeze([]) }) })
  } else if (command.type === 'Contribute') {
    if (existing) return refuse('already-registered')
    const poolId = command.message.pool.toLowerCase() as Hex
    const target = state.datasets.get(poolId)
    if (!target) return refuse('unknown-dataset')
    if (target.deleted) return refuse('dataset-deleted')
    if (!target.pool) return refuse('not-a-pool')
    const contribution = Object.freeze({ pool: poolId, allow: Object.freeze(normalizePurposes(command.message.allow)), deny: Object.freeze(normalizePurposes(command.message.deny)), withdrawn: false })
    record = datasetRecord({ ...fresh, owner: signer, manifestCid: command.message.manifestCid, dek: p.dek!, dekHash: command.message.sealedKeyHash.toLowerCase() as Hex, policy: DEFAULT_POLICY, contribution })
    pool = { id: poolId, record: datasetRecord({ ...target, pool: withContribution(target, id, true)! }) }
  } else if (command.type === 'RegisterDataset') {
    if (existing) return refuse('already-registered')
    record = datasetRecord({
      owner: signer,
      manifestCid: command.message.manifestCid,
      dek: p.dek!,
      dekHash: command.message.sealedKeyHash.toLowerCase() as Hex,
      policy: DEFAULT_POLICY,
      grants: new Map(),
      budget: { spent: 0, perAnalyst: new Map() },
      registeredAtIndex: entry.index,
      registeredEpoch: entry.epoch,
      deleted: false,
    })
  } else {
    if (!existing) return refuse('unknown-dataset')
    if (existing.deleted) return refuse('dataset-deleted')
    // The writer the owner set may append (UpdateManifest) or rewrite under a new key (RotateKey), nothing else.
    const writes = command.type === 'UpdateManifest' || command.type === 'RotateKey'
    if (existing.owner !== signer && !(writes && existing.writer === signer)) return refuse('not-owner')
    switch (command.type) {
      case 'Grant': {
        const grants = new Map(existing.grants)
        const grant: GrantRecord = Object.freeze({ expiresAt: command.message.expiresAt, usesLeft: command.message.uses === 0 ? null : command.message.uses })
        grants.set(command.message.grantee.toLowerCase() as Address, grant)
        record = datasetRecord({ ...existing, grants })
        break
      }
      case 'Revoke': {
        const grants = new Map(existing.grants)
        grants.delete(command.message.grantee.toLowerCase() as Address)
        record = datasetRecord({ ...existing, grants })
        break
      }
      case 'SetPolicy':
        record = datasetRecord({ ...existing, policy: p.policy! })
        break
      case 'SetWriter': {
        const { writer: _old, ...rest } = existing
        const writer = command.message.writer.toLowerCase() as Address
        record = datasetRecord(writer === zeroAddress ? rest : { ...rest, writer })
        break
      }
      case 'UpdateManifest':
        record = datasetRecord({ ...existing, manifestCid: command.message.manifestCid })
        break
      case 'RotateKey':
        // The old key is shredded as a Delete's is; the new one's ciphertext is in this entry, sealed to its epoch.
        existing.dek?.fill(0)
        record = datasetRecord({ ...existing, dek: p.dek!, dekHash: command.message.keyHash.toLowerCase() as Hex, manifestCid: command.message.manifestCid, registeredEpoch: entry.epoch })
        unrecoverableAfterEpoch = existing.registeredEpoch
        break
      case 'SetConsent': {
        if (!existing.contribution) return refuse('not-a-contribution')
        const m = command.message
        record = datasetRecord({ ...existing, contribution: Object.freeze({ pool: existing.contribution.pool, allow: Object.freeze(normalizePurposes(m.allow)), deny: Object.freeze(normalizePurposes(m.deny)), withdrawn: m.withdrawn }) })
        break
      }
      case 'Delete': {
        // Crypto-shredding starts here: the key bytes are zeroed in place, for every state sharing them.
        existing.dek?.fill(0)
        record = datasetRecord({ ...existing, dek: null, dekHash: null, grants: new Map(), deleted: true })
        unrecoverableAfterEpoch = existing.registeredEpoch
        // A deleted contribution leaves its pool's list: no later charge names it.
        const of = existing.contribution ? state.datasets.get(existing.contribution.pool) : undefined
        if (existing.contribution && of?.pool) pool = { id: existing.contribution.pool, record: datasetRecord({ ...of, pool: withContribution(of, id, false)! }) }
        break
      }
    }
  }

  const nextNonces = new Map<bigint, bigint>()
  for (const [n, exp] of nonces ?? []) if (exp > now) nextNonces.set(n, exp) // prune expired
  nextNonces.set(command.message.nonce, command.message.expiry)
  let datasets = moved.datasets.set(id, record)
  if (pool) datasets = datasets.set(pool.id, pool.record)
  const next: CustodyState = { ...moved, datasets, usedNonces: moved.usedNonces.set(signer, nextNonces as NonceSet) }
  return receipt(next, { status: 'applied', ...about, ...(unrecoverableAfterEpoch !== undefined ? { unrecoverableAfterEpoch } : {}) })
}

/** Charges a job's use and ε (or records why not); either way the job is recorded, once. */
function applyJobCharge(state: CustodyState, charge: JobCharge, entry: InboxEntry): { state: CustodyState; reason?: RefusalReason } {
  const key = jobChargeKey(charge.jobId)
  if (state.jobCharges.has(key)) return { state, reason: 'duplicate-job' }
  const { jobId: _jobId, admitted, ...fields } = charge
  // The analysis is sealed, but the job declares its kind and function hash in clear: the policy's
  // terms on them are checked here, before anything is spent; a release checks the sealed analysis
  // is what was declared (enclave/jobs.ts judgeRelease).
  const request = { datasetId: charge.datasetId, analyst: charge.analyst, ...(charge.analysisKind ? { analysis: charge.analysisKind } : {}), epsilon: epsilonOfMicros(charge.epsilonMicros), now: entry.timestamp, admitted }
  const refused = (reason: RefusalReason) => {
    const record: JobChargeRecord = Object.freeze({ ...fields, index: entry.index, status: 'refused', reason })
    return { state: { ...state, jobCharges: state.jobCharges.set(key, record) }, reason }
  }
  const decision = checkAccess(state, request)
  if (!decision.ok) return refused(decision.reason === 'deleted' ? 'dataset-deleted' : decision.reason)
  const dataset = getDataset(state, charge.datasetId)!
  const denial = charge.analysisKind === undefined ? undefined : analysisDenial(dataset.policy, charge.analysisKind === 'function' ? { kind: 'function', functionHash: charge.functionHash ?? '0x' } : { kind: 'sql' })
  if (denial) return refused(denial)
  // A pool job reads the contributions that consent to its purpose now (pool.ts); none: nothing to run on.
  const inputs = dataset.pool ? poolInputs(state, charge.datasetId, charge.purpose ?? '') : undefined
  if (inputs?.length === 0) return refused('no-contributions')
  const charged = chargeAccess(state, request).state
  const record: JobChargeRecord = Object.freeze({ ...fields, index: entry.index, status: 'charged', ...(inputs ? { inputs: Object.freeze(inputs) } : {}) })
  return { state: { ...charged, jobCharges: charged.jobCharges.set(key, record) } }
}

function checkOrder(state: CustodyState, entry: InboxEntry, currentEpoch: bigint): void {
  if (entry?.index !== state.processed) {
    throw new W3aError('CUSTODY_OUT_OF_ORDER', 'Inbox entries must be applied in index order', { details: [`next index: ${state.processed}`, `given: ${String(entry?.index)}`] })
  }
  if (typeof currentEpoch !== 'bigint' || currentEpoch < state.epoch || currentEpoch >= U64) {
    throw new W3aError('CUSTODY_OUT_OF_ORDER', 'An inbox entry cannot be mined in an earlier epoch than the entries before it', { details: [`last epoch: ${state.epoch}`, `given: ${String(currentEpoch)}`] })
  }
}

function checkEntry(entry: InboxEntry): void {
  const u64 = (n: unknown) => typeof n === 'bigint' && n >= 0n && n < U64
  if (!u64(entry?.index) || !u64(entry.epoch) || !u64(entry.blockNumber) || !u64(entry.timestamp) || !(entry.ciphertext instanceof Uint8Array) || typeof entry.sender !== 'string' || !isAddress(entry.sender, { strict: false })) {
    throw new W3aError('INVALID_ARGUMENT', 'Inbox entry fields are missing or out of range')
  }
}

function describe(command: OwnerCommand | undefined): { datasetId?: Hex; type?: OwnerCommandType } {
  return command ? { datasetId: command.message.datasetId.toLowerCase() as Hex, type: command.type } : {}
}

function wipe<T>(dek: Uint8Array | undefined, value: T): T {
  dek?.fill(0)
  return value
}
