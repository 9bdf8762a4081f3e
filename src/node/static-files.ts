/**
 * The dashboard's files (dist/app, built by `npm run build:app`), served by the gateway at `/`.
 * Hashed assets (/assets/name-HASH.ext) are immutable and cached for a year; index.html is
 * revalidated every time, so a new build is picked up on the next load. A `.gz` twin written
 * by the build is sent to browsers that accept gzip. Only files under the folder are served.
 */
import { readFile, stat } from 'node:fs/promises'
import { dirname, extname, join, normalize, sep } from 'node:path'
import { fileURLToPath } from 'node:url'

export const APP_DIR = join(dirname(fileURLToPath(import.meta.url)), '../../dist/app')

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
}

/** Answers GET/HEAD for a file of `dir`, or null when there is none (the caller's 404). */
export function createStaticFiles(dir: string = APP_DIR): (req: Request, pathname: string) => Promise<Response | null> {
  const root = normalize(dir)
  return async (req, pathname) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return null
    let rel: string
    try {
      rel = pathname === '/' ? 'index.html' : decodeURIComponent(pathname).replace(/^\/+/, '')
    } catch {
      return null // malformed escapes name no file
    }
    const file = normalize(join(root, rel))
    if (!file.startsWith(root + sep) || rel.endsWith('.gz')) return null
    const type = TYPES[extname(file)]
    if (!type || !(await isFile(file))) return null
    const immutable = rel.startsWith('assets/')
    const headers: Record<string, string> = {
      'content-type': type,
      'cache-control': immutable ? 'public, max-age=31536000, immutable' : 'no-cache',
      'x-content-type-options': 'nosniff',
      vary: 'accept-encoding',
    }
    if (type.startsWith('text/html')) {
      // The page holds keys derived from the wallet: no framing, scripts only from here.
      headers['content-security-policy'] = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src *; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
      headers['referrer-policy'] = 'no-referrer'
    }
    const gz = /\bgzip\b/.test(req.headers.get('accept-encoding') ?? '') && (await isFile(`${file}.gz`))
    if (gz) headers['content-encoding'] = 'gzip'
    const body = await readFile(gz ? `${file}.gz` : file)
    headers['content-length'] = String(body.length)
    return new Response(req.method === 'HEAD' ? null : body, { status: 200, headers })
  }
}

async function isFile(path: string): Promise<boolean> {
  return stat(path).then(
    (s) => s.isFile(),
    () => false,
  )
}
