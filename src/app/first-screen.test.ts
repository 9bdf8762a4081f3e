/**
 * The dashboard's first screen (the market, read only) stays small: scripts/build-app.mjs
 * bundles its reads on their own, tree-shaken to the market listing's chain reads, and the
 * index preloads them. A quick guard beside test/dashboard.test.ts, which measures the real
 * transfer in Chromium against the issue's 250,000-byte budget.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
// @ts-expect-error: a plain .mjs build script (no types)
import { buildApp } from '../../scripts/build-app.mjs'

type Built = { file: string; bytes: number; gzipped: number; firstScreen: boolean }

/** Well under the issue's budget, so that a change that pulls the write path back in fails here. */
const FIRST_SCREEN_GUARD = 100_000

test('the first screen loads the index, the entry with its static imports, the CSS and the reads bundle, under 100,000 bytes gzipped', async () => {
  const out = mkdtempSync(join(tmpdir(), 'w3a-app-'))
  try {
    const files = (await buildApp(out)) as Built[]
    const first = files.filter((f) => f.firstScreen)
    const total = first.reduce((a, f) => a + f.gzipped, 0)
    assert.ok(total < FIRST_SCREEN_GUARD, `first screen ${total} bytes gzipped:\n${first.map((f) => `${f.gzipped} ${f.file}`).join('\n')}`)

    const reads = first.find((f) => /^assets\/sdk-read-[A-Z0-9]+\.js$/.test(f.file))
    const entry = first.find((f) => /^assets\/main-[A-Z0-9]+\.js$/.test(f.file))
    assert.ok(reads && entry, 'the reads bundle and the entry are on the first screen')
    const html = readFileSync(join(out, 'index.html'), 'utf8')
    assert.match(html, new RegExp(`<link rel="modulepreload" href="/${reads.file}">`))
    assert.match(html, new RegExp(`<script type="module" src="/${entry.file}">`))

    // Only reads: no transaction, gas or signature code, and zod's mini build, not the classic one.
    const code = readFileSync(join(out, reads.file), 'utf8')
    assert.match(code, /eth_call/)
    for (const writePath of ['eth_sendRawTransaction', 'eth_estimateGas', 'eth_signTypedData_v4', 'toJSONSchema']) assert.ok(!code.includes(writePath), `${writePath} in the reads bundle`)
    // The app's session imports that very file.
    const name = reads.file.slice('assets/'.length)
    const importers = first.filter((f) => f.file.endsWith('.js') && readFileSync(join(out, f.file), 'utf8').includes(`import("./${name}")`))
    assert.equal(importers.length, 1, `one first-screen chunk imports ./${name}`)
  } finally {
    rmSync(out, { recursive: true, force: true })
  }
})
