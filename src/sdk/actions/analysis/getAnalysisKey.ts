import { hexToBytes, isAddressEqual, recoverMessageAddress, type Address, type Hex } from 'viem'
import { z } from 'zod'
import { W3aError } from '../../../core/errors.js'
import { analysisKeyDigest } from '../../../analysis/analysis-request.js'
import type { W3aClient } from '../../client.js'
import { chainReader, onlineKeepers, type KeeperEndpoint } from '../../custody-channel.js'

export type GetAnalysisKeyReturnType = {
  /** The custody epoch the key belongs to (keepers open it during this epoch and the next). */
  epoch: bigint
  publicKey: Uint8Array
  /** A keeper that vouched for it (a registered, eligible keeper; its signature was checked). */
  keeper: Address
  /** Every active keeper that returned this key for this epoch: a strict majority of them. */
  agreedBy: Address[]
}

const AnswerSchema = z.object({
  epoch: z.string().regex(/^\d{1,20}$/),
  publicKey: z.string().regex(/^0x[0-9a-fA-F]{64}$/),
  keeper: z.string().regex(/^0x[0-9a-fA-F]{40}$/),
  signature: z.string().regex(/^0x[0-9a-fA-F]{130}$/),
})

/** Attempts before giving up on agreement: right at an epoch change keepers can briefly differ. */
const AGREEMENT_ATTEMPTS = 3
const AGREEMENT_RETRY_MS = 1_000

/**
 * The keepers' analysis key of the current epoch: what an analysis is sealed to, so that only
 * keepers (and, through them, the job's attested worker) read the SQL. Asked of every active
 * keeper the chain (read by this client) lists; an answer counts only if its signature recovers
 * to that keeper's registered worker key, so a relay or a stranger cannot slip in a key of their
 * own, and a key is used only when a strict majority of the active keepers returned it for the
 * same epoch, so one hostile keeper host cannot hand out a key of its own making either
 * (QUORUM_NOT_REACHED otherwise; KEEPER_UNAVAILABLE when no keeper answers at all).
 */
export async function getAnalysisKey(client: W3aClient): Promise<GetAnalysisKeyReturnType> {
  const { network } = await chainReader(client)
  const domain = { chainId: network.chainId, registry: network.contracts.workerRegistry }
  for (let attempt = 1; ; attempt++) {
    const keepers = await onlineKeepers(client)
    const answers = await Promise.all(keepers.map((k) => askKeeper(k, domain)))
    const groups = new Map<string, { epoch: bigint; publicKey: Hex; keepers: Address[] }>()
    for (const a of answers) {
      if (!('publicKey' in a)) continue
      const id = `${a.epoch}/${a.publicKey}`
      const g = groups.get(id) ?? { epoch: a.epoch, publicKey: a.publicKey, keepers: [] }
      g.keepers.push(a.keeper)
      groups.set(id, g)
    }
    const agreed = [...groups.values()].find((g) => g.keepers.length * 2 > keepers.length)
    if (agreed) return { epoch: agreed.epoch, publicKey: hexToBytes(agreed.publicKey), keeper: agreed.keepers[0]!, agreedBy: agreed.keepers }
    const details = [
      ...[...groups.values()].map((g) => `epoch ${g.epoch} key ${g.publicKey.slice(0, 18)}…: ${g.keepers.join(', ')}`),
      ...answers.flatMap((a) => ('problem' in a ? [a.problem] : [])),
    ]
    if (groups.size === 0) throw new W3aError('KEEPER_UNAVAILABLE', 'no keeper gave a valid analysis key', { details })
    if (attempt >= AGREEMENT_ATTEMPTS) {
      throw new W3aError('QUORUM_NOT_REACHED', `no analysis key is returned by a strict majority of the ${keepers.length} active keepers`, { details })
    }
    await new Promise((r) => setTimeout(r, AGREEMENT_RETRY_MS))
  }
}

/** One keeper's signed analysis key, checked against its registered worker key, or what was wrong. */
async function askKeeper(k: KeeperEndpoint, domain: { chainId: number; registry: Address }): Promise<{ keeper: Address; epoch: bigint; publicKey: Hex } | { problem: string }> {
  try {
    const res = await fetch(`${k.endpoint.replace(/\/+$/, '')}/v1/analysis-key`, { signal: AbortSignal.timeout(10_000) })
    if (!res.ok) throw new Error(`HTTP ${res.status}`)
    const a = AnswerSchema.parse(await res.json())
    const publicKey = a.publicKey.toLowerCase() as Hex
    const epoch = BigInt(a.epoch)
    const signer = await recoverMessageAddress({ message: { raw: analysisKeyDigest({ ...domain, epoch, publicKey }) }, signature: a.signature as Hex })
    if (!isAddressEqual(signer, k.address)) throw new Error('signature is not the keeper’s')
    return { keeper: k.address, epoch, publicKey }
  } catch (e) {
    return { problem: `${k.address} at ${k.endpoint}: ${(e as Error).message}` }
  }
}
