import { getAddress, zeroAddress, type Address, type Hash } from 'viem'
import { W3aError } from '../core/errors.js'
import {
  CampaignsArtifact,
  CustodyInboxArtifact,
  DatasetRegistryArtifact,
  JobsArtifact,
  MarketArtifact,
  StorageMarketArtifact,
  W3ATokenArtifact,
  WorkerRegistryArtifact,
  jobsAbi,
  marketAbi,
  workerRegistryAbi,
} from './abis.js'
import type { WriteClients } from './clients.js'
import { withChainErrors } from './errors.js'
import type { JobsParams } from './jobs.js'
import type { StorageMarketParams } from './storage.js'
import type { WorkerRegistryParams } from './worker.js'
import { rpcUrlOf, waitForSuccess } from './write.js'

/** Registry parameters of dev networks (`w3a up`): 100 tokens stake, 60 s heartbeat timeout, 50-block epochs. */
export const DEVNET_WORKER_REGISTRY_PARAMS = {
  minStake: 100n * 10n ** 18n,
  heartbeatTimeout: 60n,
  epochLength: 50n,
} as const satisfies Partial<WorkerRegistryParams>

/**
 * Jobs parameters of dev networks: owner 70 % / worker 20 % / treasury 10 %, no storage share
 * (tests and networks that pay storage nodes pass `storageBps`), 120 s job timeout, 10 tokens
 * slashed per timeout.
 */
export const DEVNET_JOBS_PARAMS = {
  ownerShareBps: 7000,
  workerShareBps: 2000,
  treasuryShareBps: 1000,
  storageBps: 0,
  jobTimeout: 120n,
  slashAmount: 10n * 10n ** 18n,
} as const satisfies Omit<JobsParams, 'treasury'>

/**
 * StorageMarket parameters of dev networks: 20-block eras (anvil mines a block per transaction, and
 * workers' heartbeats keep it moving), removal from an order at the second failed challenge, 10
 * tokens of stake per failure.
 */
export const DEVNET_STORAGE_PARAMS = {
  eraLength: 20n,
  maxFailures: 2,
  challengeSlash: 10n * 10n ** 18n,
} as const satisfies StorageMarketParams

export type DeployContractsParameters = WriteClients & {
  /** Owner of the registries (network governance). Default: the deployer. */
  governance?: Address
  /** Use this ERC-20 instead of deploying the dev token (production networks). */
  token?: Address
  /**
   * Address of the sim dev attestation key (src/tee's DEV_ATTESTATION_SIGNER). Giving it makes a
   * dev network: `allowSim` then defaults to true. Without it no sim quote can verify.
   */
  devAttestationSigner?: Address
  /**
   * WorkerRegistry parameters; unset ones default to DEVNET_WORKER_REGISTRY_PARAMS, with
   * `allowSim` = (devAttestationSigner given).
   */
  workerRegistryParams?: Partial<WorkerRegistryParams>
  /** Jobs parameters; unset ones default to DEVNET_JOBS_PARAMS, treasury to governance. */
  jobsParams?: Partial<JobsParams>
  /** Seconds a campaign's aggregator has after its deadline to post the result (default DEVNET_CAMPAIGN_RESULT_WINDOW). */
  campaignResultWindow?: bigint
  /** StorageMarket parameters; unset ones default to DEVNET_STORAGE_PARAMS. */
  storageParams?: Partial<StorageMarketParams>
}

/** Dev networks: a campaign's aggregator has one hour after the deadline to post its result. */
export const DEVNET_CAMPAIGN_RESULT_WINDOW = 3600n

export type DeployContractsReturnType = {
  token: Address
  datasetRegistry: Address
  workerRegistry: Address
  custodyInbox: Address
  market: Address
  jobs: Address
  campaigns: Address
  storageMarket: Address
  /** The parameters the WorkerRegistry was deployed with. */
  workerRegistryParams: WorkerRegistryParams
  /** The parameters the Jobs contract was deployed with. */
  jobsParams: JobsParams
  /** The parameters the StorageMarket was deployed with. */
  storageParams: StorageMarketParams
  /**
   * True when the deployer is governance and so could wire Market.setJobs(jobs),
   * WorkerRegistry.setSlasher(jobs and storageMarket, true) and Jobs.setStorageMarket(storageMarket);
   * otherwise governance must make these calls.
   */
  wired: boolean
  deployer: Address
  chainId: number
  /** Block of the last deployment transaction (where event followers can start). */
  blockNumber: bigint
}

/**
 * Deploys the W3A contracts with the wallet's account and waits for every receipt:
 * token (unless given), DatasetRegistry, WorkerRegistry, CustodyInbox (bound to the registry),
 * Market (on the DatasetRegistry), Jobs (on Market + WorkerRegistry), Campaigns and StorageMarket
 * (on WorkerRegistry + DatasetRegistry, credited by Jobs). When the deployer is governance it also
 * names Jobs as the Market's consumer, Jobs and StorageMarket as WorkerRegistry slashers, and
 * StorageMarket as where Jobs sends the storage share.
 * The dev token's owner (who can mint) is the deployer.
 */
