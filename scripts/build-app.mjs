#!/usr/bin/env node
// Bundles the dashboard (src/app/, Preact + uPlot + the SDK's browser entry) into dist/app/:
// index.html, and hashed ES modules and CSS under assets/ (split: the SDK and the chart load
// when a view first needs them). Each asset also gets a .gz twin the gateway serves to browsers
// that accept gzip. The gateway serves dist/app at `/` (src/node/static-files.ts);
// test/dashboard.test.ts checks the initial load's gzipped weight, which this prints too.
//
// Two builds. esbuild's code splitting puts whole files in chunks: a chunk the first screen
// imports carries every file reachable from its imports that any view uses, so one import
// from viem's or zod's index would bring all of viem that the write path uses. The first
// screen's reads (src/app/sdk-read.ts) are therefore bundled on their own, tree-shaken to
// what the market's listing calls, and the app build imports that file as it is. It shares no
// state with the app (the app's client comes from the full SDK once that is loaded).
import { build } from 'esbuild'
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { basename, dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { gzipSync } from 'node:zlib'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
export const APP_ENTRY = join(root, 'src/app/main.tsx')
/** The first screen's reads, imported by src/app/session.tsx as './sdk-read.js'. */
const READS_ENTRY = join(root, 'src/app/sdk-read.ts')
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

const common = {
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: 'es2022',
  minify: true,
  entryNames: '[name]-[hash]',
  legalComments: 'none',
  metafile: true,
  write: false,
  plugins: [abiOnlyArtifacts, zodTrimmed],
  logLevel: 'warning',
}

/** The app build's import of the reads resolves to the file the reads build wrote (same folder). */
function readsBundle(file) {
  return {
    name: 'first-screen-reads',
    setup(b) {
      b.onResolve({ filter: /^\.\/sdk-read\.js$/ }, (args) => (args.importer.startsWith(join(root, 'src/app')) ? { path: `./${file}`, external: true } : undefined))
    },
  }
}

/**
 * A static import esbuild left external would fail the page at load (a Node built-in, say);
 * a dynamic one is a library's guarded Node fallback (@hpke's `import('crypto')`) the browser never takes.
 */
function refuseExternalImports(metafile) {
  for (const [out, o] of Object.entries(metafile.outputs)) {
    const bad = o.imports.filter((i) => i.external && i.kind !== 'dynamic-import' && !i.path.startsWith('./sdk-read-'))
    if (bad.length) throw new Error(`build-app: ${basename(out)} imports ${bad.map((i) => i.path).join(', ')}, which the browser cannot load: keep Node-only code out of src/app/`)
  }
}

/** The files the first screen loads: index.html, the entry and its static imports, the reads, the CSS. */
function firstScreen(metafile, entryPath, readsFile) {
  const files = new Set()
  const visit = (p) => {
    if (files.has(p)) return
    files.add(p)
    for (const i of metafile.outputs[p]?.imports ?? []) if (i.kind === 'import-statement' && !i.external) visit(i.path)
  }
  visit(entryPath)
  const css = metafile.outputs[entryPath]?.cssBundle
  return ['index.html', readsFile, ...[...files, ...(css ? [css] : [])].map((p) => basename(p))]
}

/**
 * Builds the app; returns the files written (path relative to dist/app, raw and gzipped bytes)
 * and which of them the first screen loads.
 */
export async function buildApp(outdir = APP_OUT) {
  rmSync(outdir, { recursive: true, force: true })
  const assets = join(outdir, 'assets')
  const reads = await build({ ...common, entryPoints: [READS_ENTRY], outdir: assets })
  refuseExternalImports(reads.metafile)
  const readsOut = reads.outputFiles.find((f) => f.path.endsWith('.js'))
  if (!readsOut) throw new Error('build-app: no reads bundle')
  const readsFile = basename(readsOut.path)
  const r = await build({
    ...common,
    entryPoints: [APP_ENTRY],
    splitting: true,
    jsx: 'automatic',
    jsxImportSource: 'preact',
    outdir: assets,
    chunkNames: '[name]-[hash]',
    assetNames: '[name]-[hash]',
    plugins: [...common.plugins, readsBundle(readsFile)],
  })
  refuseExternalImports(r.metafile)
  // The page's entry (dynamic imports are entry points too in the metafile: match main.tsx).
  const entry = relative(root, APP_ENTRY)
  const [entryPath, entryOut] = Object.entries(r.metafile.outputs).find(([, o]) => o.entryPoint === entry) ?? []
  const entryJs = entryPath ? basename(entryPath) : ''
  const entryCss = entryOut?.cssBundle ? basename(entryOut.cssBundle) : ''
  if (!entryJs) throw new Error('build-app: no entry chunk')
  // The entry asks for the reads as soon as it runs: preloading them saves the first screen a round trip.
  const head = [entryCss ? `<link rel="stylesheet" href="/assets/${entryCss}">` : '', `<link rel="modulepreload" href="/assets/${readsFile}">`]
  const html = readFileSync(join(root, 'src/app/index.html'), 'utf8')
    .replace('<!--css-->', head.filter(Boolean).join('\n'))
    .replace('<!--js-->', `<script type="module" src="/assets/${entryJs}"></script>`)
  const files = [...reads.outputFiles, ...r.outputFiles].map((f) => ({ path: f.path, bytes: f.contents }))
  files.push({ path: join(outdir, 'index.html'), bytes: new TextEncoder().encode(html) })
  const written = []
  for (const f of files) {
    mkdirSync(dirname(f.path), { recursive: true })
    writeFileSync(f.path, f.bytes)
    const gz = gzipSync(f.bytes, { level: 9 })
    writeFileSync(`${f.path}.gz`, gz)
    written.push({ file: relative(outdir, f.path), bytes: f.bytes.length, gzipped: gz.length })
  }
  const first = new Set(firstScreen(r.metafile, entryPath, readsFile))
  return written.map((w) => ({ ...w, firstScreen: first.has(basename(w.file)) }))
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const files = await buildApp()
  const kb = (n) => `${(n / 1024).toFixed(1)} KB`
  for (const f of files.sort((a, b) => b.gzipped - a.gzipped)) console.log(`app: ${f.file.padEnd(40)} ${kb(f.bytes).padStart(10)}  gzip ${kb(f.gzipped).padStart(9)}${f.firstScreen ? '  first screen' : ''}`)
  const first = files.filter((f) => f.firstScreen)
  console.log(`app: first screen: ${first.length} files, ${first.reduce((a, f) => a + f.gzipped, 0)} bytes gzipped (before HTTP headers and the API's JSON)`)
}
