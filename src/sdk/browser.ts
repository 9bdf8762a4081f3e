/**
 * The SDK's browser entry: the market and analysis flows (browse, buy, query, verify, open
 * results, earnings) with no Node built-in on their import path. Everything here also works in
 * Node; uploads and downloads of dataset files stay in the Node entry (index.ts).
 */
export { createW3aClient, type W3aClient, type CreateW3aClientParameters } from './client.js'
export { pinNetwork, checkPinnedNetwork, CONTRACT_NAMES, type PinnedNetwork, type ContractName } from '../core/network-pin.js'
export { W3aError, isW3aError, type W3aErrorCode } from '../core/errors.js'
export { getTokenInfo, type TokenInfo, type TokenAmount } from './actions/market/token.js'
export { listMarket, type MarketListing, type ListMarketParameters, type ListMarketReturnType } from './actions/market/listMarket.js'
export { listOnMarket, type ListOnMarketParameters, type ListOnMarketReturnType } from './actions/market/listOnMarket.js'
export { buyCredits, type BuyCreditsParameters, type BuyCreditsReturnType } from './actions/market/buyCredits.js'
export { getCredits, type GetCreditsParameters, type GetCreditsReturnType } from './actions/market/getCredits.js'
export { getEarnings, type GetEarningsParameters, type GetEarningsReturnType } from './actions/market/getEarnings.js'
export { claimEarnings, type ClaimEarningsReturnType } from './actions/market/claimEarnings.js'
export { listJobs, type ListJobsParameters, type ListJobsReturnType } from './actions/market/listJobs.js'
export { getJob, type GetJobParameters, type GetJobReturnType } from './actions/market/getJob.js'
export { timeoutJob, type TimeoutJobParameters, type TimeoutJobReturnType } from './actions/market/timeoutJob.js'
export { getAnalysisKey, type GetAnalysisKeyReturnType } from './actions/analysis/getAnalysisKey.js'
export { submitQuery, type SubmitQueryParameters, type SubmitQueryReturnType, type UnitFunctionQuery } from './actions/analysis/submitQuery.js'
export { waitForJob, type WaitForJobParameters, type WaitForJobReturnType } from './actions/analysis/waitForJob.js'
export { verifyJob, checkResultEnvelope, type VerifyJobParameters, type VerifyJobReturnType } from './actions/analysis/verifyJob.js'
export { openJobResult, type OpenJobResultParameters, type OpenJobResultReturnType } from './actions/analysis/openJobResult.js'
export { runQuery, type RunQueryParameters, type RunQueryReturnType } from './actions/analysis/runQuery.js'
export { injectedAccount, connectInjectedWallet, type InjectedAccountParameters } from './wallet.js'
// federated campaigns (docs/campaigns.md): the analyst's and the respondent's side
export { createCampaign, type CreateCampaignParameters, type CreateCampaignReturnType } from './actions/campaign/createCampaign.js'
export { listCampaigns, getCampaign, type ListCampaignsParameters } from './actions/campaign/listCampaigns.js'
export { answerCampaign, type AnswerCampaignParameters, type AnswerCampaignReturnType } from './actions/campaign/answerCampaign.js'
export { getCampaignResult, type GetCampaignResultReturnType } from './actions/campaign/getCampaignResult.js'
export { claimCampaignReward, type ClaimCampaignRewardParameters, type ClaimCampaignRewardReturnType } from './actions/campaign/claimCampaignReward.js'
export { parseConsentRules, consentRefusal, type ConsentRules } from '../campaigns/consent.js'
// pools (docs/pools.md): a contributor's side from a page
export { getPool, type GetPoolParameters, type GetPoolReturnType } from './actions/pool/getPool.js'
export { contributeParquet, type ContributeParquetParameters, type ContributeParquetReturnType } from './actions/pool/contributeParquet.js'
export { listMyContributions, type ListMyContributionsParameters, type MyContribution } from './actions/pool/listMyContributions.js'
export { setPoolConsent, type SetPoolConsentParameters } from './actions/pool/setPoolConsent.js'
export { deleteContribution, unpinContribution, type DeleteContributionParameters, type DeleteContributionReturnType, type ContributionUnpinned } from './actions/pool/deleteContribution.js'