export async function deployContracts(params: DeployContractsParameters): Promise<DeployContractsReturnType> {
  const { publicClient, walletClient } = params
  const deployer = walletClient.account.address
  const governance = params.governance ?? deployer
  const signer = params.workerRegistryParams?.devAttestationSigner ?? params.devAttestationSigner ?? zeroAddress
  const registryParams: WorkerRegistryParams = {
    allowSim: params.workerRegistryParams?.allowSim ?? signer !== zeroAddress,
    devAttestationSigner: signer,
    minStake: params.workerRegistryParams?.minStake ?? DEVNET_WORKER_REGISTRY_PARAMS.minStake,
    heartbeatTimeout: params.workerRegistryParams?.heartbeatTimeout ?? DEVNET_WORKER_REGISTRY_PARAMS.heartbeatTimeout,
    epochLength: params.workerRegistryParams?.epochLength ?? DEVNET_WORKER_REGISTRY_PARAMS.epochLength,
  }
  const jobsParams: JobsParams = { ...DEVNET_JOBS_PARAMS, treasury: governance, ...params.jobsParams }
  const storageParams: StorageMarketParams = { ...DEVNET_STORAGE_PARAMS, ...params.storageParams }
  return withChainErrors(
    async () => {
      const chainId = await publicClient.getChainId()
      const deploy = async (label: string, hash: Hash) => {
        const receipt = await waitForSuccess(publicClient, hash)
        if (!receipt.contractAddress) throw new W3aError('CHAIN_ERROR', `deploying ${label} produced no contract address (tx ${hash})`)
        return { address: getAddress(receipt.contractAddress), blockNumber: receipt.blockNumber }
      }

      const token =
        params.token ??
        (await deploy('W3AToken', await walletClient.deployContract({ abi: W3ATokenArtifact.abi, bytecode: W3ATokenArtifact.bytecode, args: [deployer] })))
          .address
      const datasetRegistry = await deploy(
        'DatasetRegistry',
        await walletClient.deployContract({ abi: DatasetRegistryArtifact.abi, bytecode: DatasetRegistryArtifact.bytecode, args: [token, governance] }),
      )
      const workerRegistry = await deploy(
        'WorkerRegistry',
        await walletClient.deployContract({ abi: WorkerRegistryArtifact.abi, bytecode: WorkerRegistryArtifact.bytecode, args: [token, governance, registryParams] }),
      )
      const custodyInbox = await deploy(
        'CustodyInbox',
        await walletClient.deployContract({ abi: CustodyInboxArtifact.abi, bytecode: CustodyInboxArtifact.bytecode, args: [workerRegistry.address] }),
      )
      const market = await deploy(
        'Market',
        await walletClient.deployContract({ abi: MarketArtifact.abi, bytecode: MarketArtifact.bytecode, args: [datasetRegistry.address, governance] }),
      )
      const jobs = await deploy(
        'Jobs',
        await walletClient.deployContract({
          abi: JobsArtifact.abi,
          bytecode: JobsArtifact.bytecode,
          args: [market.address, workerRegistry.address, custodyInbox.address, governance, jobsParams],
        }),
      )
      const campaigns = await deploy(
        'Campaigns',
        await walletClient.deployContract({
          abi: CampaignsArtifact.abi,
          bytecode: CampaignsArtifact.bytecode,
          args: [workerRegistry.address, params.campaignResultWindow ?? DEVNET_CAMPAIGN_RESULT_WINDOW],
        }),
      )
      const storageMarket = await deploy(
        'StorageMarket',
        await walletClient.deployContract({
          abi: StorageMarketArtifact.abi,
          bytecode: StorageMarketArtifact.bytecode,
          args: [workerRegistry.address, datasetRegistry.address, jobs.address, governance, storageParams],
        }),
      )
      let blockNumber = storageMarket.blockNumber
      const wired = governance.toLowerCase() === deployer.toLowerCase()
      if (wired) {
        const setJobs = await publicClient.simulateContract({
          address: market.address,
          abi: marketAbi,
          functionName: 'setJobs',
          args: [jobs.address],
          account: walletClient.account,
        })
        await waitForSuccess(publicClient, await walletClient.writeContract(setJobs.request))
        for (const slasher of [jobs.address, storageMarket.address]) {
          const setSlasher = await publicClient.simulateContract({
            address: workerRegistry.address,
            abi: workerRegistryAbi,
            functionName: 'setSlasher',
            args: [slasher, true],
            account: walletClient.account,
          })
          await waitForSuccess(publicClient, await walletClient.writeContract(setSlasher.request))
        }
        const setStorageMarket = await publicClient.simulateContract({
          address: jobs.address,
          abi: jobsAbi,
          functionName: 'setStorageMarket',
          args: [storageMarket.address],
          account: walletClient.account,
        })
        blockNumber = (await waitForSuccess(publicClient, await walletClient.writeContract(setStorageMarket.request))).blockNumber
      }
      return {
        token,
        datasetRegistry: datasetRegistry.address,
        workerRegistry: workerRegistry.address,
        custodyInbox: custodyInbox.address,
        market: market.address,
        jobs: jobs.address,
        campaigns: campaigns.address,
        storageMarket: storageMarket.address,
        workerRegistryParams: registryParams,
        jobsParams,
        storageParams,
        wired,
        deployer,
        chainId,
        blockNumber,
      }
    },
    { rpcUrl: rpcUrlOf(publicClient) },
  )
}
