// The chain module's portable part (no Node built-in, so browsers can bundle it): clients,
// deployment, typed actions, errors. index.ts adds the Anvil launcher and the devnet deployment file.
export { DEV_MNEMONIC, DEV_ACCOUNT_COUNT, devAccount } from './dev-accounts.js'
export {
  createChainClients,
  chainFor,
  type CreateChainClientsParameters,
  type CreateChainClientsReturnType,
  type ChainPublicClient,
  type ChainWalletClient,
  type WriteClients,
} from './clients.js'
export { deployContracts, DEVNET_WORKER_REGISTRY_PARAMS, DEVNET_JOBS_PARAMS, DEVNET_STORAGE_PARAMS, type DeployContractsParameters, type DeployContractsReturnType } from './deploy.js'
export { toChainError, withChainErrors, TxRevertedError, type ToChainErrorContext } from './errors.js'
export { DATASET_STATUSES, assertDatasetId, datasetIdFor, type Dataset, type DatasetStatus } from './dataset.js'
export type { WriteResult } from './write.js'
export {
  datasetRegistryAbi,
  w3aTokenAbi,
  workerRegistryAbi,
  custodyInboxAbi,
  marketAbi,
  jobsAbi,
  campaignsAbi,
  storageMarketAbi,
  StorageMarketArtifact,
  CampaignsArtifact,
  DatasetRegistryArtifact,
  MarketArtifact,
  JobsArtifact,
  W3ATokenArtifact,
  WorkerRegistryArtifact,
  CustodyInboxArtifact,
  CONTRACTS_SOURCES_HASH,
} from './abis.js'
export {
  TEE_TYPES,
  WORKER_ROLES,
  SIM_QUOTE_BYTES,
  rolesToBits,
  rolesFromBits,
  reportDataFor,
  workerPossessionDigest,
  keeperApprovalDigest,
  signKeeperApproval,
  simQuoteDigest,
  encodeSimQuote,
  decodeSimQuote,
  epochOf,
  type TeeType,
  type WorkerRole,
  type WorkerState,
  type WorkerStatus,
  type WorkerInfo,
  type WorkerRegistryParams,
  type KeeperApprovalParameters,
  type SimQuote,
} from './worker.js'
export { EMPTY_INBOX_HEAD, nextInboxHead, type InboxEntry } from './inbox.js'

export { registerDataset, type RegisterDatasetParameters, type RegisterDatasetReturnType } from './actions/registerDataset.js'
export { getDataset, type GetDatasetParameters, type GetDatasetReturnType } from './actions/getDataset.js'
export { listDatasets, type ListDatasetsParameters, type ListDatasetsReturnType } from './actions/listDatasets.js'
export { setDatasetPrice, type SetDatasetPriceParameters, type SetDatasetPriceReturnType } from './actions/setDatasetPrice.js'
export { setDatasetStatus, type SetDatasetStatusParameters, type SetDatasetStatusReturnType } from './actions/setDatasetStatus.js'
export {
  updateDatasetManifest,
  type UpdateDatasetManifestParameters,
  type UpdateDatasetManifestReturnType,
} from './actions/updateDatasetManifest.js'
export { setDatasetWriter, getDatasetWriter, type SetDatasetWriterParameters } from './actions/setDatasetWriter.js'
export { getTokenBalance, type GetTokenBalanceParameters, type GetTokenBalanceReturnType } from './actions/getTokenBalance.js'

