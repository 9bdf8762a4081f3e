// Typed ABIs and bytecode from the generated artifacts (run `npm run build:contracts` first).
import {
  CampaignsArtifact,
  contractsSourcesHash,
  CustodyInboxArtifact,
  DatasetRegistryArtifact,
  JobsArtifact,
  MarketArtifact,
  StorageMarketArtifact,
  W3ATokenArtifact,
  WorkerRegistryArtifact,
} from './generated/artifacts.js'

export { CampaignsArtifact, CustodyInboxArtifact, DatasetRegistryArtifact, JobsArtifact, MarketArtifact, StorageMarketArtifact, W3ATokenArtifact, WorkerRegistryArtifact }
function abiOf<const artifact extends { abi: unknown }>(a: artifact): artifact['abi'] {
  return a.abi
}

// Each through a pure call, not a property read: a bundler drops the ABIs (and the artifacts)
// its bundle never uses, which it cannot prove of `X.abi` (a getter could run).
export const datasetRegistryAbi = /* @__PURE__ */ abiOf(DatasetRegistryArtifact)
export const w3aTokenAbi = /* @__PURE__ */ abiOf(W3ATokenArtifact)
export const workerRegistryAbi = /* @__PURE__ */ abiOf(WorkerRegistryArtifact)
export const custodyInboxAbi = /* @__PURE__ */ abiOf(CustodyInboxArtifact)
export const marketAbi = /* @__PURE__ */ abiOf(MarketArtifact)
export const jobsAbi = /* @__PURE__ */ abiOf(JobsArtifact)
export const campaignsAbi = /* @__PURE__ */ abiOf(CampaignsArtifact)
export const storageMarketAbi = /* @__PURE__ */ abiOf(StorageMarketArtifact)

/**
 * sha256 over the contract sources, compiler version, OpenZeppelin version and compiler settings
 * of this build: deployment files record it, and a deployment made from other sources is refused.
 */
export const CONTRACTS_SOURCES_HASH: string = contractsSourcesHash
