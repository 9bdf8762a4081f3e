/**
 * Bytes each account may upload to this storage node, and the upload signatures already
 * used. Bytes are reserved before the body is read (two parallel uploads cannot both pass
 * the check) and given back when the upload is not stored. Usage survives restarts when a
 * file is given.
 */
import { readFileSync } from 'node:fs'
import type { Address, Hex } from 'viem'
import { W3aError } from '../core/errors.js'
import { writeFileAtomic } from '../core/atomic-write.js'

/** Default per-account quota: generous for a devnet (a few large datasets per account). */
export const DEFAULT_UPLOAD_QUOTA_BYTES = 8 * 1024 * 1024 * 1024

export type UploadQuota = {
  /** Charges `bytes` to `account`, or throws UPLOAD_QUOTA_EXCEEDED / UPLOAD_UNAUTHORIZED (digest reused). */
  reserve(p: { account: Address; bytes: number; digest: Hex; expires: number }): void
  /** Gives the bytes back (the upload was not stored); the digest stays used. */
  release(p: { account: Address; bytes: number }): void
  used(account: Address): number
  limit: number
}

export function createUploadQuota(params: { bytesPerAccount?: number; file?: string; now?: () => number } = {}): UploadQuota {
  const limit = params.bytesPerAccount ?? DEFAULT_UPLOAD_QUOTA_BYTES
  const now = params.now ?? (() => Math.floor(Date.now() / 1000))
  const usage = new Map<string, number>(Object.entries(load(params.file)))
  const seen = new Map<Hex, number>() // digest → expiry
  const save = () => {
    if (params.file) writeFileAtomic(params.file, JSON.stringify(Object.fromEntries(usage)))
  }
  return {
    limit,
    used: (account) => usage.get(account.toLowerCase()) ?? 0,
    reserve({ account, bytes, digest, expires }) {
      const t = now()
      for (const [d, exp] of seen) if (exp <= t) seen.delete(d)
      if (seen.has(digest)) {
        throw new W3aError('UPLOAD_UNAUTHORIZED', 'this upload signature was already used', { details: ['Each upload is signed afresh; the SDK and `w3a` do it for you.'] })
      }
      const key = account.toLowerCase()
      const used = usage.get(key) ?? 0
      if (used + bytes > limit) {
        throw new W3aError('UPLOAD_QUOTA_EXCEEDED', `account ${account} would upload ${used + bytes} bytes to this storage node, over its quota of ${limit}`, {
          details: [`Used so far: ${used} bytes. Ask the node's operator for more (w3a up --upload-quota BYTES on a devnet), or use another storage node.`],
        })
      }
      seen.set(digest, expires)
      usage.set(key, used + bytes)
      save()
    },
    release({ account, bytes }) {
      const key = account.toLowerCase()
      usage.set(key, Math.max(0, (usage.get(key) ?? 0) - bytes))
      save()
    },
  }
}

function load(file: string | undefined): Record<string, number> {
  if (!file) return {}
  try {
    const raw = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>
    return Object.fromEntries(Object.entries(raw).filter((e): e is [string, number] => Number.isSafeInteger(e[1])))
  } catch {
    return {}
  }
}
