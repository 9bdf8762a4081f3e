/**
 * The enclave's mutable sealed files under one versioned head (rollback protection, freshness.ts).
 * Every save gets the next `seq`; the head pins every file by the digest of its sealed bytes, so a
 * host cannot mix an old keyring with a new custody state: it can only restore a whole older head,
 * and that is what the keepers' witnessing detects.
 *
 *   head.sealed  (label "w3a/enclave/head/v1") = UTF-8 JSON { v: 1, seq, files: { name: { seq, digest } } }
 *   <name>.<seq>.sealed = the file as written at that seq (its own label)
 *   root = keccak256(abi.encode(string "w3a/enclave/state-root/v1", uint64 seq, string[] names,
 *          uint64[] seqs, bytes32[] digests))   names sorted; digest = sha256(sealed bytes)
 *
 * Write order: the new file under a new name, then the head (atomic rename), then the old file is
 * removed. A crash in between leaves the previous head and its files whole; load removes orphans.
 */
import { createHash } from 'node:crypto'
import { existsSync, readdirSync, readFileSync, unlinkSync } from 'node:fs'
import { join } from 'node:path'
import { encodeAbiParameters, keccak256, type Hex } from 'viem'
import { W3aError } from '../core/errors.js'
import { readSealedFile, writeSealedFile } from '../tee/index.js'
import type { StateVersion } from './freshness.js'

const HEAD_LABEL = 'w3a/enclave/head/v1'
const FILE_RE = /^([a-z]+)\.(\d+)\.sealed$/

type Entry = { seq: bigint; digest: Hex }
type Encoded = { v: 1; seq: string; files: Record<string, { seq: string; digest: string }> }

export class SealedHead {
  private seq = 0n
  private files = new Map<string, Entry>()

  constructor(
    private readonly dir: string,
    private readonly key: Uint8Array,
    private readonly labels: Readonly<Record<string, string>>,
  ) {}

  /** Reads the head (none: seq 0, no files), checks every file it names, removes files it does not name. */
  load(): void {
    const head = join(this.dir, 'head.sealed')
    if (existsSync(head)) {
      const e = JSON.parse(new TextDecoder().decode(readSealedFile(head, this.key, HEAD_LABEL))) as Encoded
      if (e.v !== 1) throw new W3aError('INPUT_MALFORMED', `unknown sealed head version ${String(e.v)}`)
      this.seq = BigInt(e.seq)
      this.files = new Map(Object.entries(e.files).map(([name, f]) => [name, { seq: BigInt(f.seq), digest: f.digest as Hex }]))
    }
    for (const name of readdirSync(this.dir)) {
      const m = FILE_RE.exec(name)
      if (m && this.files.get(m[1]!)?.seq !== BigInt(m[2]!)) unlinkSync(join(this.dir, name))
    }
  }

  /** The file's content, if the head names one; UNSEAL_FAILED if it is not the file the head pinned. */
  read(name: string): Uint8Array | undefined {
    const entry = this.files.get(name)
    if (!entry) return undefined
    const path = this.path(name, entry.seq)
    if (!existsSync(path) || digest(readFileSync(path)) !== entry.digest) {
      throw new W3aError('UNSEAL_FAILED', `sealed file ${name} is not the one the sealed head names (replaced or missing)`)
    }
    return readSealedFile(path, this.key, this.label(name))
  }

  /** Writes the given files as one new version (seq + 1, or `atLeast` if higher), without those in `drop`, and returns it. */
  save(contents: Record<string, Uint8Array>, atLeast = 0n, drop: readonly string[] = []): StateVersion {
    const seq = (this.seq >= atLeast ? this.seq : atLeast) + 1n
    const next = new Map(this.files)
    for (const name of drop) next.delete(name)
    for (const [name, bytes] of Object.entries(contents)) {
      const path = this.path(name, seq)
      writeSealedFile(path, this.key, this.label(name), bytes)
      next.set(name, { seq, digest: digest(readFileSync(path)) })
    }
    const e: Encoded = { v: 1, seq: seq.toString(), files: Object.fromEntries([...next].map(([n, f]) => [n, { seq: f.seq.toString(), digest: f.digest }])) }
    writeSealedFile(join(this.dir, 'head.sealed'), this.key, HEAD_LABEL, new TextEncoder().encode(JSON.stringify(e)))
    const old = this.files
    this.files = next
    this.seq = seq
    for (const [name, f] of old) if (next.get(name)?.seq !== f.seq) unlinkSync(this.path(name, f.seq))
    return this.version()
  }

  version(): StateVersion {
    const names = [...this.files.keys()].sort()
    const root = keccak256(
      encodeAbiParameters(
        [{ type: 'string' }, { type: 'uint64' }, { type: 'string[]' }, { type: 'uint64[]' }, { type: 'bytes32[]' }],
        ['w3a/enclave/state-root/v1', this.seq, names, names.map((n) => this.files.get(n)!.seq), names.map((n) => this.files.get(n)!.digest)],
      ),
    )
    return { seq: this.seq, root }
  }

  private label(name: string): string {
    const label = this.labels[name]
    if (!label) throw new W3aError('INTERNAL', `no seal label for ${name}`)
    return label
  }

  private path(name: string, seq: bigint): string {
    return join(this.dir, `${name}.${seq}.sealed`)
  }
}

function digest(bytes: Uint8Array): Hex {
  return `0x${createHash('sha256').update(bytes).digest('hex')}`
}
