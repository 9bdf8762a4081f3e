import type { Address } from 'viem'
import { workerRegistryAbi } from '../abis.js'
import type { WriteClients } from '../clients.js'
import { withChainErrors } from '../errors.js'
import { rpcUrlOf, waitForSuccess, type WriteResult } from '../write.js'

export type SetDevAttestationSignerParameters = {
  registry: Address
  /** Address of the sim dev attestation key (zero: no sim quote verifies). */
  signer: Address
}

export type SetDevAttestationSignerReturnType = WriteResult & { signer: Address }

/** Governance only: the key whose signature makes a sim quote valid (dev networks). */
export async function setDevAttestationSigner(
  { publicClient, walletClient }: WriteClients,
  params: SetDevAttestationSignerParameters,
): Promise<SetDevAttestationSignerReturnType> {
  return withChainErrors(
    async () => {
      const { request } = await publicClient.simulateContract({
        address: params.registry,
        abi: workerRegistryAbi,
        functionName: 'setDevAttestationSigner',
        args: [params.signer],
        account: walletClient.account,
      })
      const hash = await walletClient.writeContract(request)
      const receipt = await waitForSuccess(publicClient, hash)
      return { hash, blockNumber: receipt.blockNumber, signer: params.signer }
    },
    { rpcUrl: rpcUrlOf(publicClient) },
  )
}
