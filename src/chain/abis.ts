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
export const datasetRegistryAbi = DatasetRegistryArtifact.abi
export const w3aTokenAbi = W3ATokenArtifact.abi
export const workerRegistryAbi = WorkerRegistryArtifact.abi
export const custodyInboxAbi = CustodyInboxArtifact.abi
export const marketAbi = MarketArtifact.abi
export const jobsAbi = JobsArtifact.abi
export const campaignsAbi = CampaignsArtifact.abi
export const storageMarketAbi = StorageMarketArtifact.abi

/**
 * sha256 over the contract sources, compiler version, OpenZeppelin version and compiler settings
 * of this build: deployment files record it, and a deployment made from other sources is refused.
 */
export const CONTRACTS_SOURCES_HASH: string = contractsSourcesHash
