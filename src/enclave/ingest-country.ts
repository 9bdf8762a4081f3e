/**
 * IP → country (ISO 3166-1 alpha-2) inside the ingest enclave, from the IP database shipped in
 * the npm package @ip-location-db/geo-whois-asn-country (CC0; ranges by whois/ASN registration),
 * never fetched at run time. The IP only passes through here: the row keeps the country code.
 *
 * The database decides a label the site owner sees, so it is part of what this enclave trusts:
 * the files' SHA-256 are pinned below (the measured code fixes the data), and a file that does
 * not match is refused (country stays '' and the refusal is kept for `countryStatus()`).
 * Loaded lazily on the first lookup, in a compact form: sorted range starts and ends as typed
 * arrays (IPv4: u32; IPv6: 128 bits as four u32) and a u16 country code each, ~7 MB in memory.
 */
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { isIP } from 'node:net'

export const COUNTRY_DB_PACKAGE = '@ip-location-db/geo-whois-asn-country'
/** SHA-256 of the files this code was checked with (package 2.3.2026061719). */
export const COUNTRY_DB_FILES = {
  v4: { file: 'geo-whois-asn-country-ipv4-num.csv', sha256: 'c4314154662823edfe6fbca2ff1c3b9e19a7c93fc839fa183b90d70ddce6d9cd' },
  v6: { file: 'geo-whois-asn-country-ipv6.csv', sha256: 'f06aa7d51b1d3b38c67d2216bd7bb003744aed7b5173d86d728ca466fb57728b' },
} as const

type Table4 = { start: Uint32Array; end: Uint32Array; cc: Uint16Array }
type Table6 = { start: Uint32Array; end: Uint32Array; cc: Uint16Array }
export type CountryTables = { v4: Table4; v6: Table6 }

const code = (a: number, b: number) => (a << 8) | b
const decode = (c: number) => String.fromCharCode(c >> 8, c & 0xff)

/** Decimal digits of text[from, to) as a number (u32 range). */
function dec(text: Buffer, from: number, to: number): number {
  let n = 0
  for (let i = from; i < to; i++) n = n * 10 + text[i]! - 48
  return n
}

/** IPv6 text of text[from, to) into out[at..at+4) (four big-endian u32 words); '::' expanded. */
function hex6(text: Buffer, from: number, to: number, out: Uint32Array, at: number): void {
  const g = [0, 0, 0, 0, 0, 0, 0, 0]
  let n = 0
  let gap = -1
  let v = 0
  let digits = 0
  for (let i = from; i <= to; i++) {
    const c = i < to ? text[i]! : 58
    if (c === 58) {
      if (digits) g[n++] = v
      else if (i + 1 < to && text[i + 1] === 58) gap = n
      v = 0
      digits = 0
    } else {
      v = v * 16 + (c <= 57 ? c - 48 : (c | 32) - 87)
      digits++
    }
  }
  if (gap >= 0) {
    const tail = g.slice(gap, n)
    g.fill(0, gap)
    g.splice(8 - tail.length, tail.length, ...tail)
  }
  for (let w = 0; w < 4; w++) out[at + w] = g[2 * w]! * 65536 + g[2 * w + 1]!
}

/** Each `start,end,CC` line of a CSV: calls row(i, [start, comma), (comma, comma2), code). */
function eachLine(text: Buffer, row: (i: number, a: number, b: number, c: number, cc: number) => void): number {
  let at = 0
  let i = 0
  while (at < text.length) {
    let nl = text.indexOf(10, at)
    if (nl < 0) nl = text.length
    const c1 = text.indexOf(44, at)
    const c2 = text.indexOf(44, c1 + 1)
    if (c1 > at && c2 > c1 && c2 + 3 <= nl) row(i++, at, c1, c2, code(text[c2 + 1]!, text[c2 + 2]!))
    at = nl + 1
  }
  return i
}

/** Parses the package's IPv4 (decimal) and IPv6 (text) CSV files (checked against the pinned hashes). */
export function parseCountryDb(v4csv: Buffer, v6csv: Buffer): CountryTables {
  const n4 = countLines(v4csv)
  const v4: Table4 = { start: new Uint32Array(n4), end: new Uint32Array(n4), cc: new Uint16Array(n4) }
  eachLine(v4csv, (i, a, c1, c2, cc) => {
    v4.start[i] = dec(v4csv, a, c1)
    v4.end[i] = dec(v4csv, c1 + 1, c2)
    v4.cc[i] = cc
  })
  const n6 = countLines(v6csv)
  const v6: Table6 = { start: new Uint32Array(4 * n6), end: new Uint32Array(4 * n6), cc: new Uint16Array(n6) }
  eachLine(v6csv, (i, a, c1, c2, cc) => {
    hex6(v6csv, a, c1, v6.start, 4 * i)
    hex6(v6csv, c1 + 1, c2, v6.end, 4 * i)
    v6.cc[i] = cc
  })
  return { v4, v6 }
}