export { approveToken, type ApproveTokenParameters, type ApproveTokenReturnType } from './actions/approveToken.js'
export { registerWorker, type RegisterWorkerParameters, type RegisterWorkerReturnType } from './actions/registerWorker.js'
export { heartbeat, type HeartbeatParameters, type HeartbeatReturnType } from './actions/heartbeat.js'
export { getWorker, type GetWorkerParameters, type GetWorkerReturnType } from './actions/getWorker.js'
export { listWorkers, type ListWorkersParameters, type ListWorkersReturnType } from './actions/listWorkers.js'
export { pruneWorkers, type PruneWorkersParameters, type PruneWorkersReturnType } from './actions/pruneWorkers.js'
export { requestWorkerExit, type RequestWorkerExitParameters, type RequestWorkerExitReturnType } from './actions/requestWorkerExit.js'
export { withdrawWorkerStake, type WithdrawWorkerStakeParameters, type WithdrawWorkerStakeReturnType } from './actions/withdrawWorkerStake.js'
export { slashWorker, type SlashWorkerParameters, type SlashWorkerReturnType } from './actions/slashWorker.js'
export { allowMeasurement, type AllowMeasurementParameters, type AllowMeasurementReturnType } from './actions/allowMeasurement.js'
export { disallowMeasurement, type DisallowMeasurementParameters, type DisallowMeasurementReturnType } from './actions/disallowMeasurement.js'
export { setAllowSim, type SetAllowSimParameters, type SetAllowSimReturnType } from './actions/setAllowSim.js'
export { setMinKeepers, type SetMinKeepersParameters, type SetMinKeepersReturnType } from './actions/setMinKeepers.js'
export { setTcbPolicy, type SetTcbPolicyParameters, type SetTcbPolicyReturnType } from './actions/setTcbPolicy.js'
export { getTcbPolicy, type GetTcbPolicyParameters, type GetTcbPolicyReturnType } from './actions/getTcbPolicy.js'
export {
  setDevAttestationSigner,
  type SetDevAttestationSignerParameters,
  type SetDevAttestationSignerReturnType,
} from './actions/setDevAttestationSigner.js'
export { setSlasher, type SetSlasherParameters, type SetSlasherReturnType } from './actions/setSlasher.js'
export { getRegistryParams, type GetRegistryParamsParameters, type GetRegistryParamsReturnType } from './actions/getRegistryParams.js'
export { getCurrentEpoch, type GetCurrentEpochParameters, type GetCurrentEpochReturnType } from './actions/getCurrentEpoch.js'
export { publishEpochKey, type PublishEpochKeyParameters, type PublishEpochKeyReturnType } from './actions/publishEpochKey.js'
export { getEpochKey, type GetEpochKeyParameters, type GetEpochKeyReturnType } from './actions/getEpochKey.js'
export { getEpochKeyVote, type GetEpochKeyVoteParameters, type GetEpochKeyVoteReturnType } from './actions/getEpochKeyVote.js'
export { publishStateRoot, type PublishStateRootParameters, type PublishStateRootReturnType } from './actions/publishStateRoot.js'
export { getStateRoots, type GetStateRootsParameters, type GetStateRootsReturnType, type PublishedStateRoot } from './actions/getStateRoots.js'
export {
  postCustodyCommand,
  MAX_CUSTODY_CIPHERTEXT_BYTES,
  type PostCustodyCommandParameters,
  type PostCustodyCommandReturnType,
} from './actions/postCustodyCommand.js'
export { getInboxState, type GetInboxStateParameters, type GetInboxStateReturnType } from './actions/getInboxState.js'
export { readInbox, type ReadInboxParameters, type ReadInboxReturnType } from './actions/readInbox.js'
export {
  JOB_STATUSES,
  inputCidsHashFor,
  resultDigest,
  failureDigest,
  signResult,
  signFailure,
  poolResultDigest,
  signPoolResult,
  analysisKindOf,
  ANALYSIS_KIND_CODES,
  digestFieldsOf,
  type AnalysisKindName,
  type PoolResultDigestParameters,
  type Job,
  type JobStatus,
  type JobsParams,
  type JobsDomain,
  type ResultDigestParameters,
  type FailureDigestParameters,
} from './jobs.js'

