import { hexToBytes, type Address, type Hex } from 'viem'
import { W3aError } from '../../../core/errors.js'
import { toJsonText } from '../../../core/json-text.js'
import { createCustodyQuery, openCustodyAnswer, type CustodyView } from '../../../custody/index.js'
import { requireAccount, type W3aClient } from '../../client.js'
import { chainReader, custodyDomain, onlineKeepers } from '../../custody-channel.js'
import { networkTeePolicy, verifyKeeperKey, type VerifierOptions } from '../../worker-attestation.js'

export type ReadDatasetAccessParameters = {
  id: Hex
  keeper?: Address
} & VerifierOptions
export type ReadDatasetAccessReturnType = CustodyView & { keeper: Address }

/**
 * The owner's confidential view (grants, policy, budget spent), read straight from a keeper:
 * the request is signed and encrypted to the keeper's attested key, the answer is encrypted
 * to a one-time key of ours and signed by the keeper. The host in between sees ciphertext.
 * Before sealing, the keeper's on-chain HPKE key is checked against its registered quote
 * (network policy; tdx/sgx keepers need `collateral`): KEY_NOT_ATTESTED if it is not the key
 * the quote binds, and nothing is sent.
 */
export async function readDatasetAccess(client: W3aClient, params: ReadDatasetAccessParameters): Promise<ReadDatasetAccessReturnType> {
  const account = requireAccount(client, 'access')
  const { network, publicClient } = await chainReader(client)
  const keepers = await onlineKeepers(client)
  const keeper = params.keeper ? keepers.find((k) => k.address.toLowerCase() === params.keeper!.toLowerCase()) : keepers[0]
  if (!keeper) throw new W3aError('KEEPER_UNAVAILABLE', `keeper ${params.keeper} is not online`)
  const policy = await networkTeePolicy(publicClient, network.contracts.workerRegistry, params)
  await verifyKeeperKey({ keeper, policy, chainId: network.chainId, registry: network.contracts.workerRegistry })
  const { request, responseKeyPair } = await createCustodyQuery({
    account,
    domain: custodyDomain(network),
    datasetId: params.id,
    keeperHpkePublicKey: hexToBytes(keeper.hpkePublicKey),
  })
  let res: Response
  try {
    res = await fetch(`${keeper.endpoint.replace(/\/+$/, '')}/v1/custody/query`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: toJsonText(request) })
  } catch (cause) {
    throw new W3aError('KEEPER_UNAVAILABLE', `keeper ${keeper.address} at ${keeper.endpoint} does not answer`, { cause })
  }
  if (!res.ok) throw new W3aError('GATEWAY_ERROR', `keeper answered HTTP ${res.status}`, { details: [(await res.text()).slice(0, 300)] })
  const view = await openCustodyAnswer(await res.json(), responseKeyPair, keeper.address)
  return { ...view, keeper: keeper.address }
}
