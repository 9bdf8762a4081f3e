import { hexToBytes, type Address, type Hex, type LocalAccount } from 'viem'
import { W3aError } from '../core/errors.js'
import { toJsonText } from '../core/json-text.js'
import type { HpkeKeyPair } from '../crypto/hpke.js'
import { createCustodyQuery, type CustodyQueryRequest, type CustodyQueryScope } from '../custody/index.js'
import type { W3aClient } from './client.js'
import { chainReader, custodyDomain, onlineKeepers } from './custody-channel.js'
import { networkTeePolicy, verifyKeeperKey, type VerifierOptions } from './worker-attestation.js'

export type QueryKeeperParameters<T> = {
  account: LocalAccount
  id: Hex
  /** Default: the first online keeper. */
  keeper?: Address
  scope: CustodyQueryScope
  /** Collateral / time to verify the keeper's quote with (tdx/sgx keepers need collateral). */
  verifier?: VerifierOptions
  /** Checks the keeper's signature and opens the answer (openCustodyAnswer, openAnalystAnswer). */
  open: (answer: unknown, responseKeyPair: HpkeKeyPair, keeper: Address, request: CustodyQueryRequest) => Promise<T>
}

/**
 * One confidential read of custody state, straight from a keeper (src/custody/owner-query.ts):
 * the request is signed and encrypted to the keeper's attested key, the answer is encrypted
 * to a one-time key of ours and signed by the keeper. The host in between sees ciphertext.
 * Before sealing, the keeper's on-chain HPKE key is checked against its registered quote
 * (worker-attestation.ts): KEY_NOT_ATTESTED if the quote does not bind it, and nothing is sent.
 */
export async function queryKeeper<T>(client: W3aClient, params: QueryKeeperParameters<T>): Promise<{ view: T; keeper: Address }> {
  const { network, publicClient } = await chainReader(client)
  const keepers = await onlineKeepers(client)
  const keeper = params.keeper ? keepers.find((k) => k.address.toLowerCase() === params.keeper!.toLowerCase()) : keepers[0]
  if (!keeper) throw new W3aError('KEEPER_UNAVAILABLE', `keeper ${params.keeper} is not online`)
  const registry = network.contracts.workerRegistry
  const policy = await networkTeePolicy(publicClient, registry, { ...(params.verifier?.collateral === undefined ? {} : { collateral: params.verifier.collateral }), ...(params.verifier?.now === undefined ? {} : { now: params.verifier.now }) })
  await verifyKeeperKey({ keeper, policy, chainId: network.chainId, registry })
  const { request, responseKeyPair } = await createCustodyQuery({
    account: params.account,
    domain: custodyDomain(network),
    datasetId: params.id,
    keeperHpkePublicKey: hexToBytes(keeper.hpkePublicKey),
    scope: params.scope,
  })
  let res: Response
  try {
    res = await fetch(`${keeper.endpoint.replace(/\/+$/, '')}/v1/custody/query`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: toJsonText(request) })
  } catch (cause) {
    throw new W3aError('KEEPER_UNAVAILABLE', `keeper ${keeper.address} at ${keeper.endpoint} does not answer`, { cause })
  }
  if (!res.ok) throw new W3aError('GATEWAY_ERROR', `keeper answered HTTP ${res.status}`, { details: [(await res.text()).slice(0, 300)] })
  return { view: await params.open(await res.json(), responseKeyPair, keeper.address, request), keeper: keeper.address }
}
