import { keccak256, parseEventLogs, type Address, type Hash, type Hex } from 'viem'
import { W3aError } from '../../core/errors.js'
import { workerRegistryAbi } from '../abis.js'
import type { WriteClients } from '../clients.js'
import { assertBytes32 } from '../dataset.js'
import { withChainErrors } from '../errors.js'
import { simulateWithApprove } from '../simulate-with-approve.js'
import { decodeSimQuote, rolesToBits, teeTypeToUint, type TeeType, type WorkerRole } from '../worker.js'
import { rpcUrlOf, waitForSuccess, type WriteResult } from '../write.js'

export type RegisterWorkerParameters = {
  /** WorkerRegistry address. */
  registry: Address
  /** The staking token, if the caller knows it: checked against the registry's (else read from it). */
  token?: Address
  /** The worker key's address (made in the enclave). */
  worker: Address
  teeType: TeeType
  measurement: Hex
  /** X25519 public key (32 bytes) made in the enclave. */
  hpkePublicKey: Hex
  /** Role names or the bitmask (1 compute, 2 keeper, 4 storage). */
  roles: number | readonly WorkerRole[]
  /** URL where the worker answers (keepers: hand-over and owner queries). */
  endpoint: string
  /** The attestation quote. attestationHash = keccak256(quote); for sim, its signature goes on chain. */
  quote: Hex
  /** The worker key's raw signature over workerPossessionDigest({ chainId, registry, operator }). */
  workerSignature: Hex
  /** tdx/sgx: approvals of more than half of the active keepers (signKeeperApproval). */
  keeperApprovals?: readonly Hex[]
  /**
   * tdx/sgx: unix seconds at which the approving keepers (or governance, at bootstrap) verified
   * the quote, as in their approvals; refused (AttestationTooOld) once older than maxQuoteAge.
   * Ignored for sim (default 0).
   */
  attestedAt?: number
  /** Default true: approve the registry for `minStake` when the allowance is short. */
  autoApprove?: boolean
  /** Wei sent from the operator to the worker key after registration, to pay for its heartbeats. */
  gasFunding?: bigint
}

export type RegisterWorkerReturnType = WriteResult & {
  worker: Address
  operator: Address
  /** Token base units staked. */
  stake: bigint
  attestationHash: Hex
  /** The approval transaction, when one was needed. */
  approveHash?: Hash
  /** The gas funding transfer, when asked for. */
  fundingHash?: Hash
}

/**
 * Registers a worker with the wallet's account as its operator, staking the registry's
 * `minStake`. Simulates first: a refused registration (SimNotAllowed, MeasurementNotAllowed,
 * BadAttestationSignature, BadWorkerSignature, NotEnoughApprovals, AttestationTooOld, AlreadyRegistered, …) fails
 * with TX_REVERTED and sends nothing — not even the token approval.
 */
export async function registerWorker(clients: WriteClients, params: RegisterWorkerParameters): Promise<RegisterWorkerReturnType> {
  const { publicClient, walletClient } = clients
  const operator = walletClient.account.address
  const teeType = teeTypeToUint(params.teeType)
  const roles = rolesToBits(params.roles)
  assertBytes32(params.measurement, 'measurement')
  assertBytes32(params.hpkePublicKey, 'hpkePublicKey')
  if (!/^0x[0-9a-fA-F]*$/.test(params.quote) || params.quote.length <= 2) throw new W3aError('INVALID_ARGUMENT', 'quote must be non-empty hex')
  const simQuoteSignature: Hex = params.teeType === 'sim' ? decodeSimQuote(params.quote).signature : '0x'
  const attestationHash = keccak256(params.quote)
  const rpcUrl = rpcUrlOf(publicClient)

  return withChainErrors(
    async () => {
      const read = { address: params.registry, abi: workerRegistryAbi } as const
      const [token, stake] = await Promise.all([
        publicClient.readContract({ ...read, functionName: 'token' }),
        publicClient.readContract({ ...read, functionName: 'minStake' }),
      ])
      if (params.token !== undefined && params.token.toLowerCase() !== token.toLowerCase()) {
        throw new W3aError('INVALID_ARGUMENT', `the registry at ${params.registry} stakes token ${token}, not ${params.token}`)
      }
      const simulate = () =>
        publicClient.simulateContract({
          ...read,
          functionName: 'register',
          args: [
            {
              worker: params.worker,
              teeType,
              measurement: params.measurement,
              hpkePublicKey: params.hpkePublicKey,
              roles,
              endpoint: params.endpoint,
              attestationHash,
              attestedAt: BigInt(params.attestedAt ?? 0),
            },
            params.workerSignature,
            simQuoteSignature,
            [...(params.keeperApprovals ?? [])],
          ],
          account: walletClient.account,
        })

      // Every other check passed when the contract gets to the allowance: approve `stake`, then retry.
      const { simulation, approveHash } = await simulateWithApprove(clients, { token, spender: params.registry, amount: stake, autoApprove: params.autoApprove, simulate })
      const hash = await walletClient.writeContract(simulation.request)
      const receipt = await waitForSuccess(publicClient, hash)
      const [event] = parseEventLogs({ abi: workerRegistryAbi, logs: receipt.logs, eventName: 'WorkerRegistered' })

      let fundingHash: Hash | undefined
      if (params.gasFunding !== undefined && params.gasFunding > 0n) {
        fundingHash = await walletClient.sendTransaction({ to: params.worker, value: params.gasFunding })
        await waitForSuccess(publicClient, fundingHash)
      }
      return {
        hash,
        blockNumber: receipt.blockNumber,
        worker: params.worker,
        operator,
        stake: event?.args.stake ?? stake,
        attestationHash,
        ...(approveHash === undefined ? {} : { approveHash }),
        ...(fundingHash === undefined ? {} : { fundingHash }),
      }
    },
    { rpcUrl },
  )
}
