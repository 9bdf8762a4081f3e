/**
 * The measured network config (docs/tee.md, "Measured network config"): what decides which
 * peers an enclave trusts is part of its measurement, so a host that boots the enclave with
 * another config gets another measurement, one the network's on-chain allow-list does not hold.
 *
 *   configHash  = keccak256(abi.encode(string "w3a/network-config/v2", uint256 chainId,
 *                 address registry, address inbox, address jobs, uint256 epochLength,
 *                 bool allowSim, address devAttestationSigner, bytes32[] codeMeasurements,
 *                 string[] tcb.statuses, string[] tcb.advisoryStatuses, string[] tcb.advisoryIds,
 *                 uint256 tcb.maxQuoteAge, uint256 minKeepers))
 *                 every list sorted ascending (bytes), no duplicates
 *   measurement = sha256(utf8 "w3a/measurement/v1" ‖ codeMeasurement[32] ‖ configHash[32])   (sim)
 *
 * The config lists *code* measurements (bundle hashes), not full measurements, so it never has
 * to contain its own hash. A peer is accepted only if its quoted measurement is
 * measurement(code, configHash) for a listed code and *this* enclave's configHash: allowed code
 * booted with the same config. The enclave process and `w3a up` both use these functions.
 * Portable (no Node built-in).
 */
import { sha256 } from '@noble/hashes/sha2.js'
import { bytesToHex, concatBytes, encodeAbiParameters, hexToBytes, isAddress, keccak256, type Address, type Hex } from 'viem'
import { W3aError } from '../core/errors.js'
import type { TeePolicy } from './types.js'
import type { TcbPolicy } from './tcb-policy.js'

export type NetworkConfig = {
  chainId: number
  registry: Address
  inbox: Address
  jobs: Address
  /** Blocks per custody epoch (registry parameter). */
  epochLength: bigint
  /** Accept simulated quotes (dev networks only). */
  allowSim: boolean
  /** Signer of sim quotes this network trusts. */
  devAttestationSigner: Address
  /** The genesis allow-list: code (bundle) measurements, see the header. */
  codeMeasurements: readonly Hex[]
  /** The TCB policy tdx/sgx peers are judged by (the registry's, when the enclave booted). */
  tcb: TcbPolicy
  /**
   * The smallest custody keeper set that may release a key or refuse a job (the registry's
   * `minKeepers`): a keeper whose host hides every other keeper from it stays a set of one, and
   * on a network that asks for more it releases nothing. 1 on a dev network.
   */
  minKeepers: number
}

const CONFIG_TAG = 'w3a/network-config/v2'
const MEASUREMENT_TAG = new TextEncoder().encode('w3a/measurement/v1')
const BYTES32 = /^0x[0-9a-fA-F]{64}$/

