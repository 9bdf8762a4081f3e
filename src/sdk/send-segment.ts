import { createReadStream } from 'node:fs'
import type { CID } from 'multiformats/cid'
import { createMemoryBlockstore, exportCar, importBytes } from '../storage/index.js'
import type { W3aClient } from './client.js'
import { uploadCar } from './upload-car.js'

/** Segment files are read in pieces of this size and sealed as they arrive. */
const READ_PIECE_SIZE = 1024 * 1024

/** Turns a segment file's plaintext pieces into the bytes stored (the dataset envelope, or the identity). */
export type SegmentSeal = (pieces: AsyncIterable<Uint8Array>, segmentIndex: number) => AsyncIterable<Uint8Array>

export type SentSegment = { cid: CID; plaintextBytes: number; storedBytes: number }

/** A segment sealed into an in-memory DAG, not yet sent; `wipe` zeroes the pieces read. */
type SealedSegment = SentSegment & { car: () => AsyncIterable<Uint8Array>; wipe: () => void }

/**
 * Segment files to the gateway, the way `uploadDataset` sends them: each read in 1 MiB pieces,
 * each piece through `seal` (the dataset envelope, encryptSegmentStream) and cut into UnixFS leaves
 * in an in-memory blockstore, then sent as one CAR signed by the client's account (upload-car.ts),
 * which the gateway checks and imports into its storage.
 *
 * Pipelined: segment N+1 is read, sealed and hashed while segment N's CAR is on its way and being
 * imported by the gateway, so the two costs overlap instead of adding up (measured in
 * bench/upload.ts). Memory stays bounded: at most two segments are held, the one being sent and
 * the one being sealed. The pieces read are zeroed once their segment's CAR is sent (blocks may be
 * views of them: a seal that passes bytes through). `onSent` runs in segment order, each before the
 * next segment's CAR is sent; a failure stops the upload and the segment being sealed is wiped too.
 * `seal` is a parameter so the upload benchmark can time this same path with encryption left out.
 */
export async function sendSegments(
  client: W3aClient,
  params: { paths: string[]; seal: SegmentSeal; onSealing?: (segmentIndex: number) => void; onImported?: (segmentIndex: number) => void; onSent?: (segmentIndex: number, sent: SentSegment) => void | Promise<void> },
): Promise<SentSegment[]> {
  const sent: SentSegment[] = []
  let sending: Promise<void> | undefined
  const send = async (segmentIndex: number, segment: SealedSegment): Promise<void> => {
    try {
      await uploadCar(client, { root: segment.cid, car: segment.car })
    } finally {
      segment.wipe()
    }
    const { cid, plaintextBytes, storedBytes } = segment
    sent.push({ cid, plaintextBytes, storedBytes })
    await params.onSent?.(segmentIndex, sent[segmentIndex]!)
  }
  try {
    for (const [segmentIndex, path] of params.paths.entries()) {
      params.onSealing?.(segmentIndex)
      const sealed = await sealSegment(path, (pieces) => params.seal(pieces, segmentIndex))
      params.onImported?.(segmentIndex)
      try {
        await sending
      } catch (e) {
        sealed.wipe()
        throw e
      }
      sending = send(segmentIndex, sealed)
      // Observed by the next iteration (or below); this only keeps an early failure from being reported unhandled meanwhile.
      sending.catch(() => undefined)
    }
    await sending
  } catch (e) {
    // Sealing failed while a CAR was on its way: let that send end (it wipes its pieces) before reporting.
    await sending?.catch(() => undefined)
    throw e
  }
  return sent
}

/** One segment file read and sealed into an in-memory UnixFS DAG, ready to stream as a CAR. */
async function sealSegment(path: string, seal: (pieces: AsyncIterable<Uint8Array>) => AsyncIterable<Uint8Array>): Promise<SealedSegment> {
  const read: Buffer[] = []
  let plaintextBytes = 0
  const wipe = () => {
    for (const p of read) p.fill(0)
  }
  async function* pieces(): AsyncGenerator<Uint8Array> {
    for await (const piece of createReadStream(path, { highWaterMark: READ_PIECE_SIZE }) as AsyncIterable<Buffer>) {
      read.push(piece)
      plaintextBytes += piece.length
      yield piece
    }
  }
  const blocks = createMemoryBlockstore()
  try {
    const imported = await importBytes(blocks, seal(pieces()))
    return { cid: imported.cid, plaintextBytes, storedBytes: imported.size, car: () => exportCar(blocks, imported.cid), wipe }
  } catch (e) {
    wipe()
    throw e
  }
}
