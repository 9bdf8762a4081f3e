/**
 * The host's side of rollback protection (src/enclave/freshness.ts; custody-protocol.md,
 * "Rollback protection"): it carries its enclave's signed statements to the other keepers' hosts
 * and their signed reports back. It decides nothing: the enclave counts only reports it verifies
 * from keepers it verified itself, so a host that drops or forges messages only keeps its own
 * enclave locked.
 */
import type { Address, Hex } from 'viem'
import { W3aError, isW3aError } from '../../core/errors.js'
import { toJsonText } from '../../core/json-text.js'
import { listWorkers, type ChainPublicClient } from '../../chain/index.js'
import type { FreshnessInfo } from '../../enclave/service.js'
import type { EnclaveCaller } from './enclave-caller.js'

export type KeeperWitnesses = {
  /** At start: brings the peers' reports until the enclave is fresh; 'rolled-back' if a peer saw a later state. */
  resume(): Promise<'fresh' | 'rolled-back'>
  /** Relays the current state's statement to the peers and their acknowledgements back (no-op once committed). */
  commit(): Promise<void>
}

export function createKeeperWitnesses(params: {
  caller: EnclaveCaller
  publicClient: ChainPublicClient
  registry: Address
  self: Address
  log: (line: string) => void
  /** How long resume keeps asking while too few peers answer (default 60 s). */
  resumeTimeoutMs?: number
}): KeeperWitnesses {
  const { caller, log } = params
  // Every keeper on chain but this one, eligible or not: keepers restarted together are past their heartbeat.
  const peers = async () =>
    (await listWorkers(params.publicClient, { registry: params.registry })).filter((w) => w.isKeeper && w.address.toLowerCase() !== params.self.toLowerCase())
  /** Each peer's answer, or nothing for a peer that does not answer (the enclave judges what it gets). */
  const ask = async (path: string, body: unknown): Promise<unknown[]> => {
    const answers = await Promise.all(
      (await peers()).map(async (p) => {
        try {
          const res = await fetch(`${p.endpoint.replace(/\/+$/, '')}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: toJsonText(body) })
          if (res.ok) return (await res.json()) as unknown
          log(`keeper ${p.address} refused ${path}: ${(await res.text()).slice(0, 200)}`)
        } catch (e) {
          log(`keeper ${p.address} unreachable for ${path}: ${(e as Error).message}`)
        }
        return undefined
      }),
    )
    return answers.filter((a) => a !== undefined)
  }

  return {
    async resume() {
      const deadline = Date.now() + (params.resumeTimeoutMs ?? 60_000)
      for (;;) {
        if ((await caller.call<FreshnessInfo>('freshness')).status === 'fresh') return 'fresh'
        const nonce = await caller.call<Hex>('freshnessChallenge')
        try {
          const out = await caller.call<{ counted: Address[]; needed: number }>('resume', { reports: await ask('/v1/keeper/freshness', { keeper: params.self, nonce }) })
          log(`sealed state verified fresh by ${out.counted.length} of ${out.needed} peer keepers needed`)
          return 'fresh'
        } catch (e) {
          if (isW3aError(e, 'STATE_ROLLED_BACK')) {
            log(`!!! sealed state ROLLED BACK: ${e.details.join('; ')} — erased; recovering by hand-over !!!`)
            return 'rolled-back'
          }
          if (!isW3aError(e, 'STATE_NOT_FRESH') || Date.now() > deadline) throw e
          log(`waiting for peer keepers to vouch for this keeper's sealed state: ${e.shortMessage}`)
          await new Promise((r) => setTimeout(r, 2_000))
        }
      }
    },
    async commit() {
      if ((await caller.call<FreshnessInfo>('freshness')).committed) return
      const statement = await caller.call('witnessStatement')
      const out = await caller.call<{ committed: boolean; acks: number; needed: number }>('acceptAcks', { reports: await ask('/v1/keeper/witness', { statement }) })
      if (!out.committed) throw new W3aError('STATE_NOT_COMMITTED', `only ${out.acks} of ${out.needed} peer keepers witnessed this keeper's state`)
    },
  }
}
