/**
 * The importer's leaf stage, rebuilt so that producing bytes, hashing and writing run
 * side by side. It makes exactly the leaves the stock one makes with `rawLeaves` (CIDv1,
 * raw codec, sha2-256 of the chunk), so CIDs do not change.
 *
 * Why: the stock stage pulls a batch of chunks, then hashes them one by one on the main
 * thread, then waits for the whole batch to be written before pulling more. With a
 * CPU-bound source (segment encryption) that serializes encrypt → hash → write. Here a
 * background loop keeps cutting chunks (running the source) while earlier leaves are
 * hashed by WebCrypto, which Node runs on its thread pool, and written by the blockstore,
 * bounded by a window of leaves in flight.
 */
import type { BufferImporter } from 'ipfs-unixfs-importer'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import * as Digest from 'multiformats/hashes/digest'
import { sha256 } from 'multiformats/hashes/sha2'

type Leaf = { cid: CID; size: bigint; block: Uint8Array }

/** Leaves cut but not yet taken by the importer: 64 × 256 KiB = 16 MiB at most. */
const WINDOW = 64

export const pipelinedRawLeaves: BufferImporter = async function* (file, blockstore) {
  const ready: Promise<Leaf>[] = []
  let finished = false
  let failed: { error: unknown } | undefined
  let stopped = false
  let wakeProducer: (() => void) | undefined
  let wakeConsumer: (() => void) | undefined
  const wake = (w: (() => void) | undefined) => w?.()

  const producer = (async () => {
    try {
      for await (const block of file.content) {
        if (stopped) return
        const leaf = (async (): Promise<Leaf> => {
          const digest = new Uint8Array(await globalThis.crypto.subtle.digest('SHA-256', block as Uint8Array<ArrayBuffer>))
          const cid = CID.createV1(raw.code, Digest.create(sha256.code, digest))
          await blockstore.put(cid, block)
          return { cid, size: BigInt(block.length), block }
        })()
        // Awaited by the importer later; this only stops an early failure from being
        // reported as an unhandled rejection meanwhile.
        leaf.catch(() => undefined)
        ready.push(leaf)
        wake(wakeConsumer)
        while (ready.length >= WINDOW && !stopped) await new Promise<void>((r) => (wakeProducer = r))
      }
      finished = true
    } catch (error) {
      failed = { error }
    } finally {
      wake(wakeConsumer)
    }
  })()

  try {
    for (;;) {
      const next = ready.shift()
      if (next !== undefined) {
        wake(wakeProducer)
        yield () => next
        continue
      }
      if (failed !== undefined) throw failed.error
      if (finished) return
      await new Promise<void>((r) => (wakeConsumer = r))
    }
  } finally {
    // Done, or the importer stopped early (an error elsewhere): let the producer end too.
    // Not awaited: a source that never yields again must not hang the importer's error.
    stopped = true
    wake(wakeProducer)
    void producer
  }
}
