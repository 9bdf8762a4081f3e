import { createReadStream } from 'node:fs'
import type { CID } from 'multiformats/cid'
import { createMemoryBlockstore, exportCar, importBytes } from '../storage/index.js'
import type { W3aClient } from './client.js'
import { uploadCar } from './upload-car.js'

/** Segment files are read in pieces of this size and sealed as they arrive. */
const READ_PIECE_SIZE = 1024 * 1024

/**
 * One segment file to the gateway, the way `uploadDataset` sends it: read in 1 MiB pieces, each
 * piece through `seal` (the dataset envelope, encryptSegmentStream) and cut into UnixFS leaves in an
 * in-memory blockstore, then sent as one CAR signed by the client's account (upload-car.ts), which the
 * gateway checks and imports into its storage.
 * The pieces read are zeroed once the CAR is sent (they are held until then either way).
 * `seal` is a parameter so the upload benchmark can time this same path with encryption left out.
 */
export async function sendSegment(
  client: W3aClient,
  params: { path: string; seal: (pieces: AsyncIterable<Uint8Array>) => AsyncIterable<Uint8Array>; onImported?: () => void },
): Promise<{ cid: CID; plaintextBytes: number; storedBytes: number }> {
  const read: Buffer[] = []
  let plaintextBytes = 0
  async function* pieces(): AsyncGenerator<Uint8Array> {
    for await (const piece of createReadStream(params.path, { highWaterMark: READ_PIECE_SIZE }) as AsyncIterable<Buffer>) {
      read.push(piece)
      plaintextBytes += piece.length
      yield piece
    }
  }
  const blocks = createMemoryBlockstore()
  try {
    const imported = await importBytes(blocks, params.seal(pieces()))
    params.onImported?.()
    await uploadCar(client, { root: imported.cid, car: () => exportCar(blocks, imported.cid) })
    return { cid: imported.cid, plaintextBytes, storedBytes: imported.size }
  } finally {
    // After the CAR is sent: the blocks may be views of the pieces (a seal that passes bytes through).
    for (const p of read) p.fill(0)
  }
}
