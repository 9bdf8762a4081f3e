/**
 * A client's check of a registered worker's attestation, before it trusts the worker's keys:
 * the quote the worker serves is the one it registered with (keccak256 = the on-chain
 * attestationHash), it verifies under the network's own policy as the registry states it
 * (allowSim, dev attestation signer, measurement allow-list, TCB policy, registration age),
 * and its report data binds exactly the worker address and HPKE key the chain lists.
 * Neither the worker's host nor the gateway is trusted: a host that serves another quote, or a
 * registration whose on-chain HPKE key is not the one in its quote, is refused.
 */
import { hexToBytes, keccak256, type Address, type Hex } from 'viem'
import { getRegistryParams, getTcbPolicy, type ChainPublicClient } from '../chain/portable.js'
import { W3aError, isW3aError } from '../core/errors.js'
import { verifyWorkerQuote } from '../tee/verify-quote.js'
import type { TeePolicy, VerifiedQuote } from '../tee/types.js'

/** What the chain says of the worker whose key is checked. */
export type RegisteredWorkerKeys = { address: Address; endpoint: string; hpkePublicKey: Hex; attestationHash: Hex; registeredAt: number }

export type VerifierOptions = {
  /** Intel DCAP collateral, needed for a tdx/sgx worker's quote (sim quotes need none). */
  collateral?: unknown
  /** Verify the quote as of this time, unix seconds (default now). */
  now?: number
}

/** The TeePolicy the registry states: sim only where it allows sim, its allow-list, its TCB policy. */
export async function networkTeePolicy(publicClient: ChainPublicClient, registry: Address, options: VerifierOptions = {}): Promise<TeePolicy> {
  const [params, tcb] = await Promise.all([getRegistryParams(publicClient, { registry }), getTcbPolicy(publicClient, { registry })])
  return {
    allowSim: params.allowSim,
    devAttestationSigner: params.devAttestationSigner,
    allowedMeasurements: params.allowedMeasurements,
    tcb,
    ...(options.collateral === undefined ? {} : { collateral: options.collateral }),
    ...(options.now === undefined ? {} : { now: options.now }),
  }
}

/** The quote a worker serves at /v1/info, refused unless it is the one it registered with. */
export async function fetchRegisteredQuote(worker: { address: Address; endpoint: string; attestationHash: Hex }): Promise<Uint8Array> {
  const url = `${worker.endpoint.replace(/\/+$/, '')}/v1/info`
  let info: { quote?: unknown }
  try {
    const res = await fetch(url)
    if (!res.ok) throw new Error(`HTTP ${res.status}`)
    info = (await res.json()) as { quote?: unknown }
  } catch (cause) {
    throw new W3aError('WORKER_UNREACHABLE', `cannot fetch worker ${worker.address}'s attestation from ${worker.endpoint}`, { cause })
  }
  if (typeof info.quote !== 'string' || !/^0x([0-9a-fA-F]{2})+$/.test(info.quote)) throw new W3aError('ATTESTATION_INVALID', `worker ${worker.address} serves no quote`)
  const quote = hexToBytes(info.quote as Hex)
  if (keccak256(quote) !== worker.attestationHash.toLowerCase()) {
    throw new W3aError('ATTESTATION_INVALID', `worker ${worker.address} serves a quote other than the one it registered with`)
  }
  return quote
}

/**
 * Before sealing a secret to a keeper's on-chain HPKE key: its registered quote must verify
 * under the network's policy and bind that very key (and the keeper's address, chain and
 * registry). Any failure is KEY_NOT_ATTESTED (its cause says which check), except a missing
 * collateral or an unreachable keeper, which say so.
 */
export async function verifyKeeperKey(p: { keeper: RegisteredWorkerKeys; policy: TeePolicy; chainId: number; registry: Address }): Promise<VerifiedQuote> {
  const { keeper } = p
  try {
    const quote = await fetchRegisteredQuote(keeper)
    return await verifyWorkerQuote(quote, p.policy, {
      worker: keeper.address,
      hpkePublicKey: hexToBytes(keeper.hpkePublicKey),
      chainId: p.chainId,
      registry: p.registry,
      registeredAt: keeper.registeredAt,
    })
  } catch (cause) {
    if (isW3aError(cause, 'INVALID_ARGUMENT') || isW3aError(cause, 'WORKER_UNREACHABLE')) throw cause
    const reason = cause instanceof Error ? cause.message : String(cause)
    throw new W3aError('KEY_NOT_ATTESTED', `keeper ${keeper.address}'s HPKE key ${keeper.hpkePublicKey} is not attested by its quote: ${reason}`, {
      cause,
      details: ['Nothing was sent to this keeper. Use another keeper (keeper: …) and report this one.'],
    })
  }
}
