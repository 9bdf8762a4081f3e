/**
 * A keeper outside its enclave's custody keeper set asks to be admitted until it is in.
 *
 * Why asking once is not enough: a joiner collects approvals from a strict majority of the set it
 * sees. Two keepers joining a set of one at the same time each bring the one member's approval;
 * the first admission applied grows the set to two (quorum two), so the second, approved for the
 * old set, is refused as `quorum-not-reached` (custody/keeper-set.ts). A member that is down or
 * slow makes an attempt fall short in the same way. Asking again against the set as it is now
 * admits it. A retry is only the host asking again: every check (each approver's enclave verifying
 * the quote, the applying enclaves counting a majority of their own set) stays inside the enclaves.
 */
import { randomInt } from 'node:crypto'
import { W3aError, isW3aError } from '../../core/errors.js'

/** First wait after a failed attempt; doubles up to the maximum, each wait between half and all of it. */
export const KEEPER_JOIN_FIRST_DELAY_MS = 2_000
export const KEEPER_JOIN_MAX_DELAY_MS = 60_000

export type KeeperJoinSteps = {
  /** Whether the enclave's own keeper set has it (after a sync). */
  isMember(): Promise<boolean>
  /** Collects approvals and posts the admission (keeper-quorum.ts joinKeeperSet); the entry's inbox index, or undefined if already a member. */
  postAdmission(): Promise<bigint | undefined>
  /** Applies the inbox up to the chain head. */
  sync(): Promise<void>
  /** The enclave's receipt's refusal reason for inbox entry `index`, if it refused it. */
  refusal(index: bigint): string | undefined
}

/** One attempt: resolves once a member; throws KEEPER_NOT_ADMITTED saying why not. */
export async function attemptKeeperJoin(s: KeeperJoinSteps): Promise<void> {
  if (await s.isMember()) return
  let index: bigint | undefined
  try {
    index = await s.postAdmission()
  } catch (e) {
    if (isW3aError(e, 'KEEPER_NOT_ADMITTED')) throw e
    throw new W3aError('KEEPER_NOT_ADMITTED', `could not ask the keeper set for admission: ${(e as Error).message.split('\n')[0]}`, { cause: e })
  }
  if (index === undefined) return
  // Two passes: a sync already under way may have read the head before the entry was mined.
  await s.sync()
  await s.sync()
  if (await s.isMember()) return
  const reason = s.refusal(index)
  throw new W3aError('KEEPER_NOT_ADMITTED', `admission entry ${index} was ${reason ? `refused by the keeper set (${reason})` : 'not applied yet'}`, {
    details: reason === 'quorum-not-reached' ? ['Another keeper joined first and the quorum grew; asking the larger set again.'] : [],
  })
}

/**
 * Attempts until a member, waiting with doubling, jittered backoff between attempts (bounded by
 * KEEPER_JOIN_MAX_DELAY_MS), one log line per failed attempt with its reason.
 */
export function startKeeperJoinLoop(p: {
  steps: KeeperJoinSteps
  log: (line: string) => void
  onJoined?: () => void | Promise<void>
  firstDelayMs?: number
  maxDelayMs?: number
}): { stop(): Promise<void>; joined: Promise<boolean>; firstAttempt: Promise<boolean> } {
  const first = p.firstDelayMs ?? KEEPER_JOIN_FIRST_DELAY_MS
  const max = p.maxDelayMs ?? KEEPER_JOIN_MAX_DELAY_MS
  let stopped = false
  let wake: (() => void) | undefined
  let timer: NodeJS.Timeout | undefined
  const sleep = (ms: number) => new Promise<void>((r) => ((wake = r), (timer = setTimeout(r, ms))))
  // Whether the first attempt admitted it: a worker's start waits for that much, so on the common
  // path "ready" still means "in the set"; a refusal only means it keeps asking.
  let firstDone: (admitted: boolean) => void = () => undefined
  const firstAttempt = new Promise<boolean>((r) => (firstDone = r))
  const joined = (async () => {
    for (let attempt = 1, delay = first; !stopped; attempt++, delay = Math.min(max, delay * 2)) {
      try {
        await attemptKeeperJoin(p.steps)
        firstDone(true)
        await p.onJoined?.()
        return true
      } catch (e) {
        firstDone(false)
        // Jitter: joiners refused together do not all ask again at the same moment.
        const wait = Math.round(delay / 2) + randomInt(Math.round(delay / 2) + 1)
        p.log(`not in the custody keeper set yet (attempt ${attempt}): ${isW3aError(e) ? e.shortMessage : (e as Error).message.split('\n')[0]}; asking again in ${Math.round(wait / 1000)} s`)
        await sleep(wait)
      }
    }
    firstDone(false)
    return false
  })()
  return {
    joined,
    firstAttempt,
    async stop() {
      stopped = true
      clearTimeout(timer)
      wake?.()
      await joined
    },
  }
}
