import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { appendFileSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { seal, unseal } from '../tee/index.js'
import { INGEST_LOG_LABEL, IngestLog, type LogCheckpoint } from './ingest-log.js'

/** A log in a fresh dir, first generation pinned in memory (as the sealed head would). */
function openLog() {
  const dir = mkdtempSync(join(tmpdir(), 'w3a-ingest-log-'))
  const key = randomBytes(32)
  let pinned: LogCheckpoint | undefined
  const pin = (c: LogCheckpoint) => void (pinned = c)
  const log = new IngestLog<Record<string, unknown>>(dir, key)
  log.replay(undefined, pin)
  const file = () => join(dir, readdirSync(dir).find((n) => n.endsWith('.wal'))!)
  /** The plaintext JSON of each frame on disk. */
  const frames = () => {
    const bytes = readFileSync(file())
    const out: Record<string, unknown>[] = []
    for (let at = 0; at + 4 <= bytes.length; at += 4 + bytes.readUInt32BE(at)) out.push(JSON.parse(new TextDecoder().decode(unseal(key, bytes.subarray(at + 4, at + 4 + bytes.readUInt32BE(at)), { label: INGEST_LOG_LABEL }))))
    return out
  }
  /** The rows a restart reads back. */
  const reopen = () => {
    log.close()
    const again = new IngestLog<Record<string, unknown>>(dir, key)
    const rows = again.replay(pinned, pin)
    again.close()
    return rows
  }
  return { dir, key, log, file, frames, reopen, done: () => rmSync(dir, { recursive: true, force: true }) }
}

const row = (n: number) => ({ site: '0xab', page: `/p/${n}`, n, durationS: n / 4, props: '' })

describe('ingest log frames', () => {
  it('keeps rows of one shape as keys once and values per row, and reads them back as they were', async () => {
    const t = openLog()
    try {
      await Promise.all([row(1), row(2), row(3)].map((r) => t.log.append([r])))
      const last = t.frames().at(-1)!
      assert.deepEqual(last['keys'], ['site', 'page', 'n', 'durationS', 'props'])
      assert.deepEqual(last['rows'], [['0xab', '/p/1', 1, 0.25, ''], ['0xab', '/p/2', 2, 0.5, ''], ['0xab', '/p/3', 3, 0.75, '']])
      assert.deepEqual(t.reopen(), [row(1), row(2), row(3)])
    } finally {
      t.done()
    }
  })

  it('keeps rows of other shapes (other keys or order, an undefined value, nested values) as objects, exactly', async () => {
    const t = openLog()
    try {
      const odd = [{ page: '/x', site: '0xab', n: 2, durationS: 0, props: '' }, { ...row(3), props: undefined }, { a: { b: [1, 'c'] }, n: 4 }]
      for (const r of odd) await t.log.append([row(0), r])
      for (const f of t.frames().slice(1)) assert.equal(f['keys'], undefined, 'no keys: rows as objects')
      assert.deepEqual(t.reopen(), odd.flatMap((r) => [row(0), JSON.parse(JSON.stringify(r))]))
    } finally {
      t.done()
    }
  })

  it('reads frames of the earlier layout (rows as objects) before and after new ones', async () => {
    const t = openLog()
    try {
      await t.log.append([row(1)])
      t.log.close()
      const g = /events\.([0-9a-f]{32})\.wal$/.exec(t.file())![1]
      const sealed = Buffer.from(seal(t.key, new TextEncoder().encode(JSON.stringify({ g, i: 2, rows: [row(2)] })), { label: INGEST_LOG_LABEL }))
      const length = Buffer.alloc(4)
      length.writeUInt32BE(sealed.length)
      appendFileSync(t.file(), Buffer.concat([length, sealed]))
      assert.deepEqual(t.reopen(), [row(1), row(2)])
    } finally {
      t.done()
    }
  })
})
