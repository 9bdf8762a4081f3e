// Public API of the chain module: anvil launcher, clients, deployment, typed actions, errors.
export { startAnvil, resolveAnvilBinary, type StartAnvilParameters, type AnvilInstance, type AnvilBinary } from './anvil.js'
export { getFreePort } from './free-port.js'
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
export { deployContracts, type DeployContractsParameters, type DeployContractsReturnType } from './deploy.js'
export {
  ensureDeployment,
  readDeploymentFile,
  DeploymentSchema,
  type Deployment,
  type EnsureDeploymentParameters,
  type EnsureDeploymentReturnType,
} from './devnet.js'
export { toChainError, withChainErrors, TxRevertedError, type ToChainErrorContext } from './errors.js'
export { DATASET_STATUSES, assertDatasetId, type Dataset, type DatasetStatus } from './dataset.js'
export type { WriteResult } from './write.js'
export { datasetRegistryAbi, w3aTokenAbi, DatasetRegistryArtifact, W3ATokenArtifact } from './abis.js'

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
export { getTokenBalance, type GetTokenBalanceParameters, type GetTokenBalanceReturnType } from './actions/getTokenBalance.js'