export { buyCredits, type BuyCreditsParameters, type BuyCreditsReturnType } from './actions/buyCredits.js'
export { getCredits, type GetCreditsParameters, type GetCreditsReturnType } from './actions/getCredits.js'
export { refundCredits, type RefundCreditsParameters, type RefundCreditsReturnType } from './actions/refundCredits.js'
export { setBuyerAccess, type SetBuyerAccessParameters, type SetBuyerAccessReturnType } from './actions/setBuyerAccess.js'
export { getBuyerAccess, type GetBuyerAccessParameters, type GetBuyerAccessReturnType } from './actions/getBuyerAccess.js'
export { setPolicySummary, type SetPolicySummaryParameters, type SetPolicySummaryReturnType } from './actions/setPolicySummary.js'
export { getPolicySummary, type GetPolicySummaryParameters, type GetPolicySummaryReturnType } from './actions/getPolicySummary.js'
export { submitJob, type SubmitJobParameters, type SubmitJobReturnType } from './actions/submitJob.js'
export { getJob, type GetJobParameters, type GetJobReturnType } from './actions/getJob.js'
export { listJobs, type ListJobsParameters, type ListJobsReturnType } from './actions/listJobs.js'
export { submitResult, type SubmitResultParameters, type SubmitResultReturnType } from './actions/submitResult.js'
export { submitFailure, type SubmitFailureParameters, type SubmitFailureReturnType } from './actions/submitFailure.js'
export { timeoutJob, type TimeoutJobParameters, type TimeoutJobReturnType } from './actions/timeoutJob.js'
export { claimEarnings, type ClaimEarningsParameters, type ClaimEarningsReturnType } from './actions/claimEarnings.js'
export { getEarnings, type GetEarningsParameters, type GetEarningsReturnType } from './actions/getEarnings.js'
export { claimRoyalties, type ClaimRoyaltiesParameters, type ClaimRoyaltiesReturnType, type RoyaltyClaim } from './actions/claimRoyalties.js'
export { getRoyalty, type GetRoyaltyParameters, type GetRoyaltyReturnType } from './actions/getRoyalty.js'
export { royaltyLeaf, royaltyRoot, royaltyProof, verifyRoyaltyProof, EMPTY_WEIGHTS_ROOT, type ContributorWeight } from './royalty-tree.js'
export { getJobsParams, type GetJobsParamsParameters, type GetJobsParamsReturnType } from './actions/getJobsParams.js'
// federated campaigns (contracts/Campaigns.sol)
export { CAMPAIGN_STATUSES, campaignFromStruct, campaignParamsHash, campaignResultDigest, type Campaign, type CampaignDomain, type CampaignStatus, type CampaignTerms } from './campaigns.js'
export { createCampaign, type CreateCampaignParameters, type CreateCampaignReturnType } from './actions/createCampaign.js'
export { getCampaign, type GetCampaignParameters, type GetCampaignReturnType } from './actions/getCampaign.js'
export { listCampaigns, type ListCampaignsParameters, type ListCampaignsReturnType } from './actions/listCampaigns.js'
export { submitCampaignResult, type SubmitCampaignResultParameters, type SubmitCampaignResultReturnType } from './actions/submitCampaignResult.js'
export { claimCampaignReward, type ClaimCampaignRewardParameters, type ClaimCampaignRewardReturnType } from './actions/claimCampaignReward.js'
// storage mining (contracts/StorageMarket.sol)
export {
  STORAGE_ORDER_STATUSES,
  CHALLENGE_REASONS,
  storageOrderFromStruct,
  storageNodeFromView,
  type StorageOrder,
  type StorageOrderStatus,
  type StorageNode,
  type StorageMarketParams,
  type ChallengeReason,
} from './storage.js'
export {
  WORK_REPORT_TAG,
  CHALLENGE_TAG,
  workReportDigest,
  challengeDigest,
  signWorkReport,
  signChallenge,
  endpointHash,
  type StorageDomain,
  type WorkReport,
  type StorageChallenge,
} from './storage-digests.js'
export { placeStorageOrder, type PlaceStorageOrderParameters, type PlaceStorageOrderReturnType } from './actions/placeStorageOrder.js'
export { getStorageOrder, type GetStorageOrderParameters, type GetStorageOrderReturnType } from './actions/getStorageOrder.js'
export { listStorageOrders, type ListStorageOrdersParameters, type ListStorageOrdersReturnType } from './actions/listStorageOrders.js'
export { endStorageOrder, type EndStorageOrderParameters, type EndStorageOrderReturnType } from './actions/endStorageOrder.js'
export { repairStorageOrder, type RepairStorageOrderParameters, type RepairStorageOrderReturnType } from './actions/repairStorageOrder.js'
export { registerStorageNode, type RegisterStorageNodeParameters, type RegisterStorageNodeReturnType } from './actions/registerStorageNode.js'
export { getStorageNode, type GetStorageNodeParameters, type GetStorageNodeReturnType } from './actions/getStorageNode.js'
export { listStorageNodes, type ListStorageNodesParameters, type ListStorageNodesReturnType } from './actions/listStorageNodes.js'
export { submitWorkReport, type SubmitWorkReportParameters, type SubmitWorkReportReturnType } from './actions/submitWorkReport.js'
export { recordChallengeFailure, type RecordChallengeFailureParameters, type RecordChallengeFailureReturnType } from './actions/recordChallengeFailure.js'
export { settleStorage, type SettleStorageParameters, type SettleStorageReturnType } from './actions/settleStorage.js'
export { isStorageEraSettled, type IsStorageEraSettledParameters, type IsStorageEraSettledReturnType } from './actions/isStorageEraSettled.js'
export { claimStorageEarnings, type ClaimStorageEarningsParameters, type ClaimStorageEarningsReturnType } from './actions/claimStorageEarnings.js'
export { getStorageEarnings, type GetStorageEarningsParameters, type GetStorageEarningsReturnType } from './actions/getStorageEarnings.js'
export { getStorageMarketParams, type GetStorageMarketParamsParameters, type GetStorageMarketParamsReturnType } from './actions/getStorageMarketParams.js'
export { setStorageMarketParams, type SetStorageMarketParamsParameters, type SetStorageMarketParamsReturnType } from './actions/setStorageMarketParams.js'
export { setJobsParams, type SetJobsParamsParameters, type SetJobsParamsReturnType } from './actions/setJobsParams.js'
