import { getAddress, type Address, type Hash } from 'viem'
import { W3aError } from '../core/errors.js'
import { DatasetRegistryArtifact, W3ATokenArtifact } from './abis.js'
import type { WriteClients } from './clients.js'
import { withChainErrors } from './errors.js'
import { rpcUrlOf, waitForSuccess } from './write.js'

export type DeployContractsParameters = WriteClients & {
  /** Owner of the registry (network governance). Default: the deployer. */
  governance?: Address
  /** Use this ERC-20 instead of deploying the dev token (production networks). */
  token?: Address
}

export type DeployContractsReturnType = {
  token: Address
  datasetRegistry: Address
  deployer: Address
  chainId: number
  /** Block of the last deployment transaction (where event followers can start). */
  blockNumber: bigint
}

/**
 * Deploys the W3A contracts with the wallet's account and waits for every receipt.
 * The dev token's owner (who can mint) is the deployer.
 */
export async function deployContracts(params: DeployContractsParameters): Promise<DeployContractsReturnType> {
  const { publicClient, walletClient } = params
  const deployer = walletClient.account.address
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
      const registry = await deploy(
        'DatasetRegistry',
        await walletClient.deployContract({
          abi: DatasetRegistryArtifact.abi,
          bytecode: DatasetRegistryArtifact.bytecode,
          args: [token, params.governance ?? deployer],
        }),
      )
      return { token, datasetRegistry: registry.address, deployer, chainId, blockNumber: registry.blockNumber }
    },
    { rpcUrl: rpcUrlOf(publicClient) },
  )
}
