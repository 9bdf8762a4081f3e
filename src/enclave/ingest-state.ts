/**
 * The ingest role's sealed files under the enclave's sealed head (sealed-head.ts): the site book
 * (ingest-sites.ts) and the checkpoint of the write-ahead log (ingest-log.ts). Pinned by digest
 * with the keeper's own state and versioned with it, so peers witness them (freshness.ts) and a
 * host restoring an older copy is refused (docs/design/trust-boundary.md, "Ingest rollback").
 */
import { INGEST_CHECKPOINT_LABEL } from './ingest-log.js'
import { SITES_LABEL } from './ingest-sites.js'

export const INGEST_STATE_LABEL = { sites: SITES_LABEL, ingestlog: INGEST_CHECKPOINT_LABEL } as const
export type IngestFile = keyof typeof INGEST_STATE_LABEL

/** The head as the ingest role sees it: its files as pinned, and a save of some of them as one new version. */
export type IngestHead = {
  read(name: IngestFile): Uint8Array | undefined
  save(contents: Partial<Record<IngestFile, Uint8Array>>): void
}
