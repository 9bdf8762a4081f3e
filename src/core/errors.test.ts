import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { test } from 'node:test'
import { W3aError } from './errors.js'

const read = (rel: string) => readFileSync(new URL(rel, import.meta.url), 'utf8')

test('every error code has the docs section its hint points to', () => {
  // The codes are a type union: read them from the source, where they are declared.
  const source = read('./errors.ts')
  const union = source.slice(source.indexOf('export type W3aErrorCode'), source.indexOf('\n\n', source.indexOf('export type W3aErrorCode')))
  const codes = [...union.matchAll(/\|\s*'([A-Z_]+)'/g)].map((m) => m[1]!)
  assert.ok(codes.length > 40, `read ${codes.length} codes`)
  const headings = new Set([...read('../../docs/errors.md').matchAll(/^## ([a-z_]+)$/gm)].map((m) => m[1]!))
  const missing = codes.filter((c) => !headings.has(new W3aError(c as never, 'x').docsPath.replace('errors.md#', '')))
  assert.deepEqual(missing, [], 'codes without a section in docs/errors.md')
})
