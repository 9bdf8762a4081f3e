#!/usr/bin/env node
// The w3a command. Runs the compiled CLI (npm install builds it via the `prepare` script).
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const compiled = fileURLToPath(new URL('../dist/cli/run.js', import.meta.url))
if (!existsSync(compiled)) {
  process.stderr.write('error: w3a is not built yet. Run `npm install` (or `npm run build`) in the w3a folder first.\n')
  process.exit(1)
}
await import(compiled)
