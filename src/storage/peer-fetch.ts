/**
 * A blockstore that, when a block is not here, asks peers for it over the trustless
 * gateway protocol (`GET {peer}/ipfs/{cid}?format=raw`), checks the bytes against the
 * CID, keeps a copy and returns it. Peers are untrusted: a peer that sends the wrong
 * bytes is skipped and the next one is asked. `has` answers for the local store only. Requests
 * carry `Cache-Control: only-if-cached`: a peer answers from its own store and never asks its
 * own peers on our behalf (no fetch loops between gateways that peer with each other).
 *
 * Any trustless gateway can be a peer (another W3A storage node, Kubo, a public gateway).
 */
import type { Blockstore, InputPair, Pair } from 'interface-blockstore'
import type { CID } from 'multiformats/cid'
import { W3aError, isW3aError } from '../core/errors.js'
import { collectBytes, isNotFound } from './blockstore.js'
import { IDENTITY, MAX_BLOCK_BYTES, verifyBlock } from './verify-block.js'

type AbortOptions = { signal?: AbortSignal }
type BlockBytes = Uint8Array | Iterable<Uint8Array> | AsyncIterable<Uint8Array>

export type PeerFetchOptions = {
  /** Per-peer request timeout. Default 10 s. */
  timeoutMs?: number
  /** For tests / custom agents. Default: global fetch. */
  fetch?: typeof fetch
}

export function withPeerFetch(blockstore: Blockstore, peers: string[], opts: PeerFetchOptions = {}): Blockstore {
  return new PeerFetchBlockstore(blockstore, peers, opts)
}

type Outcome = 'not-found' | 'unreachable' | 'lied'

class PeerFetchBlockstore implements Blockstore {
  readonly #local: Blockstore
  readonly #peers: URL[]
  readonly #timeoutMs: number
  readonly #fetch: typeof fetch
  readonly #inflight = new Map<string, Promise<Uint8Array>>()

