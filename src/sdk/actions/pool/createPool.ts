import { randomBytes } from 'node:crypto'
import { bytesToHex, type Hex } from 'viem'
import { datasetIdFor, registerDataset } from '../../../chain/portable.js'
import { W3aError } from '../../../core/errors.js'
import { normalizePurpose, MAX_PURPOSE_LENGTH } from '../../../custody/pool.js'
import { carOfBlock } from '../../../storage/car-of-block.js'
import { encodePoolDescriptor, schemaHash, type TableSchema } from '../../../storage/index.js'
import { requireAccount, type W3aClient } from '../../client.js'
import { assertApplied, commandExpiry, newNonce, postOwnerCommand, type PostOwnerCommandReturnType } from '../../custody-channel.js'
import { uploadCar } from '../../upload-car.js'
import { walletFor } from '../../wallet.js'

export type CreatePoolParameters = { name: string; purpose: string; schema: TableSchema }
export type CreatePoolReturnType = { id: Hex; manifestCid: string; tx: Hex; custody: PostOwnerCommandReturnType }

/**
 * A curator creates a pool: its public descriptor (name, purpose, schema; storage/pool-descriptor.ts)
 * is stored and registered on chain as a pool (unlisted, like any dataset: set its policy and
 * list it as for a dataset), and custody learns it is a pool (RegisterPool). The pool holds no
 * key: contributors bring their own (contributeToPool).
 */
export async function createPool(client: W3aClient, params: CreatePoolParameters): Promise<CreatePoolReturnType> {
  const account = requireAccount(client, 'pool create')
  const purpose = normalizePurpose(params.purpose)
  if (purpose.length === 0 || purpose.length > MAX_PURPOSE_LENGTH) throw new W3aError('INVALID_ARGUMENT', `a pool's purpose is 1 to ${MAX_PURPOSE_LENGTH} characters`)
  const network = await client.network()
  const salt = bytesToHex(randomBytes(32))
  const id = datasetIdFor(account.address, salt)
  const descriptor = encodePoolDescriptor({ version: 1, kind: 'w3a.pool', poolId: id, name: params.name, purpose, schema: params.schema, createdAt: new Date().toISOString() })
  const block = await carOfBlock(descriptor)
  await uploadCar(client, { root: block.cid, car: block.car })
  const manifestCid = block.cid.toString()
  const reg = await registerDataset(walletFor(network, account), { registry: network.contracts.datasetRegistry, salt, name: params.name, manifestCid, schemaHash: schemaHash(params.schema), pricePerQuery: 0n, pool: true })
  const custody = assertApplied(
    await postOwnerCommand(client, { account, command: { type: 'RegisterPool', message: { datasetId: id, salt, manifestCid, purpose, nonce: newNonce(), expiry: commandExpiry() } } }),
    'pool registration',
  )
  return { id, manifestCid, tx: reg.hash, custody }
}
