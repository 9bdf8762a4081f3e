import { hexToBytes, isAddressEqual, recoverMessageAddress, type Address, type Hex } from 'viem'
import { z } from 'zod'
import { W3aError } from '../../../core/errors.js'
import { analysisKeyDigest } from '../../../analysis/analysis-request.js'
import type { W3aClient } from '../../client.js'
import { chainReader, onlineKeepers } from '../../custody-channel.js'

export type GetAnalysisKeyReturnType = {
  /** The custody epoch the key belongs to (keepers open it during this epoch and the next). */
  epoch: bigint
  publicKey: Uint8Array
  /** The keeper that vouched for it (a registered, eligible keeper; its signature was checked). */
  keeper: Address
}

const AnswerSchema = z.object({
  epoch: z.string().regex(/^\d{1,20}$/),
  publicKey: z.string().regex(/^0x[0-9a-fA-F]{64}$/),
  keeper: z.string().regex(/^0x[0-9a-fA-F]{40}$/),
  signature: z.string().regex(/^0x[0-9a-fA-F]{130}$/),
})

/**
 * The keepers' analysis key of the current epoch: what an analysis is sealed to, so that only
 * keepers (and, through them, the job's attested worker) read the SQL. Asked of each online
 * keeper in turn; an answer counts only if its signature recovers to that keeper's registered
 * worker key, so a relay or a stranger cannot slip in a key of their own.
 */
export async function getAnalysisKey(client: W3aClient): Promise<GetAnalysisKeyReturnType> {
  const { network } = await chainReader(client)
  const keepers = await onlineKeepers(client)
  const problems: string[] = []
  for (const k of keepers) {
    try {
      const res = await fetch(`${k.endpoint.replace(/\/+$/, '')}/v1/analysis-key`)
      if (!res.ok) throw new Error(`HTTP ${res.status}`)
      const a = AnswerSchema.parse(await res.json())
      const publicKey = a.publicKey.toLowerCase() as Hex
      const epoch = BigInt(a.epoch)
      const digest = analysisKeyDigest({ chainId: network.chainId, registry: network.contracts.workerRegistry, epoch, publicKey })
      const signer = await recoverMessageAddress({ message: { raw: digest }, signature: a.signature as Hex })
      if (!isAddressEqual(signer, k.address)) throw new Error('signature is not the keeper’s')
      return { epoch, publicKey: hexToBytes(publicKey), keeper: k.address }
    } catch (e) {
      problems.push(`${k.address} at ${k.endpoint}: ${(e as Error).message}`)
    }
  }
  throw new W3aError('KEEPER_UNAVAILABLE', 'no keeper gave a valid analysis key', { details: problems })
}
