/**
 * A deterministic, cryptographically strong random source keyed by a secret seed and a label:
 * AES-256-CTR keystream under HMAC-SHA256(seed, label). A job's DP noise is drawn from
 * streams keyed by the job's noise seed (which only keepers can derive, custody/job-noise.ts)
 * and by what is noised (group key, quantity), so every run of one job, on any worker, in any
 * row order, releases the same numbers: re-running a job gives an attacker nothing to average.
 */
import { createCipheriv, createHmac } from 'node:crypto'
import type { Rng } from './dp-noise.js'

const BLOCK = 4096
const TWO32 = 2 ** 32

export function keyedRng(seed: Uint8Array, label: string): Rng {
  if (seed.length < 32) throw new RangeError('a noise seed has 32 bytes or more')
  const key = createHmac('sha256', seed).update(label, 'utf8').digest()
  const stream = createCipheriv('aes-256-ctr', key, Buffer.alloc(16))
  key.fill(0)
  let buf = Buffer.alloc(0)
  let at = 0
  const word = (): number => {
    if (at + 4 > buf.length) {
      buf = stream.update(Buffer.alloc(BLOCK))
      at = 0
    }
    const w = buf.readUInt32LE(at)
    at += 4
    return w
  }
  return {
    randomInt(n: number): number {
      if (!Number.isInteger(n) || n < 1 || n > TWO32) throw new RangeError(`randomInt bound ${n} is not in [1, 2^32]`)
      // Rejection sampling: uniform on [0, n) with no modulo bias.
      const limit = TWO32 - (TWO32 % n)
      for (;;) {
        const w = word()
        if (w < limit) return w % n
      }
    },
  }
}
