// Public API of the chain module: everything portable (portable.ts), plus the Anvil launcher
// and the devnet's deployment file, which need Node.
export * from './portable.js'
export { startAnvil, resolveAnvilBinary, type StartAnvilParameters, type AnvilInstance, type AnvilBinary } from './anvil.js'
export { getFreePort } from './free-port.js'
export {
  ensureDeployment,
  readDeploymentFile,
  DeploymentSchema,
  type Deployment,
  type EnsureDeploymentParameters,
  type EnsureDeploymentReturnType,
} from './devnet.js'
