import type { Blockstore } from 'interface-blockstore'
import { CID } from 'multiformats/cid'
import { W3aError } from '../core/errors.js'
import type { NetworkInfo } from '../core/network-info.js'
import { createTrustlessGateway, importCar, getManifest } from '../storage/index.js'
import { getDataset, listDatasets, type ChainPublicClient } from '../chain/index.js'
import { json, errorResponse } from './http-json.js'
import { openApiDocument } from './openapi.js'
import type { FetchHandler } from './http-server.js'

export type GatewayParameters = {
  blockstore: Blockstore
  network: NetworkInfo
  publicClient: ChainPublicClient
  /** Largest CAR accepted by POST /api/v1/blocks. */
  maxUploadBytes?: number
}

const DATASET_ID = /^0x[0-9a-fA-F]{64}$/
const DEFAULT_MAX_UPLOAD = 512 * 1024 * 1024

function parseDatasetId(raw: string): `0x${string}` {
  if (!DATASET_ID.test(raw)) throw new W3aError('INVALID_ARGUMENT', `"${raw}" is not a dataset id (0x followed by 64 hex digits)`)
  return raw.toLowerCase() as `0x${string}`
}

/**
 * The gateway's HTTP API (DESIGN §3 part 10). It relays ciphertext and public data only:
 * it stores CARs of encrypted blocks, serves them back through the trustless gateway, and
 * reads public dataset records from the chain. It holds no key and decrypts nothing.
 */
export function createGateway(params: GatewayParameters): FetchHandler {
  const { blockstore, network, publicClient } = params
  const maxUploadBytes = params.maxUploadBytes ?? DEFAULT_MAX_UPLOAD
  const trustless = createTrustlessGateway(blockstore)
  const registry = network.contracts.datasetRegistry
  const startedAt = Date.now()

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
      throw e
    }
  }

  async function route(req: Request, url: URL): Promise<Response> {
    const { pathname } = url
    const method = req.method === 'HEAD' ? 'GET' : req.method

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
    const one = /^\/api\/v1\/datasets\/([^/]+)$/.exec(pathname)
    if (method === 'GET' && one) {
      const dataset = await getDataset(publicClient, { registry, id: parseDatasetId(one[1]!) })
      return json({ dataset, manifest: await publicManifest(dataset.manifestCid) })
    }
    if (pathname === '/api/v1/blocks') {
      if (method !== 'POST') return new Response('method not allowed\n', { status: 405, headers: { allow: 'POST' } })
      const declared = Number(req.headers.get('content-length') ?? '0')
      if (declared > maxUploadBytes) {
        throw new W3aError('INVALID_ARGUMENT', `upload of ${declared} bytes is over the limit of ${maxUploadBytes}`, {
          details: ['Split the dataset into more segments (smaller CARs).'],
        })
      }
      if (req.body === null) throw new W3aError('INVALID_ARGUMENT', 'POST /api/v1/blocks needs a CAR body')
      const result = await importCar(blockstore, req.body as unknown as AsyncIterable<Uint8Array>, { maxBytes: maxUploadBytes })
      return json({ roots: result.roots.map((c) => c.toString()), blocks: result.blocks, bytes: result.bytes })
    }
    return json(new W3aError('INVALID_ARGUMENT', `no route for ${req.method} ${pathname}`, { details: ['See /api/v1/openapi.json'] }).toJSON(), 404)
  }

  return async (req) => {
    try {
      return await route(req, new URL(req.url))
    } catch (e) {
      return errorResponse(e)
    }
  }
}