function countLines(b: Buffer): number {
  let n = 0
  for (let at = b.indexOf(10); at >= 0; at = b.indexOf(10, at + 1)) n++
  return b.length > 0 && b[b.length - 1] !== 10 ? n + 1 : n
}

/** IPv4 text → u32, or null. */
function v4num(ip: string): number | null {
  const p = ip.split('.')
  if (p.length !== 4) return null
  let n = 0
  for (const x of p) n = n * 256 + Number(x)
  return n
}

/** IPv6 text (with ::, and a trailing dotted quad) → four big-endian u32 words. */
function v6words(ip: string): Uint32Array {
  let text = ip.split('%')[0]!
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text)
  if (dotted) {
    const n = v4num(dotted[1]!)!
    text = text.slice(0, -dotted[1]!.length) + `${(n >>> 16).toString(16)}:${(n & 0xffff).toString(16)}`
  }
  const out = new Uint32Array(4)
  hex6(Buffer.from(text, 'latin1'), 0, text.length, out, 0)
  return out
}

/** Compares words x[at..at+4) with ip: -1, 0 or 1. */
function cmp6(x: Uint32Array, at: number, ip: Uint32Array): number {
  for (let w = 0; w < 4; w++) if (x[at + w] !== ip[w]) return x[at + w]! < ip[w]! ? -1 : 1
  return 0
}

/** The ISO code of `ip` in `t`, or '' when no range holds it. IPv4-mapped IPv6 is looked up as IPv4. */
export function lookupCountry(t: CountryTables, ip: string): string {
  const kind = isIP(ip.split('%')[0]!)
  if (kind === 4 || (kind === 6 && /^::ffff:\d+\.\d+\.\d+\.\d+$/i.test(ip))) {
    const n = v4num(ip.slice(ip.lastIndexOf(':') + 1))!
    let lo = 0
    let hi = t.v4.start.length - 1
    let found = -1
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1
      if (t.v4.start[mid]! <= n) (found = mid), (lo = mid + 1)
      else hi = mid - 1
    }
    return found >= 0 && n <= t.v4.end[found]! ? decode(t.v4.cc[found]!) : ''
  }
  if (kind !== 6) return ''
  const ip6 = v6words(ip)
  let lo = 0
  let hi = t.v6.cc.length - 1
  let found = -1
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1
    if (cmp6(t.v6.start, 4 * mid, ip6) <= 0) (found = mid), (lo = mid + 1)
    else hi = mid - 1
  }
  return found >= 0 && cmp6(t.v6.end, 4 * found, ip6) >= 0 ? decode(t.v6.cc[found]!) : ''
}

export type CountryDb = { lookup(ip: string): string; status(): { loaded: boolean; ms?: number; error?: string } }

/** The package's database (or the same files in `dir`), read and checked on the first lookup (not at start: `w3a up` stays fast). */
export function packagedCountryDb(dir?: string): CountryDb {
  let tables: CountryTables | null | undefined
  let state: { loaded: boolean; ms?: number; error?: string } = { loaded: false }
  const load = (): CountryTables | null => {
    const t0 = performance.now()
    try {
      const from = dir ?? dirname(createRequire(import.meta.url).resolve(`${COUNTRY_DB_PACKAGE}/package.json`))
      const read = (f: { file: string; sha256: string }) => {
        const bytes = readFileSync(join(from, f.file))
        const got = createHash('sha256').update(bytes).digest('hex')
        if (got !== f.sha256) throw new Error(`${f.file} has SHA-256 ${got}, not the pinned ${f.sha256}`)
        return bytes
      }
      const t = parseCountryDb(read(COUNTRY_DB_FILES.v4), read(COUNTRY_DB_FILES.v6))
      state = { loaded: true, ms: Math.round(performance.now() - t0) }
      return t
    } catch (e) {
      state = { loaded: false, error: (e as Error).message }
      return null
    }
  }
  return {
    lookup(ip) {
      if (tables === undefined) tables = load()
      return tables ? lookupCountry(tables, ip) : ''
    },
    status: () => state,
  }
}
