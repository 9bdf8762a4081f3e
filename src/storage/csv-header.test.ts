import assert from 'node:assert/strict'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, test } from 'node:test'
import { isW3aError } from '../core/errors.js'
import { readCsvHeader } from './csv-header.js'

const dir = await mkdtemp(join(tmpdir(), 'w3a-csv-header-test-'))
after(() => rm(dir, { recursive: true, force: true }))

let n = 0
async function header(content: string | Uint8Array): Promise<string[]> {
  const path = join(dir, `${n++}.csv`)
  await writeFile(path, content)
  return readCsvHeader(path)
}

test('reads plain, quoted, CRLF, BOM and unterminated-last-line headers', async () => {
  assert.deepEqual(await header('a,b,c\n1,2,3\n'), ['a', 'b', 'c'])
  assert.deepEqual(await header('"a,1","b ""x""",c\r\n1,2,3\r\n'), ['a,1', 'b "x"', 'c'])
  assert.deepEqual(await header('\uFEFFid,name\n'), ['id', 'name'])
  assert.deepEqual(await header('only,header'), ['only', 'header'])
  assert.deepEqual(await header('"multi\nline",b\n'), ['multi\nline', 'b'])
  assert.deepEqual(await header('ünï,çødé\n'), ['ünï', 'çødé'])
})

test('refuses broken headers', async () => {
  await assert.rejects(header('"a,b\n1,2\n'), (e) => isW3aError(e, 'INPUT_MALFORMED') && /unterminated/.test(e.message))
  await assert.rejects(header('\n1,2\n'), (e) => isW3aError(e, 'INPUT_MALFORMED') && /empty header/.test(e.message))
  await assert.rejects(header(new Uint8Array([0x61, 0xff, 0x2c, 0x62, 0x0a])), (e) => isW3aError(e, 'INPUT_MALFORMED') && /UTF-8/.test(e.message))
})
