/**
 * What the storage tests check against real nodes (test/storage-mining.test.ts,
 * test/multi-node.test.ts): every block of a dataset as the trustless gateways serve it, how
 * many of them a node serves, and the governance settings that make eras short enough to test.
 */
import assert from 'node:assert/strict'
import type { Address } from 'viem'
import { CID } from 'multiformats/cid'
import type { createChainClients, devAccount } from '../src/chain/index.js'
import { getJobsParams } from '../src/chain/actions/getJobsParams.js'
import { setJobsParams } from '../src/chain/actions/setJobsParams.js'
import { getStorageMarketParams } from '../src/chain/actions/getStorageMarketParams.js'
import { setStorageMarketParams } from '../src/chain/actions/setStorageMarketParams.js'
import { blockLinks } from '../src/storage/index.js'

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** Polls `check` (1 s apart) until it returns a value, or fails after `seconds` with what it saw last. */
export async function until<T>(what: string, seconds: number, check: () => Promise<T | undefined>): Promise<T> {
  for (let i = 0; ; i++) {
    const v = await check()
    if (v !== undefined) return v
    if (i >= seconds) throw new Error(`${what}: not reached in ${seconds} s`)
    await sleep(1_000)
  }
}

/** Every block CID of the DAGs under `roots`, read from `from` (a trustless gateway) and checked by the walk. */
export async function dagCids(from: string, roots: readonly string[]): Promise<string[]> {
  const seen = new Set<string>()
  const stack = roots.map((r) => CID.parse(r))
  while (stack.length > 0) {
    const cid = stack.pop()!
    if (cid.multihash.code === 0 || seen.has(cid.toString())) continue
    seen.add(cid.toString())
    const res = await fetch(`${from}/ipfs/${cid}?format=raw`)
    assert.equal(res.status, 200, `${from} serves ${cid}`)
    stack.push(...blockLinks(cid, new Uint8Array(await res.arrayBuffer())))
  }
  return [...seen]
}

/** How many of `cids` the node at `url` serves as raw blocks. */
export async function served(url: string, cids: readonly string[]): Promise<number> {
  const codes = await Promise.all(cids.map(async (cid) => (await fetch(`${url}/ipfs/${cid}?format=raw`)).status))
  return codes.filter((c) => c === 200).length
}

/**
 * Governance (the dev deployer `chain`): 5-block eras (the dev default is 20), 2 failed challenges
 * remove a node from an order, and a 20 % storage share of job payouts.
 */
export async function shortStorageEras(chain: ReturnType<typeof createChainClients<ReturnType<typeof devAccount>>>, contracts: { storageMarket: Address; jobs: Address }): Promise<void> {
  const market = await getStorageMarketParams(chain.publicClient, { storageMarket: contracts.storageMarket })
  await setStorageMarketParams(chain, { storageMarket: contracts.storageMarket, eraLength: 5n, maxFailures: 2, challengeSlash: market.challengeSlash })
  const { market: _m, workerRegistry: _w, token: _t, governance: _g, storageMarket: _s, ...jobsParams } = await getJobsParams(chain.publicClient, { jobs: contracts.jobs })
  await setJobsParams(chain, { ...jobsParams, jobs: contracts.jobs, storageBps: 2_000 })
}
