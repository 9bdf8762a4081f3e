/** Shared test fixture (no tests of its own): a valid dataset manifest over the given segments. */
import type { DatasetManifest } from './manifest.js'

export function testManifest(segments: DatasetManifest['segments'], name = 'steps per day'): DatasetManifest {
  return {
    version: 1,
    datasetId: `0x${'ab'.repeat(32)}`,
    name,
    format: 'parquet',
    schema: { columns: [{ name: 'user_id', type: 'VARCHAR' }, { name: 'steps', type: 'BIGINT' }] },
    privacyUnit: 'user_id',
    rows: segments.reduce((s, x) => s + x.rows, 0),
    segments,
    envelope: { version: 1, cipher: 'AES-256-GCM', chunkSize: 65536, kdf: 'HKDF-SHA256' },
    keyWraps: [{ kind: 'owner', suite: 'X25519-HKDF-SHA256/AES-256-GCM', recipient: new Uint8Array(32).fill(1), enc: new Uint8Array(32).fill(2), ciphertext: new Uint8Array(48).fill(3) }],
    createdAt: '2025-01-02T03:04:05.000Z',
  }
}
