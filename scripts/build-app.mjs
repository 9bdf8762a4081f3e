#!/usr/bin/env node
// Bundles the dashboard (src/app/, Preact + uPlot + the SDK's browser entry) into dist/app/:
// index.html, and hashed ES modules and CSS under assets/ (split: the SDK and the chart load
// when a view first needs them). Each asset also gets a .gz twin the gateway serves to browsers
// that accept gzip. The gateway serves dist/app at `/` (src/node/static-files.ts);
// test/dashboard.test.ts checks the initial load's gzipped weight.
import { build } from 'esbuild'
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { basename, dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { gzipSync } from 'node:zlib'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
export const APP_ENTRY = join(root, 'src/app/main.tsx')
export const APP_OUT = join(root, 'dist/app')

/**
 * The browser never deploys contracts: it needs the ABIs, not the bytecode that the generated
 * artifacts also carry (about half their size), so the bundle gets them with bytecode emptied.
 */
const abiOnlyArtifacts = {
  name: 'abi-only-artifacts',
  setup(b) {
    b.onLoad({ filter: /chain[\\/]generated[\\/]artifacts\.ts$/ }, (args) => {
      const text = readFileSync(args.path, 'utf8').replace(/(bytecode|deployedBytecode): '0x[0-9a-fA-F]*'/g, "$1: '0x'")
      return { contents: text, loader: 'ts' }
    })
  },
}

/**
 * zod's `z` namespace re-exports every locale's messages (~40 KB gzipped) and a JSON Schema
 * importer; the SDK uses neither (its messages are zod's default English, imported by path).
 */
const zodTrimmed = {
  name: 'zod-trimmed',
  setup(b) {
    b.onLoad({ filter: /zod[\\/]v4[\\/]locales[\\/]index\.js$/ }, () => ({ contents: "export { default as en } from './en.js'", loader: 'js' }))
    b.onLoad({ filter: /zod[\\/]v4[\\/]classic[\\/]from-json-schema\.js$/ }, () => ({
      contents: "export function fromJSONSchema() { throw new Error('fromJSONSchema is not in the dashboard build') }",
      loader: 'js',
    }))
  },
}

/** Builds the app; returns the files written (path relative to dist/app, raw and gzipped bytes). */
export async function buildApp(outdir = APP_OUT) {
  rmSync(outdir, { recursive: true, force: true })
  const assets = join(outdir, 'assets')
  const r = await build({
    entryPoints: [APP_ENTRY],
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    minify: true,
    jsx: 'automatic',
    jsxImportSource: 'preact',
    outdir: assets,
    entryNames: '[name]-[hash]',
    chunkNames: '[name]-[hash]',
    assetNames: '[name]-[hash]',
    legalComments: 'none',
    metafile: true,
    write: false,
    plugins: [abiOnlyArtifacts, zodTrimmed],
    logLevel: 'warning',
  })
  mkdirSync(assets, { recursive: true })
  // The page's entry (dynamic imports are entry points too in the metafile: match main.tsx).
  const entry = relative(root, APP_ENTRY)
  const [entryPath, entryOut] = Object.entries(r.metafile.outputs).find(([, o]) => o.entryPoint === entry) ?? []
  const entryJs = entryPath ? basename(entryPath) : ''
  const entryCss = entryOut?.cssBundle ? basename(entryOut.cssBundle) : ''
  if (!entryJs) throw new Error('build-app: no entry chunk')
  const html = readFileSync(join(root, 'src/app/index.html'), 'utf8')
    .replace('<!--css-->', entryCss ? `<link rel="stylesheet" href="/assets/${entryCss}">` : '')
    .replace('<!--js-->', `<script type="module" src="/assets/${entryJs}"></script>`)
  const files = [...r.outputFiles.map((f) => ({ path: f.path, bytes: f.contents })), { path: join(outdir, 'index.html'), bytes: new TextEncoder().encode(html) }]
  const written = []
  for (const f of files) {
    mkdirSync(dirname(f.path), { recursive: true })
    writeFileSync(f.path, f.bytes)
    const gz = gzipSync(f.bytes, { level: 9 })
    writeFileSync(`${f.path}.gz`, gz)
    written.push({ file: relative(outdir, f.path), bytes: f.bytes.length, gzipped: gz.length })
  }
  return written
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const files = await buildApp()
  const kb = (n) => `${(n / 1024).toFixed(1)} KB`
  for (const f of files.sort((a, b) => b.gzipped - a.gzipped)) console.log(`app: ${f.file.padEnd(40)} ${kb(f.bytes).padStart(10)}  gzip ${kb(f.gzipped).padStart(9)}`)
}
