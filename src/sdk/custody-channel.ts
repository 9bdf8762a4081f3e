import { bytesToHex, hexToBytes, type Address, type Hex, type LocalAccount } from 'viem'
import { W3aError } from '../core/errors.js'
import { getCurrentEpoch, getEpochKey, getEpochKeyVote, listWorkers, postCustodyCommand, type ChainPublicClient } from '../chain/portable.js'
import { signOwnerCommand, type CommandDomain, type OwnerCommand } from '../crypto/typed-commands.js'
import { sealCommand, verifyReceipt, type CustodyPolicy, type Receipt } from '../custody/index.js'
import type { NetworkInfo } from '../core/network-info.js'
import type { W3aClient } from './client.js'
import { walletFor } from './wallet.js'
import { chainReader } from './chain-reader.js'

/** How long a signed command stays valid: long enough to be mined, short enough to limit replays by others. */
const COMMAND_TTL_SECONDS = 600n

/** A keeper as the chain lists it. Its HPKE key is unverified until `verifyKeeperKey` (worker-attestation.ts) has checked it against its quote. */
export type KeeperEndpoint = { address: Address; endpoint: string; hpkePublicKey: Hex; attestationHash: Hex; registeredAt: number }

// Kept here too for the modules that import it from the custody channel.
export { chainReader }

export function custodyDomain(network: NetworkInfo): CommandDomain {
  return { chainId: network.chainId, verifyingContract: network.contracts.custodyInbox }
}

/** Keepers that are eligible now (registered, allowed measurement, online). */
export async function onlineKeepers(client: W3aClient): Promise<KeeperEndpoint[]> {
  const { network, publicClient } = await chainReader(client)
  const workers = await listWorkers(publicClient, { registry: network.contracts.workerRegistry })
  const keepers = workers.filter((w) => w.isKeeper && w.eligible)
  if (keepers.length === 0) {
    throw new W3aError('KEEPER_UNAVAILABLE', 'no keeper is online on this network', { details: ['With the devnet, check that `w3a up` is running.'] })
  }
  return keepers.map((k) => ({ address: k.address, endpoint: k.endpoint, hpkePublicKey: k.hpkePublicKey, attestationHash: k.attestationHash, registeredAt: k.registeredAt }))
}

export function newNonce(): bigint {
  return BigInt(bytesToHex(crypto.getRandomValues(new Uint8Array(32))))
}

export function commandExpiry(): bigint {
  return BigInt(Math.floor(Date.now() / 1000)) + COMMAND_TTL_SECONDS
}

export type PostOwnerCommandParameters = {
  account: LocalAccount
  command: OwnerCommand
  dek?: Uint8Array
  policy?: CustodyPolicy
  /** How long to wait for a keeper's receipt (default 30 s). */
  timeoutMs?: number
}

export type PostOwnerCommandReturnType = { index: bigint; tx: Hex; receipt: Receipt; keeper: Address }

async function fetchReceipt(keepers: KeeperEndpoint[], index: bigint, deadline: number): Promise<{ receipt: Receipt; keeper: KeeperEndpoint }> {
  for (;;) {
    for (const k of keepers) {
      const res = await fetch(`${k.endpoint.replace(/\/+$/, '')}/v1/custody/receipts/${index}`).catch(() => null)
      if (res?.ok) {
        // The keeper's signature, checked against its on-chain worker address.
        const receipt = await verifyReceipt((await res.json()) as Record<string, unknown>, k.address)
        if (BigInt(receipt.index) !== index) throw new W3aError('SIGNATURE_INVALID', `keeper ${k.address} answered with the receipt of another entry`)
        return { receipt, keeper: k }
      }
    }
    if (Date.now() > deadline) throw new W3aError('KEEPER_UNAVAILABLE', `no keeper receipt for inbox entry ${index} in time`, { details: ['The command is on chain and will still be applied in order.'] })
    await new Promise((r) => setTimeout(r, 250))
  }
}

