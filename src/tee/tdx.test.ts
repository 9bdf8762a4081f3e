import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { basename, dirname, join } from 'node:path'
import { bytesToHex, hexToBytes } from 'viem'
import { createTdxEnclave, type TsmFs } from './tdx.js'
import { verifyDcapQuote, dcapQuoteFields } from './dcap.js'
import { isW3aError } from '../core/errors.js'
import { TEE_SAMPLES as SAMPLES } from '../../test/fixtures/tee-samples.js'

const sample = new Uint8Array(readFileSync(SAMPLES + 'tdx_quote'))
const sampleCol: unknown = JSON.parse(readFileSync(SAMPLES + 'tdx_quote_collateral.json', 'utf8'))
const sampleRd = hexToBytes(dcapQuoteFields(sample).reportData)
const REPORT_DATA_OFFSET = 48 + 520

type Kernel = { provider?: string; outblob?: (inblob: Uint8Array) => Uint8Array; extraWrites?: number }

/**
 * Simulates configfs-tsm on a temp directory: mkdir of an entry lays out provider, generation
 * and outblob; a write to inblob bumps generation; rmdir removes the entry. (Plain files cannot
 * do this by themselves, hence the TsmFs seam.)
 */
function kernelFs(k: Kernel, log: string[]): TsmFs {
  const inblobs = new Map<string, Uint8Array>()
  return {
    async mkdir(p) {
      await mkdir(p) // fails if the entry exists: it must be fresh
      await writeFile(join(p, 'provider'), `${k.provider ?? 'tdx_guest'}\n`)
      await writeFile(join(p, 'generation'), '0\n')
      await writeFile(join(p, 'outblob'), sample)
      log.push('mkdir')
    },
    async writeFile(p, data) {
      assert.equal(basename(p), 'inblob')
      await writeFile(p, data)
      inblobs.set(dirname(p), data)
      const g = Number((await readFile(join(dirname(p), 'generation'), 'utf8')).trim()) + 1 + (k.extraWrites ?? 0)
      await writeFile(join(dirname(p), 'generation'), `${g}\n`)
      if (k.outblob) await writeFile(join(dirname(p), 'outblob'), k.outblob(data))
      log.push('write inblob')
    },
    async readFile(p) {
      log.push(`read ${basename(p)}`)
      return readFile(p)
    },
    async rmdir(p) {
      await rm(p, { recursive: true })
      log.push('rmdir')
    },
  }
}

/** Puts the requested report data into the sample (parses, but no longer verifies: enough for measurement()). */
const patching = (inblob: Uint8Array) => {
  const q = sample.slice()
  q.set(inblob, REPORT_DATA_OFFSET)
  return q
}

test('quote(): fresh entry, provider, generation, inblob, outblob, generation, rmdir; the real sample verifies', async () => {
  const root = mkdtempSync(join(tmpdir(), 'w3a-tsm-'))
  const log: string[] = []
  const tee = createTdxEnclave({ tsmRoot: root, fs: kernelFs({}, log) })
  assert.equal(tee.teeType, 'tdx')
  assert.equal(tee.insecure, false)
  const q = await tee.quote(sampleRd)
  assert.deepEqual(q, sample)
  assert.deepEqual(log, ['mkdir', 'read provider', 'read generation', 'write inblob', 'read outblob', 'read generation', 'rmdir'])
  assert.deepEqual(readdirSync(root), [], 'the report entry is removed')
  const v = await verifyDcapQuote(q, { collateral: sampleCol, now: 1752105600 })
  assert.equal(v.reportData, bytesToHex(sampleRd))
  rmSync(root, { recursive: true })
})

test('a stale or foreign outblob (report data differs from inblob) is refused, and the entry still removed', async () => {
  const root = mkdtempSync(join(tmpdir(), 'w3a-tsm-'))
  const tee = createTdxEnclave({ tsmRoot: root, fs: kernelFs({}, []) })
  await assert.rejects(tee.quote(new Uint8Array(64).fill(9)), (e) => isW3aError(e, 'REPORT_DATA_MISMATCH'))
  assert.deepEqual(readdirSync(root), [])
  rmSync(root, { recursive: true })
})

test('a concurrent write to the entry (generation jumped) is refused', async () => {
  const root = mkdtempSync(join(tmpdir(), 'w3a-tsm-'))
  const tee = createTdxEnclave({ tsmRoot: root, fs: kernelFs({ extraWrites: 1 }, []) })
  await assert.rejects(tee.quote(sampleRd), (e) => isW3aError(e, 'TEE_UNAVAILABLE') && /generation 0 → 2/.test(e.message))
  rmSync(root, { recursive: true })
})

test('another provider (not a TDX guest) is refused before anything is written', async () => {
  const root = mkdtempSync(join(tmpdir(), 'w3a-tsm-'))
  const log: string[] = []
  const tee = createTdxEnclave({ tsmRoot: root, fs: kernelFs({ provider: 'sev_guest' }, log) })
  await assert.rejects(tee.quote(sampleRd), (e) => isW3aError(e, 'TEE_UNAVAILABLE') && /sev_guest/.test(e.message))
  assert.ok(!log.includes('write inblob'))
  rmSync(root, { recursive: true })
})

test('no configfs-tsm, bad report data size: clear errors', async () => {
  const tee = createTdxEnclave({ tsmRoot: join(tmpdir(), 'w3a-no-such-tsm') })
  await assert.rejects(tee.quote(sampleRd), (e) => isW3aError(e, 'TEE_UNAVAILABLE') && /configfs-tsm is not available/.test(e.message))
  await assert.rejects(tee.quote(new Uint8Array(63)), (e) => isW3aError(e, 'INVALID_ARGUMENT'))
})

test('measurement() comes from the quote\'s own TD report', async () => {
  const root = mkdtempSync(join(tmpdir(), 'w3a-tsm-'))
  const tee = createTdxEnclave({ tsmRoot: root, fs: kernelFs({ outblob: patching }, []) })
  assert.equal(await tee.measurement(), dcapQuoteFields(sample).measurement)
  rmSync(root, { recursive: true })
})

test('sealing on tdx is refused with a clear error (needs a key provider)', async () => {
  const tee = createTdxEnclave({ tsmRoot: '/nonexistent' })
  await assert.rejects(tee.sealingKey(), (e) => isW3aError(e, 'SEALING_UNAVAILABLE') && /key provider/.test(e.message))
})
