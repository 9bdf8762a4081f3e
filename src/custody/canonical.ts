/**
 * The canonical binary encoding custody hashes and snapshots use. Every value has exactly one
 * encoding, so replicas that hold the same state hash the same bytes:
 *
 *   u8 / u32 / u64        big-endian, fixed width
 *   u256                  32 bytes big-endian
 *   f64                   IEEE-754 binary64 big-endian (budgets; -0 is written as +0)
 *   bytes32 / address     raw 32 / 20 bytes (addresses are case-free: raw bytes)
 *   bytes / string        u32 length, then the raw bytes (strings as UTF-8)
 *
 * The reader refuses to read past the end and `end()` refuses trailing bytes.
 */
import { bytesToHex, hexToBytes, type Address, type Hex } from 'viem'
import { W3aError } from '../core/errors.js'

const TEXT = new TextEncoder()
const UTF8 = new TextDecoder('utf-8', { fatal: true })
const U64_MAX = (1n << 64n) - 1n
const U256_MAX = (1n << 256n) - 1n

export class ByteWriter {
  #buf = new Uint8Array(256)
  #view = new DataView(this.#buf.buffer)
  #len = 0

  #room(n: number): void {
    if (this.#len + n <= this.#buf.length) return
    let size = this.#buf.length * 2
    while (size < this.#len + n) size *= 2
    const next = new Uint8Array(size)
    next.set(this.#buf.subarray(0, this.#len))
    this.#buf.fill(0) // the old buffer may have held key bytes
    this.#buf = next
    this.#view = new DataView(next.buffer)
  }

  u8(n: number): this {
    if (!Number.isInteger(n) || n < 0 || n > 0xff) throw new W3aError('INTERNAL', 'u8 out of range')
    this.#room(1)
    this.#buf[this.#len++] = n
    return this
  }

  u32(n: number): this {
    if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new W3aError('INTERNAL', 'u32 out of range')
    this.#room(4)
    this.#view.setUint32(this.#len, n)
    this.#len += 4
    return this
  }

  u64(n: bigint): this {
    if (n < 0n || n > U64_MAX) throw new W3aError('INTERNAL', 'u64 out of range')
    this.#room(8)
    this.#view.setBigUint64(this.#len, n)
    this.#len += 8
    return this
  }

  u256(n: bigint): this {
    if (n < 0n || n > U256_MAX) throw new W3aError('INTERNAL', 'u256 out of range')
    this.#room(32)
    for (let i = 3; i >= 0; i--) this.#view.setBigUint64(this.#len + (3 - i) * 8, (n >> BigInt(i * 64)) & U64_MAX)
    this.#len += 32
    return this
  }

  f64(n: number): this {
    if (!Number.isFinite(n)) throw new W3aError('INTERNAL', 'f64 must be finite')
    this.#room(8)
    this.#view.setFloat64(this.#len, n === 0 ? 0 : n)
    this.#len += 8
    return this
  }

  raw(bytes: Uint8Array): this {
    this.#room(bytes.length)
    this.#buf.set(bytes, this.#len)
    this.#len += bytes.length
    return this
  }

  fixedHex(hex: Hex, size: number): this {
    const b = hexToBytes(hex)
    if (b.length !== size) throw new W3aError('INTERNAL', `expected ${size} bytes`)
    return this.raw(b)
  }

  bytes32(hex: Hex): this {
    return this.fixedHex(hex, 32)
  }

  address(a: Address): this {
    return this.fixedHex(a, 20)
  }

  bytes(b: Uint8Array): this {
    this.u32(b.length)
    return this.raw(b)
  }

  string(s: string): this {
    return this.bytes(TEXT.encode(s))
  }

  /** A copy of what was written; the writer's own buffer is zeroed (it may hold secrets). */
  finish(): Uint8Array {
    const out = this.#buf.slice(0, this.#len)
    this.#buf.fill(0)
    this.#len = 0
    return out
  }
}

export class ByteReader {
  #pos = 0
  readonly #data: Uint8Array
  readonly #view: DataView
  constructor(data: Uint8Array) {
    this.#data = data
    this.#view = new DataView(data.buffer, data.byteOffset, data.byteLength)
  }

  #take(n: number): number {
    if (n < 0 || this.#pos + n > this.#data.length) throw malformed('truncated')
    const at = this.#pos
    this.#pos += n
    return at
  }

  u8(): number {
    return this.#view.getUint8(this.#take(1))
  }
  u32(): number {
    return this.#view.getUint32(this.#take(4))
  }
  u64(): bigint {
    return this.#view.getBigUint64(this.#take(8))
  }
  u256(): bigint {
    const at = this.#take(32)
    let n = 0n
    for (let i = 0; i < 4; i++) n = (n << 64n) | this.#view.getBigUint64(at + i * 8)
    return n
  }
  f64(): number {
    const n = this.#view.getFloat64(this.#take(8))
    if (!Number.isFinite(n)) throw malformed('non-finite number')
    return n
  }
  raw(n: number): Uint8Array {
    const at = this.#take(n)
    return this.#data.slice(at, at + n)
  }
  bytes32(): Hex {
    return bytesToHex(this.raw(32))
  }
  address(): Address {
    return bytesToHex(this.raw(20)) as Address
  }
  bytes(): Uint8Array {
    return this.raw(this.u32())
  }
  string(): string {
    try {
      return UTF8.decode(this.bytes())
    } catch (cause) {
      throw malformed('bad UTF-8', cause)
    }
  }
  bool(): boolean {
    const b = this.u8()
    if (b > 1) throw malformed('bad boolean')
    return b === 1
  }
  end(): void {
    if (this.#pos !== this.#data.length) throw malformed('trailing bytes')
  }
}

export function malformed(detail: string, cause?: unknown): W3aError {
  return new W3aError('CUSTODY_MALFORMED', 'Custody data is malformed', { details: [detail], cause })
}
