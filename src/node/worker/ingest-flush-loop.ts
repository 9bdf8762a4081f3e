/**
 * The host's half of appending web-analytics rows to their sites' datasets (src/enclave/ingest.ts):
 * every `flushMs` it asks the enclave for the next segment of each site with waiting rows
 * (ingestFlush: the enclave makes, seals and stores the segment and signs the manifest update),
 * then sends the two transactions the enclave built (the host picks gas and nonce, never the call):
 * first the custody UpdateManifest command, then, once a keeper applied it, the DatasetRegistry
 * update; then it reports them mined (ingestConfirm) and the rows leave the enclave's log.
 * A refused command (the owner has not named this worker the site's writer) is abandoned: the
 * rows stay in the log and go into the next attempt. A command not applied yet is waited for
 * (its receipt checked again each round, the command not posted again): abandoning it would let
 * custody take a manifest the registry never gets, and every job would then fail on the mismatch.
 *
 * A visitor's deletion takes the same path (kind 'rewrite'): the enclave rewrites the site's
 * stored segments under a new site key and the custody command is RotateKey (carrying that key,
 * sealed); after the confirm the enclave unpins the old segments itself.
 */
import { parseEventLogs, type Address, type Hex } from 'viem'
import { custodyInboxAbi, getCurrentEpoch, getEpochKey, type ChainPublicClient } from '../../chain/index.js'
import type { IngestFlushItem, OwnTxKind } from '../../enclave/service.js'
import type { EnclaveCaller } from './enclave-caller.js'

export type IngestFlushLoopParameters = {
  caller: EnclaveCaller
  publicClient: ChainPublicClient
  workerRegistry: Address
  sendOwnTx: (kind: OwnTxKind, o?: { site?: Hex }) => Promise<Hex>
  /** A keeper reads its own receipts (its sync applies the command); other workers cannot check them. */
  keeper?: {
    syncNow: () => Promise<void>
    receipt: (index: bigint) => Record<string, unknown> | undefined
    /** Has the peers witness the enclave's sealed state: a confirm changed the site book and compacted the log (rollback protection). */
    commitState: () => Promise<void>
  }
  flushMs: number
  log: (line: string) => void
}

export function startIngestFlushLoop(p: IngestFlushLoopParameters): { flushNow: () => Promise<void>; stop: () => Promise<void> } {
  let running: Promise<void> | undefined
  // Keeper: each site's custody command on chain whose receipt has not come yet, by the manifest it carries.
  const posted = new Map<Hex, { manifestCid: string; index: bigint }>()
  const once = async () => {
    const epochKey = p.keeper ? undefined : await agreedEpochKey(p)
    const ready = await p.caller.call<IngestFlushItem[]>('ingestFlush', epochKey ? { epochKey } : {})
    for (const u of ready) {
      if (u.error !== undefined) {
        p.log(u.kind === 'rewrite' ? `site ${u.site.slice(0, 10)}…: a visitor deletion could not rewrite its stored segments (${u.error}); its new rows wait, retried next round` : `site ${u.site.slice(0, 10)}…: its next segment could not be made (${u.error}); its rows wait, retried next round`)
        continue
      }
      try {
        if (p.keeper) {
          let entry = posted.get(u.site)
          if (entry?.manifestCid !== u.manifestCid) {
            const receipt = await p.publicClient.getTransactionReceipt({ hash: await p.sendOwnTx('siteCommand', { site: u.site }) })
            const [event] = parseEventLogs({ abi: custodyInboxAbi, logs: receipt.logs, eventName: 'CommandPosted' })
            if (!event) throw new Error(`transaction ${receipt.transactionHash} posted no custody command`)
            entry = { manifestCid: u.manifestCid, index: event.args.index }
            posted.set(u.site, entry)
          }
          // A sync already under way may have read the inbox before this entry: sync until its receipt is there.
          let r: Record<string, unknown> | undefined
          for (let i = 0; i < 5 && !r; i++) {
            await p.keeper.syncNow()
            r = p.keeper.receipt(entry.index)
          }
          if (!r) {
            p.log(`site ${u.site.slice(0, 10)}…: custody has not applied its manifest update (inbox entry ${entry.index}) yet; checked again next round`)
            continue
          }
          posted.delete(u.site)
          if (r['status'] !== 'applied') {
            p.log(`site ${u.site.slice(0, 10)}…: custody refused its manifest update (${String(r['reason'] ?? 'no reason given')}); the rows wait in the log`)
            await p.caller.call('ingestAbandon', { site: u.site })
            continue
          }
        } else {
          await p.sendOwnTx('siteCommand', { site: u.site })
        }
        await p.sendOwnTx('siteManifest', { site: u.site })
        await p.caller.call('ingestConfirm', { site: u.site, manifestCid: u.manifestCid })
        await p.keeper?.commitState().catch((e) => p.log(`ingest state not yet witnessed by the peer keepers: ${(e as Error).message}`))
        p.log(`site ${u.site.slice(0, 10)}…: ${u.rows} row(s) ${u.kind === 'rewrite' ? 'deleted from its stored segments (rewritten under a new site key)' : 'appended'}, manifest ${u.manifestCid}`)
      } catch (e) {
        p.log(`site ${u.site.slice(0, 10)}…: manifest update failed (${(e as Error).message}); retried next round`)
      }
    }
  }
  const flushNow = () => (running ??= once().finally(() => (running = undefined)))
  const timer = setInterval(() => void flushNow().catch((e) => p.log(`ingest flush failed: ${(e as Error).message}`)), p.flushMs)
  return {
    flushNow,
    async stop() {
      clearInterval(timer)
      await running?.catch(() => {})
    },
  }
}

async function agreedEpochKey(p: IngestFlushLoopParameters): Promise<{ epoch: bigint; publicKey: Hex } | undefined> {
  const epoch = await getCurrentEpoch(p.publicClient, { registry: p.workerRegistry })
  const publicKey = await getEpochKey(p.publicClient, { registry: p.workerRegistry, epoch })
  return publicKey === null ? undefined : { epoch, publicKey }
}
