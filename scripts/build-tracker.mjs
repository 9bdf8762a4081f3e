#!/usr/bin/env node
// Bundles the browser tracker (src/tracker/w3a.ts) into dist/js/w3a.js: one minified IIFE,
// no dependencies. The gateway serves it at /js/w3a.js; src/tracker/tracker.test.ts checks its
// gzipped size stays within the 3 KB budget. Also bundles the visitor's "my data" page script
// (src/tracker/my-data.ts → dist/js/my-data.js, served at /js/my-data.js; no size budget).
import { build } from 'esbuild'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
export const TRACKER_ENTRY = join(root, 'src/tracker/w3a.ts')
export const TRACKER_OUT = join(root, 'dist/js/w3a.js')
export const MY_DATA_ENTRY = join(root, 'src/tracker/my-data.ts')
export const MY_DATA_OUT = join(root, 'dist/js/my-data.js')

/** Builds the tracker to `outfile` (default dist/js/w3a.js); returns its bytes. */
export async function buildTracker(outfile = TRACKER_OUT, entry = TRACKER_ENTRY) {
  const r = await build({ entryPoints: [entry], bundle: true, minify: true, format: 'iife', target: 'es2020', outfile, write: false, legalComments: 'none' })
  const { mkdirSync, writeFileSync } = await import('node:fs')
  mkdirSync(dirname(outfile), { recursive: true })
  const bytes = r.outputFiles[0].contents
  writeFileSync(outfile, bytes)
  return bytes
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const bytes = await buildTracker()
  console.log(`tracker: ${TRACKER_OUT} (${bytes.length} bytes)`)
  const page = await buildTracker(MY_DATA_OUT, MY_DATA_ENTRY)
  console.log(`my-data page: ${MY_DATA_OUT} (${page.length} bytes)`)
}
