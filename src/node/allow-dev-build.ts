import type { Hex, LocalAccount } from 'viem'
import { allowMeasurement, createChainClients, getRegistryParams, getTcbPolicy, type Deployment } from '../chain/index.js'
import { DEV_ATTESTATION_SIGNER, networkConfigHash, networkMeasurement } from '../tee/index.js'
import { measureEnclaveBundle } from '../enclave/bundle.js'

/**
 * A dev network's governance allows this build's sim worker measurement under the network config
 * a worker host boots its enclave with (this build's code only, sim allowed, the registry's epoch
 * length, TCB policy and minimum keeper set), so workers of this build can register; a modified
 * build or config gets another measurement. Idempotent (the registry ignores a known one).
 */
export async function allowDevBuild(p: { rpcUrl: string; deployment: Deployment; governance: LocalAccount }): Promise<Hex> {
  const { deployment } = p
  const { publicClient } = createChainClients({ rpcUrl: p.rpcUrl, chainId: deployment.chainId })
  const [codeMeasurement, { epochLength, minKeepers, allowedMeasurements }, tcb] = await Promise.all([
    measureEnclaveBundle(),
    getRegistryParams(publicClient, { registry: deployment.workerRegistry }),
    getTcbPolicy(publicClient, { registry: deployment.workerRegistry }),
  ])
  const configHash = networkConfigHash({
    chainId: deployment.chainId,
    registry: deployment.workerRegistry,
    inbox: deployment.custodyInbox,
    jobs: deployment.jobs,
    epochLength,
    allowSim: true,
    devAttestationSigner: DEV_ATTESTATION_SIGNER,
    codeMeasurements: [codeMeasurement],
    tcb,
    minKeepers,
  })
  const measurement = networkMeasurement({ codeMeasurement, configHash })
  if (allowedMeasurements.some((m) => m.toLowerCase() === measurement.toLowerCase())) return measurement
  await allowMeasurement(createChainClients({ rpcUrl: p.rpcUrl, chainId: deployment.chainId, account: p.governance }), { registry: deployment.workerRegistry, measurement })
  return measurement
}
