import { join } from 'node:path'
import { mkdirSync } from 'node:fs'
import { createChainClients, type Deployment } from '../chain/index.js'
import { dataDirLayout } from '../core/data-dir.js'
import type { NetworkInfo } from '../core/network-info.js'
import { openBlockstore, withPeerFetch } from '../storage/index.js'
import { createGateway } from './gateway.js'
import { serveHttp } from './http-server.js'
import type { IngestTarget } from './ingest-relay.js'
import { createUploadQuota } from './upload-quota.js'
import { createRootUploaders } from './root-uploaders.js'

export type GatewayNodeParameters = {
  /** Where this node keeps its blocks, upload quota and who uploaded each root (its own data dir). */
  dataDir: string
  /** The chain RPC the gateway reads dataset records from, and tells clients. */
  rpcUrl: string
  deployment: Deployment
  /** Name the gateway tells clients (default `w3a`). */
  name?: string
  port: number
  /** Listen address (default 127.0.0.1). */
  host?: string
  /** Other storage nodes' trustless gateways: a block not here is fetched from them, checked and kept. */
  peers?: string[]
  /** Bytes each account may upload (default createUploadQuota's). */
  uploadQuotaBytes?: number
  /** The web-analytics ingest worker events are relayed to (its url may be set later). */
  ingest?: IngestTarget
}

export type GatewayNode = { url: string; network: NetworkInfo; close(): Promise<void> }

/** The gateway and storage node of one machine (DESIGN §4): its blockstore, the HTTP API, the app. */
export async function startGatewayNode(p: GatewayNodeParameters): Promise<GatewayNode> {
  const d = p.deployment
  const layout = dataDirLayout(p.dataDir)
  mkdirSync(layout.blocksDir, { recursive: true })
  const local = await openBlockstore(layout.blocksDir)
  const blockstore = p.peers && p.peers.length > 0 ? withPeerFetch(local, p.peers) : local
  const network: NetworkInfo = {
    name: p.name ?? 'w3a',
    chainId: d.chainId,
    rpcUrl: p.rpcUrl,
    contracts: { token: d.token, datasetRegistry: d.datasetRegistry, workerRegistry: d.workerRegistry, custodyInbox: d.custodyInbox, market: d.market, jobs: d.jobs, campaigns: d.campaigns, storageMarket: d.storageMarket },
    dev: d.dev ?? true,
  }
  const { publicClient } = createChainClients({ rpcUrl: p.rpcUrl, chainId: d.chainId })
  const quota = createUploadQuota({ file: join(layout.root, 'upload-quota.json'), ...(p.uploadQuotaBytes !== undefined ? { bytesPerAccount: p.uploadQuotaBytes } : {}) })
  const uploads = createRootUploaders({ dir: join(layout.root, 'uploads') })
  const gateway = createGateway({ blockstore, network, publicClient, quota, uploads, ...(p.ingest ? { ingest: p.ingest } : {}) })
  const http = await serveHttp(gateway, { port: p.port, nodeRoute: gateway.nodeRoute, ...(p.host ? { host: p.host } : {}) })
  return {
    url: http.url,
    network,
    close: () => {
      gateway.close()
      return http.close()
    },
  }
}
