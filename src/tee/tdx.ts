/**
 * TDX backend: quotes from the Linux configfs-tsm report interface (kernel ≥ 6.7,
 * Documentation/ABI/testing/configfs-tsm), run inside a TDX guest (a "TD").
 *
 * One quote = one fresh report entry, so no other process can change our inblob between
 * our write and our read:
 *   mkdir $tsmRoot/<fresh name>        (the kernel populates the entry's attributes)
 *   read provider                      must be "tdx_guest" (the outblob format depends on it)
 *   read generation                    g0
 *   write inblob                       our 64 bytes of report data
 *   read outblob                       the kernel asks the TDX module + quoting enclave: a DCAP quote
 *   read generation                    must be g0 + 1: exactly our one write happened
 *   rmdir the entry
 * and the quote's own report data must equal what we wrote.
 *
 * UNTESTED ON REAL HARDWARE: the tests run this code against a temporary directory laid out
 * like configfs-tsm, with a real TDX quote as outblob. Measurement comes from the quote's TD
 * report. Sealing: a TDX guest has no CPU sealing key (unlike SGX), so sealingKey() refuses;
 * sealing on TDX needs a key provider (e.g. a KMS releasing keys to attested TDs), not here.
 */
import { randomBytes } from 'node:crypto'
import { mkdir, readFile, rmdir, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { bytesToHex, type Hex } from 'viem'
import { W3aError } from '../core/errors.js'
import { dcapQuoteFields } from './dcap.js'
import { REPORT_DATA_SIZE, type EnclaveBackend } from './types.js'

export const DEFAULT_TSM_ROOT = '/sys/kernel/config/tsm/report'
export const TDX_PROVIDER = 'tdx_guest'

/** The file operations used on configfs; tests pass a simulation of the kernel's behaviour. */
export type TsmFs = {
  mkdir(path: string): Promise<void>
  rmdir(path: string): Promise<void>
  readFile(path: string): Promise<Uint8Array>
  writeFile(path: string, data: Uint8Array): Promise<void>
}

export const nodeTsmFs: TsmFs = {
  mkdir: async (p) => {
    await mkdir(p, { mode: 0o700 })
  },
  rmdir: (p) => rmdir(p),
  readFile: (p) => readFile(p),
  writeFile: (p, d) => writeFile(p, d),
}

export type CreateTdxEnclaveParameters = { tsmRoot?: string; fs?: TsmFs }

export function createTdxEnclave(params: CreateTdxEnclaveParameters = {}): EnclaveBackend {
  const root = params.tsmRoot ?? DEFAULT_TSM_ROOT
  const fs = params.fs ?? nodeTsmFs
  const quote = async (reportData: Uint8Array): Promise<Uint8Array> => {
    if (!(reportData instanceof Uint8Array) || reportData.length !== REPORT_DATA_SIZE) {
      throw new W3aError('INVALID_ARGUMENT', `report data must be ${REPORT_DATA_SIZE} bytes`)
    }
    return generateQuote(root, fs, reportData)
  }
  return {
    teeType: 'tdx',
    insecure: false,
    quote,
    async measurement(): Promise<Hex> {
      // RTMRs can be extended after boot, so read the registers afresh from a new quote.
      return dcapQuoteFields(await quote(randomBytes(REPORT_DATA_SIZE))).measurement
    },
    async sealingKey(): Promise<Uint8Array> {
      throw new W3aError('SEALING_UNAVAILABLE', 'sealing on tdx needs a key provider, which is not available here', {
        details: [
          'A TDX guest has no CPU sealing key (SGX has one, TDX does not).',
          'Keys at rest for a TD must come from a key provider that releases them only to an attested TD; W3A does not ship one yet.',
        ],
      })
    },
  }
}

async function generateQuote(root: string, fs: TsmFs, reportData: Uint8Array): Promise<Uint8Array> {
  await stat(root).catch((cause: unknown) => {
    throw new W3aError('TEE_UNAVAILABLE', `configfs-tsm is not available at ${root}`, {
      details: ['TDX quotes need a TDX guest (TD) with Linux ≥ 6.7 and configfs mounted (mount -t configfs none /sys/kernel/config).'],
      cause,
    })
  })
  const entry = join(root, `w3a-${process.pid}-${randomBytes(8).toString('hex')}`)
  await fs.mkdir(entry).catch((cause: unknown) => {
    throw unavailable(`cannot create a report entry under ${root} (${errno(cause)})`, cause, ['Creating configfs-tsm reports usually needs root.'])
  })
  try {
    const provider = text(await read(fs, entry, 'provider'))
    if (provider !== TDX_PROVIDER) throw unavailable(`configfs-tsm provider is "${provider}", not "${TDX_PROVIDER}": this is not a TDX guest`)
    const g0 = generation(await read(fs, entry, 'generation'))
    await fs.writeFile(join(entry, 'inblob'), reportData).catch((cause: unknown) => {
      throw unavailable(`writing inblob failed (${errno(cause)})`, cause)
    })
    const quote = await read(fs, entry, 'outblob')
    const g1 = generation(await read(fs, entry, 'generation'))
    if (g1 !== g0 + 1) throw unavailable(`report entry changed while quoting (generation ${g0} → ${g1}, expected ${g0 + 1}); retry`)
    if (quote.length === 0) throw unavailable('the kernel returned an empty quote')
    const fields = dcapQuoteFields(quote)
    if (fields.teeType !== 'tdx') throw unavailable('the kernel returned a quote that is not a TDX quote')
    if (fields.reportData.toLowerCase() !== bytesToHex(reportData)) {
      throw new W3aError('REPORT_DATA_MISMATCH', 'the quote from configfs-tsm does not carry the report data written to inblob')
    }
    return new Uint8Array(quote)
  } finally {
    // Entries are kernel objects; leaving them behind only costs memory, so a failed rmdir is not fatal.
    await fs.rmdir(entry).catch(() => undefined)
  }
}

async function read(fs: TsmFs, entry: string, name: string): Promise<Uint8Array> {
  try {
    return await fs.readFile(join(entry, name))
  } catch (cause) {
    throw unavailable(`reading ${name} from configfs-tsm failed (${errno(cause)})`, cause)
  }
}

function text(b: Uint8Array): string {
  return new TextDecoder().decode(b).trim()
}

function generation(b: Uint8Array): number {
  const s = text(b)
  if (!/^\d+$/.test(s)) throw unavailable(`configfs-tsm generation is not a number: "${s.slice(0, 20)}"`)
  return Number(s)
}

function errno(e: unknown): string {
  return (e as NodeJS.ErrnoException)?.code ?? (e instanceof Error ? e.message : String(e))
}

function unavailable(message: string, cause?: unknown, details?: string[]): W3aError {
  return new W3aError('TEE_UNAVAILABLE', message, { ...(cause === undefined ? {} : { cause }), ...(details ? { details } : {}) })
}
