/**
 * Everything the dashboard does on the network, loaded on first use as its own chunk so the
 * first paint does not wait for viem, the ABIs and the crypto. It is the SDK's browser entry
 * (src/sdk/browser.ts) plus the few chain reads the Network view shows and the devnet's
 * public dev accounts.
 */
export * from '../sdk/browser.js'
export { readDatasetAccess } from '../sdk/actions/custody/readDatasetAccess.js'
export { readAnalystBudget } from '../sdk/actions/custody/readAnalystBudget.js'
export { grantAccess } from '../sdk/actions/custody/grantAccess.js'
export { revokeAccess } from '../sdk/actions/custody/revokeAccess.js'
export { setDatasetPolicy } from '../sdk/actions/custody/setDatasetPolicy.js'
export { deleteDataset } from '../sdk/actions/custody/deleteDataset.js'
export { listDatasets as listRegisteredDatasets } from '../sdk/actions/listDatasets.js'
export { chainReader } from '../sdk/custody-channel.js'
export { listWorkers, getCurrentEpoch, getStateRoots, getRegistryParams, getTokenBalance } from '../chain/portable.js'
export { fetchRegisteredQuote, networkTeePolicy } from '../sdk/worker-attestation.js'
export { verifyWorkerQuote } from '../tee/verify-quote.js'
export type { MarketListing, TokenAmount, RunQueryReturnType, W3aClient } from '../sdk/browser.js'
export { getDatasetInfo } from '../sdk/actions/getDatasetInfo.js'
export { parseUnits } from 'viem'
export { formatUnits as formatTokens } from 'viem'
export { siteFor, siteSnippet, getIngestInfo } from '../sdk/actions/site-id.js'
export { getSiteRealtime } from '../sdk/actions/getSiteRealtime.js'
export { querySite, type QuerySiteReturnType } from '../sdk/actions/querySite.js'
export { querySiteFunnel, type QuerySiteFunnelReturnType } from '../sdk/actions/querySite.js'
export { goalName, type Goal, type Funnel } from '../sdk/site-goals.js'
export { withGoal, withoutGoal, withFunnel, withoutFunnel, type SiteSettings } from '../sdk/site-settings.js'
export { getSiteSettings } from '../sdk/actions/getSiteSettings.js'
export { setSiteSettings } from '../sdk/actions/setSiteSettings.js'