/**
 * The current custody epoch and its agreed key (WorkerRegistry `epochKey`: a strict majority of
 * the active keepers voted for it), waiting until `deadline` while there is none (keepers vote
 * once they enter an epoch). Never a key that only some keepers voted for: one hostile keeper
 * host can vote for a key of a cluster secret it made itself. Throws EPOCH_KEY_NOT_AGREED, with
 * each keeper's vote (a dispute, or keepers that are down).
 */
export async function currentAgreedEpochKey(
  publicClient: ChainPublicClient,
  params: { registry: Address; keepers: readonly KeeperEndpoint[]; deadline: number; pollMs?: number },
): Promise<{ epoch: bigint; key: Hex }> {
  const { registry } = params
  for (;;) {
    const epoch = await getCurrentEpoch(publicClient, { registry })
    const key = await getEpochKey(publicClient, { registry, epoch })
    if (key !== null) return { epoch, key }
    if (Date.now() > params.deadline) {
      const votes = await Promise.all(
        params.keepers.map(async (k) => {
          const vote = await getEpochKeyVote(publicClient, { registry, epoch, keeper: k.address })
          return vote === null ? `keeper ${k.address}: no vote` : `keeper ${k.address}: voted ${vote.key} (${vote.votes} vote${vote.votes === 1n ? '' : 's'} for that key)`
        }),
      )
      throw new W3aError('EPOCH_KEY_NOT_AGREED', `custody epoch ${epoch} has no key agreed by a majority of the keepers; nothing was sealed`, {
        details: [...votes, 'Nothing was posted. Try again in a few seconds; a lasting split between keys is a dispute between keepers.'],
      })
    }
    await new Promise((r) => setTimeout(r, params.pollMs ?? 500))
  }
}

/**
 * Signs an owner command (EIP-712), seals it to the current epoch's agreed key (never to a key
 * only a minority of keepers voted for: EPOCH_KEY_NOT_AGREED), posts it to the inbox, and waits
 * for a keeper's signed receipt. A command whose block fell into the next epoch is refused as
 * sealed to a past epoch; it is then sealed again once.
 */
export async function postOwnerCommand(client: W3aClient, params: PostOwnerCommandParameters): Promise<PostOwnerCommandReturnType> {
  const { network, publicClient } = await chainReader(client)
  const keepers = await onlineKeepers(client)
  const domain = custodyDomain(network)
  const signed = await signOwnerCommand({ account: params.account, domain, command: params.command })
  const deadline = Date.now() + (params.timeoutMs ?? 30_000)
  for (let attempt = 0; ; attempt++) {
    const { epoch, key: epochKey } = await currentAgreedEpochKey(publicClient, { registry: network.contracts.workerRegistry, keepers, deadline })
    const ciphertext = await sealCommand({
      epochPublicKey: hexToBytes(epochKey),
      epoch,
      chainId: network.chainId,
      inbox: network.contracts.custodyInbox,
      signed,
      ...(params.dek ? { dek: params.dek } : {}),
      ...(params.policy ? { policy: params.policy } : {}),
    })
    const posted = await postCustodyCommand(walletFor(network, params.account), { inbox: network.contracts.custodyInbox, epoch, ciphertext: bytesToHex(ciphertext) })
    const { receipt, keeper } = await fetchReceipt(keepers, posted.index, deadline)
    if (receipt.status === 'refused' && receipt.reason === 'sealed-to-past-epoch' && attempt === 0) continue
    return { index: posted.index, tx: posted.hash, receipt, keeper: keeper.address }
  }
}

/** A refused receipt as an error the user can act on. */
export function assertApplied(out: PostOwnerCommandReturnType, what: string): PostOwnerCommandReturnType {
  if (out.receipt.status !== 'applied') {
    throw new W3aError('COMMAND_REFUSED', `${what} was refused by the custody contract: ${out.receipt.reason}`, {
      details: [`inbox entry ${out.index}, signed receipt from keeper ${out.keeper}`],
    })
  }
  return out
}
