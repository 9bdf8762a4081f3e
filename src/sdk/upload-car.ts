import type { CID } from 'multiformats/cid'
import { signUpload } from '../storage/upload-authorization.js'
import { requireAccount, type W3aClient } from './client.js'

export type UploadCarParameters = {
  root: CID
  /** The CAR's bytes, or a way to stream it (called twice: once to count its bytes, once to send). */
  car: Uint8Array | (() => AsyncIterable<Uint8Array>)
}

/**
 * Sends a CAR to the gateway's storage node, signed by the client's account over its root,
 * exact length and chain (storage/upload-authorization.ts): the node charges it to that
 * account's quota and stores it whole or not at all.
 */
export async function uploadCar(client: W3aClient, params: UploadCarParameters): Promise<{ roots: string[]; blocks: number; bytes: number }> {
  const account = requireAccount(client, 'an upload')
  const { chainId } = await client.network()
  let bytes = 0
  if (params.car instanceof Uint8Array) bytes = params.car.byteLength
  else for await (const chunk of params.car()) bytes += chunk.byteLength
  const headers = await signUpload({ account, root: params.root.toString(), bytes, chainId })
  return client.gateway.postCar(params.car instanceof Uint8Array ? params.car : params.car(), headers)
}