/** The config in its one canonical form: addresses and hashes lower-case, code list sorted and unique. */
export function canonicalNetworkConfig(c: NetworkConfig): NetworkConfig {
  for (const [name, a] of [['registry', c.registry], ['inbox', c.inbox], ['jobs', c.jobs], ['devAttestationSigner', c.devAttestationSigner]] as const) {
    if (!isAddress(a, { strict: false })) throw new W3aError('INVALID_ARGUMENT', `network config: ${name} is not an address: ${String(a)}`)
  }
  if (!Number.isSafeInteger(c.chainId) || c.chainId <= 0) throw new W3aError('INVALID_ARGUMENT', `network config: chainId must be a positive integer, got ${c.chainId}`)
  if (typeof c.epochLength !== 'bigint' || c.epochLength <= 0n) throw new W3aError('INVALID_ARGUMENT', 'network config: epochLength must be a positive bigint')
  if (typeof c.allowSim !== 'boolean') throw new W3aError('INVALID_ARGUMENT', 'network config: allowSim must be a boolean')
  if (!Number.isSafeInteger(c.minKeepers) || c.minKeepers < 1 || c.minKeepers > 255) throw new W3aError('INVALID_ARGUMENT', `network config: minKeepers must be an integer from 1 to 255, got ${c.minKeepers}`)
  if (c.codeMeasurements.length === 0) throw new W3aError('INVALID_ARGUMENT', 'network config: the code allow-list is empty')
  for (const m of c.codeMeasurements) if (typeof m !== 'string' || !BYTES32.test(m)) throw new W3aError('INVALID_ARGUMENT', `network config: code measurement ${String(m)} is not bytes32`)
  const codes = [...new Set(c.codeMeasurements.map((m) => m.toLowerCase() as Hex))].sort()
  const lower = (a: Address) => a.toLowerCase() as Address
  const t = c.tcb
  if (!t || !Number.isSafeInteger(t.maxQuoteAge) || t.maxQuoteAge < 0) throw new W3aError('INVALID_ARGUMENT', 'network config: tcb.maxQuoteAge must be a non-negative integer')
  const names = (list: readonly string[], what: string) => {
    if (!Array.isArray(list) || list.some((x) => typeof x !== 'string')) throw new W3aError('INVALID_ARGUMENT', `network config: tcb.${what} must be a list of strings`)
    return [...new Set(list)].sort(byBytes)
  }
  const tcb: TcbPolicy = { statuses: names(t.statuses, 'statuses'), advisoryStatuses: names(t.advisoryStatuses, 'advisoryStatuses'), advisoryIds: names(t.advisoryIds, 'advisoryIds'), maxQuoteAge: t.maxQuoteAge }
  return {
    chainId: c.chainId,
    registry: lower(c.registry),
    inbox: lower(c.inbox),
    jobs: lower(c.jobs),
    epochLength: c.epochLength,
    allowSim: c.allowSim,
    devAttestationSigner: lower(c.devAttestationSigner),
    codeMeasurements: codes,
    tcb,
    minKeepers: c.minKeepers,
  }
}

const utf8 = new TextEncoder()
/** Byte order of the UTF-8 encodings: the same on every platform and locale. */
function byBytes(a: string, b: string): number {
  const x = utf8.encode(a)
  const y = utf8.encode(b)
  for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i]! - y[i]!
  return x.length - y.length
}

export function networkConfigHash(config: NetworkConfig): Hex {
  const c = canonicalNetworkConfig(config)
  return keccak256(
    encodeAbiParameters(
      [
        { type: 'string' },
        { type: 'uint256' },
        { type: 'address' },
        { type: 'address' },
        { type: 'address' },
        { type: 'uint256' },
        { type: 'bool' },
        { type: 'address' },
        { type: 'bytes32[]' },
        { type: 'string[]' },
        { type: 'string[]' },
        { type: 'string[]' },
        { type: 'uint256' },
        { type: 'uint256' },
      ],
      [
        CONFIG_TAG,
        BigInt(c.chainId),
        c.registry,
        c.inbox,
        c.jobs,
        c.epochLength,
        c.allowSim,
        c.devAttestationSigner,
        c.codeMeasurements as Hex[],
        [...c.tcb.statuses],
        [...c.tcb.advisoryStatuses],
        [...c.tcb.advisoryIds],
        BigInt(c.tcb.maxQuoteAge),
        BigInt(c.minKeepers),
      ],
    ),
  )
}

/** The measurement a `sim` enclave running `codeMeasurement` under `configHash` quotes. */
export function networkMeasurement(p: { codeMeasurement: Hex; configHash: Hex }): Hex {
  if (!BYTES32.test(p.codeMeasurement) || !BYTES32.test(p.configHash)) throw new W3aError('INVALID_ARGUMENT', 'code measurement and config hash must be bytes32')
  return bytesToHex(sha256(concatBytes([MEASUREMENT_TAG, hexToBytes(p.codeMeasurement), hexToBytes(p.configHash)])))
}

/**
 * What an enclave booted with `config` accepts from peers: sim only if the config allows it
 * and only measurements of listed code under this same config; tdx/sgx under the config's TCB
 * policy. (No in-enclave allow-list for tdx/sgx yet: their config is in the measured image, see
 * docs/tee.md; the registry's allow-list gates them.)
 */
export function networkPolicy(config: NetworkConfig): TeePolicy {
  const c = canonicalNetworkConfig(config)
  const configHash = networkConfigHash(c)
  return {
    allowSim: c.allowSim,
    devAttestationSigner: c.devAttestationSigner,
    simMeasurements: c.codeMeasurements.map((codeMeasurement) => networkMeasurement({ codeMeasurement, configHash })),
    tcb: c.tcb,
  }
}
