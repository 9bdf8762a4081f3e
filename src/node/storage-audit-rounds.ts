/**
 * The host's side of a storage audit (storage-audit.ts): a courier. It hands over the blocks the
 * enclave names, round after round, until the enclave names none; a block it cannot read is
 * simply not handed over (the enclave counts it failed). It chooses nothing.
 */
import type { AuditSample } from '../enclave/storage-audit.js'

export type HandedBlock = { cid: string; bytes: Uint8Array }

/** Runs the rounds from the first request; returns how many blocks were handed over. */
export async function handOverAuditRounds(
  first: AuditSample,
  read: (cid: string) => Promise<Uint8Array | undefined>,
  next: (blocks: HandedBlock[]) => Promise<{ need: string[] }>,
): Promise<number> {
  let need = first.sample
  let handed = 0
  while (need.length > 0) {
    const blocks: HandedBlock[] = []
    for (const cid of need) {
      const bytes = await read(cid)
      if (bytes) blocks.push({ cid, bytes })
    }
    handed += blocks.length
    need = (await next(blocks)).need
  }
  return handed
}
