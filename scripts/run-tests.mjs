#!/usr/bin/env node
// Runs every *.test.ts under src/ and test/ with node's own test runner (TypeScript via tsx).
// Node 20's --test takes no globs, so the files are listed here. Extra args are passed through
// (e.g. `npm test -- src/crypto` to run one folder).
import { readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { spawnSync } from 'node:child_process'

const args = process.argv.slice(2)
const roots = args.filter((a) => !a.startsWith('-'))
const flags = args.filter((a) => a.startsWith('-'))
function walk(dir, out) {
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name.startsWith('.')) continue
    const p = join(dir, name)
    const s = statSync(p)
    if (s.isDirectory()) walk(p, out)
    else if (name.endsWith('.test.ts')) out.push(p)
  }
  return out
}
const files = (roots.length ? roots : ['src', 'test']).flatMap((r) => (statSync(r).isDirectory() ? walk(r, []) : [r])).sort()
if (files.length === 0) {
  console.error('no test files found')
  process.exit(1)
}
const res = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=2', ...flags, ...files], { stdio: 'inherit' })
process.exit(res.status ?? 1)
