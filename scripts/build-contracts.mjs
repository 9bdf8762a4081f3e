#!/usr/bin/env node
// Compiles contracts/*.sol with solc-js (standard JSON) and writes src/chain/generated/artifacts.ts,
// one `<Name>Artifact = { contractName, abi, bytecode } as const` per contract so viem infers
// the ABI types. Recompiles only when a hash over the inputs changed, to keep `npm run build` fast.
//
// Usage: node scripts/build-contracts.mjs [--force] [--contracts DIR] [--out FILE]
// (--contracts/--out exist for tests; defaults are the repository's own folders.)
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join, relative, resolve, sep } from 'node:path'
import { fileURLToPath } from 'node:url'

const require = createRequire(import.meta.url)
const root = resolve(dirname(fileURLToPath(import.meta.url)), '..')

const args = process.argv.slice(2)
function option(name, fallback) {
  const i = args.indexOf(name)
  if (i === -1) return fallback
  const v = args[i + 1]
  if (v === undefined || v.startsWith('--')) fail(`${name} needs a value`)
  return resolve(v)
}
const force = args.includes('--force')
const contractsDir = option('--contracts', join(root, 'contracts'))
const outFile = option('--out', join(root, 'src', 'chain', 'generated', 'artifacts.ts'))

// cancun: supported by every current L2/testnet and by anvil's default (latest) hardfork;
// newer opcodes are not needed by these contracts.
const settings = {
  evmVersion: 'cancun',
  optimizer: { enabled: true, runs: 200 },
  outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object', 'evm.deployedBytecode.object'] } },
}
const EIP170_LIMIT = 24_576

function fail(message, lines = []) {
  console.error(`build-contracts: ${message}`)
  for (const l of lines) console.error(l)
  process.exit(1)
}

function packageVersion(name) {
  try {
    return JSON.parse(readFileSync(require.resolve(`${name}/package.json`), 'utf8')).version
  } catch {
    return 'unknown'
  }
}

// --- inputs -------------------------------------------------------------------------------
if (!existsSync(contractsDir)) fail(`no contracts folder at ${contractsDir}`)
const files = readdirSync(contractsDir).filter((f) => f.endsWith('.sol')).sort()
if (files.length === 0) fail(`no .sol files in ${contractsDir}`)

// Source unit names are repository-relative (contracts/X.sol) so relative imports resolve.
const unitOf = (abs) => relative(root, abs).split(sep).join('/')
const sources = {}
for (const f of files) sources[unitOf(join(contractsDir, f))] = { content: readFileSync(join(contractsDir, f), 'utf8') }

// contractsSourcesHash: what determines the deployed code (compiler, libraries, settings, sources).
// Deployment files record it, so a data dir deployed from other contracts is refused.
// sourcesHash adds this script itself (output format changes regenerate too): it decides recompiling.
const contractsHash = createHash('sha256')
contractsHash.update(JSON.stringify({ solc: packageVersion('solc'), oz: packageVersion('@openzeppelin/contracts'), settings }))
for (const [name, { content }] of Object.entries(sources)) contractsHash.update(`\0${name}\0${content}`)
const contractsSourcesHash = contractsHash.digest('hex')
const sourcesHash = createHash('sha256').update(contractsSourcesHash).update(readFileSync(fileURLToPath(import.meta.url))).digest('hex')

if (!force && existsSync(outFile)) {
  const m = /export const sourcesHash = '([0-9a-f]{64})'/.exec(readFileSync(outFile, 'utf8'))
  if (m?.[1] === sourcesHash) {
    console.log(`build-contracts: up to date (${files.length} source files, hash ${sourcesHash.slice(0, 12)}) → ${relative(process.cwd(), outFile)}`)
    process.exit(0)
  }
}

// --- compile ------------------------------------------------------------------------------
const started = performance.now()
const solc = require('solc') // loaded only when needed: initialising soljson takes ~1 s

// Resolves `@scope/pkg/path.sol` (and `pkg/path.sol`) from node_modules, else repository-relative.
function findImport(path) {
  try {
    const parts = path.split('/')
    const pkgName = path.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]
    const rest = parts.slice(path.startsWith('@') ? 2 : 1).join('/')
    let abs
    try {
      abs = join(dirname(require.resolve(`${pkgName}/package.json`)), rest)
    } catch {
      abs = resolve(root, path)
      if (!abs.startsWith(root + sep)) return { error: `import outside the repository: ${path}` }
    }
    return { contents: readFileSync(abs, 'utf8') }
  } catch (e) {
    return { error: `cannot read import ${path}: ${e instanceof Error ? e.message : String(e)}` }
  }
}

const input = { language: 'Solidity', sources, settings }
const output = JSON.parse(solc.compile(JSON.stringify(input), { import: findImport }))
const diagnostics = output.errors ?? []
const errors = diagnostics.filter((d) => d.severity === 'error')
for (const w of diagnostics.filter((d) => d.severity !== 'error')) console.warn(w.formattedMessage ?? w.message)
if (errors.length > 0) {
  fail(`solc ${solc.version()} reported ${errors.length} error(s):`, errors.map((e) => e.formattedMessage ?? e.message))
}

// --- artifacts ----------------------------------------------------------------------------
const artifacts = []
for (const unit of Object.keys(sources)) {
  for (const [contractName, c] of Object.entries(output.contracts?.[unit] ?? {})) {
    if (artifacts.some((a) => a.contractName === contractName)) fail(`two contracts are named ${contractName}`)
    const bytecode = `0x${c.evm?.bytecode?.object ?? ''}`
    const runtimeSize = (c.evm?.deployedBytecode?.object ?? '').length / 2
    if (runtimeSize > EIP170_LIMIT) fail(`${contractName} runtime code is ${runtimeSize} bytes, above the EIP-170 limit of ${EIP170_LIMIT}`)
    artifacts.push({ contractName, sourceName: unit, abi: c.abi, bytecode, runtimeSize })
  }
}
artifacts.sort((a, b) => a.contractName.localeCompare(b.contractName))

const lines = [
  '// GENERATED by scripts/build-contracts.mjs from contracts/*.sol. Do not edit; run `npm run build:contracts`.',
  '/* eslint-disable */',
  `export const sourcesHash = '${sourcesHash}'`,
  `export const contractsSourcesHash = '${contractsSourcesHash}'`,
  `export const solcVersion = '${solc.version()}'`,
  `export const evmVersion = '${settings.evmVersion}'`,
  '',
]
for (const a of artifacts) {
  lines.push(
    `export const ${a.contractName}Artifact = {`,
    `  contractName: '${a.contractName}',`,
    `  sourceName: '${a.sourceName}',`,
    `  abi: ${JSON.stringify(a.abi, null, 2).replace(/\n/g, '\n  ')},`,
    `  bytecode: '${a.bytecode}',`,
    '} as const',
    '',
  )
}
mkdirSync(dirname(outFile), { recursive: true })
const tmp = `${outFile}.${process.pid}.tmp`
writeFileSync(tmp, lines.join('\n'))
renameSync(tmp, outFile)

const ms = Math.round(performance.now() - started)
const summary = artifacts.map((a) => `${a.contractName} ${a.runtimeSize}B`).join(', ')
console.log(`build-contracts: compiled ${artifacts.length} contracts (${summary}) with solc ${solc.version().split('+')[0]} in ${ms} ms → ${relative(process.cwd(), outFile)}`)