  constructor(local: Blockstore, peers: string[], opts: PeerFetchOptions) {
    this.#local = local
    this.#peers = peers.map((p) => {
      try {
        return new URL(p.endsWith('/') ? p : `${p}/`)
      } catch {
        throw new W3aError('INVALID_ARGUMENT', `Not a peer URL: ${p}`)
      }
    })
    this.#timeoutMs = opts.timeoutMs ?? 10_000
    this.#fetch = opts.fetch ?? fetch
  }

  has(key: CID, options?: AbortOptions): boolean | Promise<boolean> {
    return this.#local.has(key, options)
  }

  put(key: CID, val: BlockBytes, options?: AbortOptions): CID | Promise<CID> {
    return this.#local.put(key, val, options)
  }

  putMany(source: Iterable<InputPair> | AsyncIterable<InputPair>, options?: AbortOptions): Generator<CID> | AsyncGenerator<CID> {
    return this.#local.putMany(source, options)
  }

  async *get(key: CID, options?: AbortOptions): AsyncGenerator<Uint8Array> {
    if (key.multihash.code === IDENTITY) {
      yield key.multihash.digest
      return
    }
    let local: Uint8Array | undefined
    try {
      local = await collectBytes(this.#local.get(key, options))
    } catch (e) {
      // Missing, or corrupt on disk (the checked store has dropped it): fetch a good copy.
      if (!isNotFound(e) && !isW3aError(e, 'BLOCK_HASH_MISMATCH')) throw e
    }
    yield local ?? (await this.#fetchOnce(key, options))
  }

  async *getMany(source: Iterable<CID> | AsyncIterable<CID>, options?: AbortOptions): AsyncGenerator<Pair> {
    for await (const cid of source) yield { cid, bytes: this.get(cid, options) }
  }

  delete(key: CID, options?: AbortOptions): void | Promise<void> {
    return this.#local.delete(key, options)
  }

  deleteMany(source: Iterable<CID> | AsyncIterable<CID>, options?: AbortOptions): Generator<CID> | AsyncGenerator<CID> {
    return this.#local.deleteMany(source, options)
  }

  getAll(options?: AbortOptions): Generator<Pair> | AsyncGenerator<Pair> {
    return this.#local.getAll(options)
  }

  /** One network fetch per CID at a time, however many readers want it. */
  #fetchOnce(cid: CID, options?: AbortOptions): Promise<Uint8Array> {
    const key = cid.toString()
    let pending = this.#inflight.get(key)
    if (pending === undefined) {
      pending = this.#fetchFromPeers(cid, options).finally(() => this.#inflight.delete(key))
      this.#inflight.set(key, pending)
    }
    return pending
  }

  async #fetchFromPeers(cid: CID, options?: AbortOptions): Promise<Uint8Array> {
    const outcomes: { peer: string; outcome: Outcome; why: string }[] = []
    for (const peer of this.#peers) {
      options?.signal?.throwIfAborted()
      const result = await this.#askPeer(peer, cid, options)
      if (result instanceof Uint8Array) {
        await this.#local.put(cid, result, options)
        return result
      }
      outcomes.push({ peer: peer.origin + peer.pathname, ...result })
    }
    const details = outcomes.map((o) => `${o.peer}: ${o.why}`)
    if (outcomes.some((o) => o.outcome === 'lied')) {
      throw new W3aError('BLOCK_HASH_MISMATCH', `No peer returned a valid copy of block ${cid}`, { details })
    }
    if (outcomes.length > 0 && outcomes.every((o) => o.outcome === 'unreachable')) {
      throw new W3aError('PEER_UNREACHABLE', `Could not reach any peer for block ${cid}`, { details })
    }
    throw new W3aError('BLOCK_NOT_FOUND', `Block ${cid} is not here and no peer has it`, {
      details: details.length > 0 ? details : ['no peers configured'],
    })
  }

  async #askPeer(peer: URL, cid: CID, options?: AbortOptions): Promise<Uint8Array | { outcome: Outcome; why: string }> {
    const url = new URL(`ipfs/${cid}?format=raw`, peer)
    const signals = [AbortSignal.timeout(this.#timeoutMs)]
    if (options?.signal !== undefined) signals.push(options.signal)
    let res: Response
    try {
      res = await this.#fetch(url, { headers: { Accept: 'application/vnd.ipld.raw', 'Cache-Control': 'only-if-cached' }, signal: AbortSignal.any(signals) })
    } catch (e) {
      options?.signal?.throwIfAborted()
      return { outcome: 'unreachable', why: (e as Error)?.name === 'TimeoutError' ? 'timed out' : String((e as Error)?.message ?? e) }
    }
    if (res.status === 404 || res.status === 410 || res.status === 412) {
      await res.body?.cancel()
      return { outcome: 'not-found', why: `HTTP ${res.status}` }
    }
    if (!res.ok) {
      await res.body?.cancel()
      return { outcome: 'unreachable', why: `HTTP ${res.status}` }
    }
    let bytes: Uint8Array
    try {
      bytes = await readCapped(res, MAX_BLOCK_BYTES)
    } catch (e) {
      options?.signal?.throwIfAborted()
      if (isW3aError(e, 'BLOCK_HASH_MISMATCH')) return { outcome: 'lied', why: e.shortMessage }
      return { outcome: 'unreachable', why: `body: ${String((e as Error)?.message ?? e)}` }
    }
    try {
      await verifyBlock(cid, bytes)
    } catch (e) {
      if (isW3aError(e, 'BLOCK_HASH_MISMATCH')) return { outcome: 'lied', why: 'sent bytes that do not match the CID' }
      throw e
    }
    return bytes
  }
}

/** Reads a response body, refusing (as a lying peer) anything over `max` bytes. */
async function readCapped(res: Response, max: number): Promise<Uint8Array> {
  const oversized = () => new W3aError('BLOCK_HASH_MISMATCH', `sent more than ${max} bytes for one block`)
  const declared = Number(res.headers.get('content-length') ?? NaN)
  if (declared > max) {
    await res.body?.cancel()
    throw oversized()
  }
  if (res.body === null) return new Uint8Array(0)
  const parts: Uint8Array[] = []
  let total = 0
  const reader = res.body.getReader()
  for (;;) {
    const { value, done } = await reader.read()
    if (done) break
    total += value.length
    if (total > max) {
      await reader.cancel()
      throw oversized()
    }
    parts.push(value)
  }
  return collectBytes(parts)
}
