import type { Blockstore } from 'interface-blockstore'
import { CID } from 'multiformats/cid'
import * as dagJson from '@ipld/dag-json'
import { W3aError, isW3aError } from '../core/errors.js'
import type { NetworkInfo } from '../core/network-info.js'
import { createTrustlessGateway, importCar, getManifest, blockKey, dagKeys, dropDag, decodePoolDescriptor, readBlock, POOL_UNIT_COLUMN, type DropDagReturnType, type PoolDescriptor } from '../storage/index.js'
import { getDataset, getDatasetWriter, listDatasets, type ChainPublicClient } from '../chain/index.js'
import { json, errorResponse } from './http-json.js'
import { openApiDocument } from './openapi.js'
import { limitedBody, readJsonBody } from './http-body.js'
import { createUploadQuota, type UploadQuota } from './upload-quota.js'
import { verifyUnpinHeaders, verifyUnpinOwnHeaders, verifyUploadHeaders } from '../storage/upload-authorization.js'
import { createRootUploaders, type RootUploaders } from './root-uploaders.js'
import type { FetchHandler, NodeRoute } from './http-server.js'
import { createIngestRelay, type IngestTarget } from './ingest-relay.js'
import { createCampaignRelay } from './campaign-relay.js'
import { createStaticFiles } from './static-files.js'

export type GatewayParameters = {
  blockstore: Blockstore
  network: NetworkInfo
  publicClient: ChainPublicClient
  /** Largest CAR accepted by POST /api/v1/blocks. */
  maxUploadBytes?: number
  /** Bytes each account may upload (default: createUploadQuota's, in memory). */
  quota?: UploadQuota
  /** Who uploaded each root (default: createRootUploaders's, in memory). */
  uploads?: RootUploaders
  /** The web-analytics ingest worker (ingest-relay.ts); its url is read per request. */
  ingest?: IngestTarget
  /** The dashboard's built files, served at `/` (default dist/app). */
  appDir?: string
}

const DATASET_ID = /^0x[0-9a-fA-F]{64}$/
const DEFAULT_MAX_UPLOAD = 512 * 1024 * 1024

function parseCid(raw: string): CID | null {
  try {
    return CID.parse(raw)
  } catch {
    return null
  }
}

function parseDatasetId(raw: string): `0x${string}` {
  if (!DATASET_ID.test(raw)) throw new W3aError('INVALID_ARGUMENT', `"${raw}" is not a dataset id (0x followed by 64 hex digits)`)
  return raw.toLowerCase() as `0x${string}`
}

/**
 * The gateway's HTTP API (DESIGN §3 part 10). It relays ciphertext and public data only:
 * it stores CARs of encrypted blocks, serves them back through the trustless gateway, and
 * reads public dataset records from the chain. It holds no key and decrypts nothing.
 */
/** The gateway's handler, the route it serves on node:http directly (serveHttp's nodeRoute), and its close (the ingest stream). */
export type Gateway = FetchHandler & { nodeRoute: NodeRoute; close(): void }

