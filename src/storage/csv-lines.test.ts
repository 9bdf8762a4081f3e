import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { csvRecordLines } from './csv-lines.js'

test('record lines follow quoted line breaks, CRLF and blank lines', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'w3a-csv-lines-'))
  try {
    const f = join(dir, 'a.csv')
    await writeFile(f, 'a,"b\r\nc"\r\n1,x\r\n\r\n2,"y\n""z"""\n3,w\n\n\n4,v')
    assert.deepEqual(await csvRecordLines(f, [3, 0, 1, 2, 9]), [10, 3, 5, 7, -1])
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
})
