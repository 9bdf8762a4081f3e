/**
 * Replaying a run of inbox entries the way a keeper does: the keyring moves to each entry's
 * block epoch, entries apply strictly in index order, and the result is exactly what calling
 * `applyInboxEntry` one entry at a time gives (same states, roots and receipts).
 *
 * Why not just that loop: the stateless half of an entry (HPKE open, parse, signature check,
 * `prepareInboxEntry`) does not depend on earlier entries, and HPKE spends much of its time in
 * WebCrypto jobs off the main thread. So upcoming entries of the same epoch are prepared ahead,
 * up to `lookahead` at a time, and that waiting overlaps with other entries' work. The keyring
 * only moves once nothing is in flight.
 */
import type { LocalAccount } from 'viem'
import { W3aError } from '../core/errors.js'
import { applyPreparedEntry, prepareInboxEntry, type ApplyContext, type PreparedEntry } from './apply.js'
import type { InboxEntry } from './inbox-head.js'
import { signReceipt, type CustodyReceipt, type SignedCustodyReceipt } from './receipt.js'
import type { CustodyState } from './state.js'

export type ReplayContext = Omit<ApplyContext, 'currentEpoch' | 'signer'> & {
  /** Blocks per epoch (registry parameter): an entry's epoch is blockNumber / epochLength. */
  epochLength: bigint
  /** Sign every receipt with the keeper's worker key. */
  signer?: LocalAccount
  /** Entries prepared ahead (default 8). */
  lookahead?: number
  /** Moves the keyring forward to an entry's epoch, with whatever the caller keeps per epoch (default: keyring.advanceTo). */
  enterEpoch?: (epoch: bigint) => void
  /**
   * The enclave's rule (service.ts): an entry mined in an epoch the keyring already left applies
   * at the keyring's epoch (its host's head may have run ahead). Default: EPOCH_REGRESSION.
   */
  lateEntriesAtKeyringEpoch?: boolean
  /** Called after each entry applies, in order: a caller that must not lose progress when a later entry throws keeps it here. */
  onApplied?: (state: CustodyState, receipt: CustodyReceipt | SignedCustodyReceipt) => void
}

/** Applies `entries` (consecutive, starting at `state.processed`) in order; returns the final state and one receipt per entry. */
export async function replayInbox(
  state: CustodyState,
  entries: readonly InboxEntry[],
  ctx: ReplayContext,
): Promise<{ state: CustodyState; receipts: (CustodyReceipt | SignedCustodyReceipt)[] }> {
  const { keyring, epochLength } = ctx
  if (typeof epochLength !== 'bigint' || epochLength <= 0n) throw new W3aError('INVALID_ARGUMENT', 'epochLength must be a positive bigint')
  const lookahead = Math.max(1, Math.floor(ctx.lookahead ?? 8))
  entries.forEach((e, k) => {
    if (e?.index !== state.processed + BigInt(k)) {
      throw new W3aError('CUSTODY_OUT_OF_ORDER', 'Inbox entries must be consecutive, starting at the next index', { details: [`next index: ${state.processed + BigInt(k)}`, `given: ${String(e?.index)}`] })
    }
  })
  const receipts: (CustodyReceipt | SignedCustodyReceipt)[] = []
  const pending: Promise<PreparedEntry>[] = []
  let next = 0
  const enter = ctx.enterEpoch ?? ((epoch: bigint) => keyring.advanceTo(epoch))
  const epochOf = (e: InboxEntry): bigint => {
    const mined = e.blockNumber / epochLength
    return ctx.lateEntriesAtKeyringEpoch === true && mined < keyring.epoch ? keyring.epoch : mined
  }
  const prepareCtx: ApplyContext = {
    keyring,
    chainId: ctx.chainId,
    inbox: ctx.inbox,
    currentEpoch: 0n,
    ...(ctx.jobs !== undefined ? { jobs: ctx.jobs } : {}),
    ...(ctx.keeperSet !== undefined ? { keeperSet: ctx.keeperSet } : {}),
  }
  for (let i = 0; i < entries.length; i++) {
    if (pending.length === 0) {
      const epoch = epochOf(entries[i]!)
      if (epoch !== keyring.epoch) enter(epoch) // an earlier one throws EPOCH_REGRESSION
    }
    while (next < entries.length && next - i < lookahead && epochOf(entries[next]!) === keyring.epoch) {
      const entry = entries[next]!
      const p = prepareInboxEntry(entry, { ...prepareCtx, currentEpoch: keyring.epoch })
      p.catch(() => undefined) // a failure surfaces when its turn comes, not as an unhandled rejection
      pending.push(p)
      next++
    }
    const prepared = await pending.shift()!
    const out = applyPreparedEntry(state, prepared)
    state = out.state
    const receipt = ctx.signer ? await signReceipt(out.receipt, ctx.signer) : out.receipt
    receipts.push(receipt)
    ctx.onApplied?.(state, receipt)
  }
  return { state, receipts }
}