export function createGateway(params: GatewayParameters): Gateway {
  const { blockstore, network, publicClient } = params
  const maxUploadBytes = params.maxUploadBytes ?? DEFAULT_MAX_UPLOAD
  const trustless = createTrustlessGateway(blockstore)
  const registry = network.contracts.datasetRegistry
  const startedAt = Date.now()
  const ingestRelay = createIngestRelay(params.ingest ?? {})
  const campaignRelay = createCampaignRelay({ publicClient, campaigns: network.contracts.campaigns, registry: network.contracts.workerRegistry })
  const quota = params.quota ?? createUploadQuota()
  const uploads = params.uploads ?? createRootUploaders()
  const staticFiles = createStaticFiles(params.appDir)

  async function publicManifest(manifestCid: string) {
    try {
      const m = await getManifest(blockstore, CID.parse(manifestCid))
      return {
        name: m.name,
        format: m.format,
        schema: m.schema,
        privacyUnit: m.privacyUnit,
        rows: m.rows,
        segments: m.segments.map((s) => ({ cid: s.cid.toString(), rows: s.rows, size: s.size })),
        envelope: m.envelope,
        createdAt: m.createdAt,
      }
    } catch (e) {
      if (e instanceof W3aError && e.code === 'BLOCK_NOT_FOUND') return null // registered, blocks held elsewhere
      // A pool's CID names its public descriptor (schema, purpose): shown as the table analysts query.
      const pool = e instanceof W3aError && e.code === 'MANIFEST_MALFORMED' ? await poolDescriptorAt(manifestCid) : undefined
      if (!pool) throw e
      const envelope = { version: 1, cipher: 'AES-256-GCM', chunkSize: 0, kdf: 'HKDF-SHA256' }
      return { name: pool.name, format: 'pool', schema: { columns: [...pool.schema.columns, { name: POOL_UNIT_COLUMN, type: 'VARCHAR' }] }, privacyUnit: POOL_UNIT_COLUMN, rows: 0, segments: [], envelope, createdAt: pool.createdAt, purpose: pool.purpose }
    }
  }

  async function poolDescriptorAt(cid: string): Promise<PoolDescriptor | undefined> {
    try {
      return decodePoolDescriptor(await readBlock(blockstore, CID.parse(cid)))
    } catch {
      return undefined
    }
  }

  /**
   * POST /api/v1/datasets/{id}/drop: anyone may ask, because the rule is chain state the node
   * reads itself: only a dataset the registry shows `deleted` is dropped. Its manifest (with the
   * owner's wrapped key) and every segment block go, except blocks that the current manifest
   * of a dataset not deleted, held here, links (shared blocks stay served), or that an uploaded
   * manifest of another dataset links (a registry record naming someone else's manifest, a pool
   * contribution's, drops nothing of it). Idempotent: a second
   * call finds nothing and drops nothing. Drops run one at a time so two never race.
   */
  let dropping: Promise<unknown> = Promise.resolve()
  /**
   * Runs `fn` with the keys of every block a live dataset's current manifest links; one drop at a
   * time. For a drop on behalf of dataset `only`, also every block of an uploaded manifest of
   * another dataset (a pool contribution's is one: in no registry, so nothing live links it):
   * a dataset's owner or writer drops its own dataset's versions, and a registry record naming
   * someone else's manifest drops none of it.
   */
  function withLiveKeys<T>(fn: (keep: Set<string>) => Promise<T>, only?: `0x${string}`): Promise<T> {
    const run = dropping.then(async () => {
      const keep = new Set<string>()
      for (const other of await listDatasets(publicClient, { registry, status: ['active', 'paused', 'unlisted'] })) {
        // A registered manifest CID is whatever its owner wrote: one that does not parse links nothing.
        const root = parseCid(other.manifestCid)
        if (root) await dagKeys(blockstore, root, keep)
      }
      if (only) for (const root of await uploadedManifestsOfOthers(only)) if (!keep.has(blockKey(root))) await dagKeys(blockstore, root, keep)
      return fn(keep)
    })
    dropping = run.catch(() => undefined)
    return run
  }
  /** The uploaded roots that are manifests of a dataset other than `id` (held here, decoding as manifests). */
  async function uploadedManifestsOfOthers(id: `0x${string}`): Promise<CID[]> {
    const out: CID[] = []
    for (const r of uploads.roots()) {
      const root = CID.parse(r)
      if (root.code !== dagJson.code) continue
      const manifest = await getManifest(blockstore, root).catch(() => undefined)
      if (manifest && manifest.datasetId.toLowerCase() !== id) out.push(root)
    }
    return out
  }

  async function dropDeleted(id: `0x${string}`): Promise<{ datasetId: string; manifestCid: string } & DropDagReturnType> {
    const dataset = await getDataset(publicClient, { registry, id })
    if (dataset.status !== 'deleted') {
      throw new W3aError('INVALID_ARGUMENT', `dataset ${id} is ${dataset.status} on chain: a storage node drops the blocks of deleted datasets only`, {
        details: ['Its owner deletes it first: `w3a dataset delete ID --account N`.'],
      })
    }
    const root = parseCid(dataset.manifestCid)
    const none = { blocks: 0, bytes: 0, kept: 0, missing: 0 }
    return withLiveKeys(async (keep) => ({ datasetId: id, manifestCid: dataset.manifestCid, ...(root ? await dropRoots([root.toString()], keep) : none) }), id)
  }

  /**
   * POST /api/v1/datasets/{id}/unpin, body { roots: [CID…] }: old versions of a dataset (a
   * site's segments after a visitor's deletion rewrote them). Signed by the dataset's owner or
   * the writer it named on chain (upload-authorization.ts). Blocks that the current manifest of
   * any dataset not deleted links stay (the live version is never dropped this way), and so do
   * blocks an uploaded manifest of another dataset links (a pool's curator cannot unpin its
   * contributors' blocks by naming them). Who uploaded the roots is not asked: a site's old
   * segments were uploaded by its ingest worker, its owner, or a writer since replaced.
   */
  async function unpinOld(req: Request, id: `0x${string}`): Promise<{ datasetId: string } & DropDagReturnType> {
    const roots = await readRoots(req)
    const signer = await verifyUnpinHeaders(req.headers, { datasetId: id, roots: roots as string[], chainId: network.chainId })
    const dataset = await getDataset(publicClient, { registry, id })
    const writer = await getDatasetWriter(publicClient, { registry, id })
    const lower = signer.toLowerCase()
    if (lower !== dataset.owner.toLowerCase() && lower !== writer.toLowerCase()) {
      throw new W3aError('ACCESS_DENIED', `${signer} is neither the owner nor the writer of dataset ${id}: it may not unpin its blocks`)
    }
    return withLiveKeys(async (keep) => ({ datasetId: id, ...(await dropRoots(roots, keep)) }), id)
  }

  /** The body of an unpin: { roots: [CID…] }, 1 to 10000 of them. */
  async function readRoots(req: Request): Promise<string[]> {
    const body = (await readJsonBody(req, 1024 * 1024)) as { roots?: unknown } | null
    const roots = body?.roots
    if (!Array.isArray(roots) || roots.length === 0 || roots.length > 10_000 || !roots.every((r) => typeof r === 'string' && parseCid(r))) {
      throw new W3aError('INVALID_ARGUMENT', 'unpin: the body is { "roots": [CID, …] } (1 to 10000 CIDs)')
    }
    return roots as string[]
  }

  /** Drops each root's DAG but what `keep` holds; a root whose block is then gone is no longer anyone's upload. */
  async function dropRoots(roots: readonly string[], keep: ReadonlySet<string>): Promise<DropDagReturnType> {
    const out: DropDagReturnType = { blocks: 0, bytes: 0, kept: 0, missing: 0 }
    const seen = new Set<string>()
    for (const r of roots) {
      const root = CID.parse(r)
      const d = await dropDag(blockstore, root, keep, seen)
      out.blocks += d.blocks
      out.bytes += d.bytes
      out.kept += d.kept
      out.missing += d.missing
      if (!(await blockstore.has(root))) uploads.forget(root.toString())
    }
    return out
  }

  /**
   * POST /api/v1/blocks/unpin, body { roots: [CID…] }: an uploader takes back roots it uploaded
   * itself (a pool contributor's deleted contribution: in no registry, so only this node's record
   * of who signed each upload says whose it is). Refused whole when one root is held here but
   * the signer never uploaded it. Kept: what a live dataset's current manifest links, and every
   * block of a root someone else uploaded too, or the signer uploaded and does not name (so a
   * DAG made to link others' blocks drops none of them). Each signature is accepted once; a root
   * already gone counts as missing, so asking again drops nothing more.
   */
  async function unpinOwn(req: Request): Promise<{ account: string; roots: number } & DropDagReturnType> {
    const sent = await readRoots(req)
    const signed = await verifyUnpinOwnHeaders(req.headers, { roots: sent, chainId: network.chainId })
    const roots = [...new Set(sent.map((r) => CID.parse(r).toString()))]
    const signer = signed.signer.toLowerCase()
    return withLiveKeys(async (keep) => {
      const foreign: string[] = []
      for (const r of roots) if (!uploads.uploadersOf(r).includes(signer) && (await blockstore.has(CID.parse(r)))) foreign.push(r)
      if (foreign.length > 0) {
        throw new W3aError('ACCESS_DENIED', `${signed.signer} did not upload ${foreign.length === 1 ? `root ${foreign[0]}` : `${foreign.length} of these roots (${foreign.slice(0, 3).join(', ')}…)`}: it may unpin only its own uploads`, {
          details: ["A dataset's old versions are unpinned by its owner or writer: POST /api/v1/datasets/{id}/unpin."],
        })
      }
      uploads.useSignature(signed.digest, signed.expires)
      const named = new Set(roots)
      for (const r of uploads.roots()) {
        const who = uploads.uploadersOf(r)
        if (named.has(r) && who.length === 1 && who[0] === signer) continue
        const root = CID.parse(r)
        // A root already reached was walked whole with the DAG that reached it.
        if (keep.has(blockKey(root))) continue
        if (await blockstore.has(root)) await dagKeys(blockstore, root, keep)
        else uploads.forget(r)
      }
      const out = await dropRoots(roots, keep)
      for (const r of roots) uploads.release(signed.signer, r)
      return { account: signed.signer, roots: roots.length, ...out }
    })
  }

  /**
   * POST /api/v1/blocks: a CAR signed by an account (upload-authorization.ts). Checked before
   * one byte of body is read: the signature, the account's funds on chain (a fresh key costs
   * nothing, so an unfunded one may not upload), the size and the account's quota. The body
   * is then read up to the signed length only; a CAR that does not import whole (bad block,
   * wrong root, truncated, links to blocks nobody stored) leaves nothing stored.
   */
  async function storeUpload(req: Request): Promise<{ roots: string[]; blocks: number; bytes: number }> {
    const upload = await verifyUploadHeaders(req.headers, { chainId: network.chainId })
    if (upload.bytes > maxUploadBytes) {
      throw new W3aError('BODY_TOO_LARGE', `an upload of ${upload.bytes} bytes is over this node's limit of ${maxUploadBytes}`, {
        details: ['Split the dataset into more segments (smaller CARs): --rows-per-segment.'],
      })
    }
    const root = parseCid(upload.root)
    if (!root) throw new W3aError('UPLOAD_UNAUTHORIZED', `the signed upload root "${upload.root}" is not a CID`)
    const balance = await publicClient.getBalance({ address: upload.uploader }).catch((cause) => {
      throw new W3aError('CHAIN_UNREACHABLE', 'the gateway cannot read the chain to check the uploader', { cause })
    })
    if (balance === 0n) {
      throw new W3aError('UPLOAD_UNAUTHORIZED', `account ${upload.uploader} holds no funds on chain ${network.chainId}: it may not upload`, {
        details: ['Uploads come from accounts that can pay for the transactions that use them (registering a dataset, submitting a job).'],
      })
    }
    quota.reserve({ account: upload.uploader, bytes: upload.bytes, digest: upload.digest, expires: upload.expires })
    let received = 0
    async function* counted(): AsyncGenerator<Uint8Array> {
      for await (const chunk of limitedBody(req, upload.bytes)) {
        received += chunk.byteLength
        yield chunk
      }
    }
    try {
      const result = await importCar(blockstore, counted(), { maxBytes: upload.bytes, expectedRoots: [root], requireComplete: true })
      if (received !== upload.bytes) throw new W3aError('CAR_MALFORMED', `the body has ${received} bytes, the signed upload ${upload.bytes}`)
      uploads.record(upload.uploader, root.toString())
      return { roots: result.roots.map((c) => c.toString()), blocks: result.blocks, bytes: result.bytes }
    } catch (e) {
      quota.release({ account: upload.uploader, bytes: upload.bytes })
      if (isW3aError(e, 'BODY_TOO_LARGE')) throw e
      const cause = isW3aError(e) ? e : new W3aError('INTERNAL', String((e as Error)?.message ?? e))
      throw new W3aError('UPLOAD_NOT_STORED', `the CAR rooted at ${upload.root} was not stored: ${cause.shortMessage}`, {
        details: [`cause: ${cause.code}`, ...cause.details, 'Nothing of it was kept; upload the whole CAR again.'],
        cause: e,
      })
    }
  }

  async function route(req: Request, url: URL): Promise<Response> {
    const { pathname } = url
    const method = req.method === 'HEAD' ? 'GET' : req.method

    const analytics = await ingestRelay(req, pathname)
    if (analytics) return analytics
    const campaign = await campaignRelay(req, pathname)
    if (campaign) return campaign
    if (pathname.startsWith('/ipfs/')) {
      return (await trustless(req)) ?? new Response('not found\n', { status: 404 })
    }
    if (method === 'GET' && (pathname === '/api/v1/openapi.json' || pathname === '/openapi.json')) return json(openApiDocument)
    if (method === 'GET' && pathname === '/api/v1/network') return json(network)
    if (method === 'GET' && pathname === '/api/v1/status') {
      const blockNumber = await publicClient.getBlockNumber().catch(() => null)
      return json({
        network: network.name,
        chain: { chainId: network.chainId, rpcUrl: network.rpcUrl, blockNumber, reachable: blockNumber !== null },
        contracts: network.contracts,
        gateway: { uptimeSeconds: Math.round((Date.now() - startedAt) / 1000) },
        storage: { node: 'local', trustlessGateway: '/ipfs/{cid}' },
      })
    }
    if (method === 'GET' && pathname === '/api/v1/datasets') {
      const ownerParam = url.searchParams.get('owner')
      if (ownerParam !== null && !/^0x[0-9a-fA-F]{40}$/.test(ownerParam)) {
        throw new W3aError('INVALID_ARGUMENT', `owner "${ownerParam}" is not an EVM address`)
      }
      const datasets = await listDatasets(publicClient, {
        registry,
        ...(ownerParam ? { owner: ownerParam as `0x${string}` } : {}),
      })
      return json({ datasets })
    }
    const drop = /^\/api\/v1\/datasets\/([^/]+)\/drop$/.exec(pathname)
    if (drop) {
      if (method !== 'POST') return new Response('method not allowed\n', { status: 405, headers: { allow: 'POST' } })
      return json(await dropDeleted(parseDatasetId(drop[1]!)))
    }
    const unpin = /^\/api\/v1\/datasets\/([^/]+)\/unpin$/.exec(pathname)
    if (unpin) {
      if (method !== 'POST') return new Response('method not allowed\n', { status: 405, headers: { allow: 'POST' } })
      return json(await unpinOld(req, parseDatasetId(unpin[1]!)))
    }
    const one = /^\/api\/v1\/datasets\/([^/]+)$/.exec(pathname)
    if (method === 'GET' && one) {
      const dataset = await getDataset(publicClient, { registry, id: parseDatasetId(one[1]!) })
      return json({ dataset, manifest: await publicManifest(dataset.manifestCid) })
    }
    if (pathname === '/api/v1/blocks/unpin') {
      if (method !== 'POST') return new Response('method not allowed\n', { status: 405, headers: { allow: 'POST' } })
      return json(await unpinOwn(req))
    }
    if (pathname === '/api/v1/blocks') {
      if (method !== 'POST') return new Response('method not allowed\n', { status: 405, headers: { allow: 'POST' } })
      return json(await storeUpload(req))
    }
    if (!pathname.startsWith('/api/')) {
      const file = await staticFiles(req, pathname)
      if (file) return file
    }
    return json(new W3aError('INVALID_ARGUMENT', `no route for ${req.method} ${pathname}`, { details: ['See /api/v1/openapi.json'] }).toJSON(), 404)
  }

  const handler: FetchHandler = async (req) => {
    try {
      return await route(req, new URL(req.url))
    } catch (e) {
      return errorResponse(e)
    }
  }
  return Object.assign(handler, { nodeRoute: ingestRelay.eventRoute, close: ingestRelay.close })
}
