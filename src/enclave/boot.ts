/**
 * How a `sim` enclave boots: the host hands it public values only (data directory, gateway,
 * and the network config, TCB policy included); the enclave parses them strictly, measures itself and quotes
 * measurement = networkMeasurement(its own code, hash of the config it booted with)
 * (src/tee/network-measurement.ts). The host cannot pass a policy: the enclave derives the
 * policy from the measured config, so a host that changes what decides a release or a
 * hand-over changes the measurement, and the network refuses the quote.
 */
import { join } from 'node:path'
import { isAddress, type Address, type Hex } from 'viem'
import { z } from 'zod'
import { W3aError } from '../core/errors.js'
import { createSimEnclave, DEFAULT_TCB_POLICY, DEV_ATTESTATION_SIGNER, networkConfigHash, networkMeasurement, canonicalNetworkConfig, type EnclaveBackend, type TcbPolicy } from '../tee/index.js'
import type { EnclaveConfig } from './service.js'

const addr = z.string().refine((s) => isAddress(s, { strict: false }), 'not an address')
const bytes32 = z.string().regex(/^0x[0-9a-fA-F]{64}$/)
/** What the host may pass (W3A_ENCLAVE_CONFIG). Strict: an unknown key such as `policy` is refused. */
const bootSchema = z.strictObject({
  dataDir: z.string().min(1),
  gatewayUrl: z.string(),
  chainId: z.number().int().positive(),
  registry: addr,
  inbox: addr,
  jobs: addr,
  /** The StorageMarket (storage nodes and challengers sign its reports and challenges). */
  storageMarket: addr.optional(),
  epochLength: z.string().regex(/^[1-9][0-9]{0,19}$/),
  allowSim: z.boolean(),
  /** default: the public dev signer */
  devAttestationSigner: addr.optional(),
  /** The network's genesis code allow-list; default: this enclave's own code only. */
  codeMeasurements: z.array(bytes32).min(1).optional(),
  /** The registry's TCB policy; default DEFAULT_TCB_POLICY. */
  /** The registry's `minKeepers`; default 1 (a dev network). */
  minKeepers: z.number().int().min(1).max(255).optional(),
  tcb: z
    .strictObject({ statuses: z.array(z.string()), advisoryStatuses: z.array(z.string()), advisoryIds: z.array(z.string()), maxQuoteAge: z.number().int().nonnegative() })
    .optional(),
})
export type EnclaveBoot = Omit<z.input<typeof bootSchema>, 'tcb'> & { tcb?: TcbPolicy }

/** Parses the host's boot values into the enclave's config (network part canonical). */
export function parseEnclaveBoot(json: unknown, ownCodeMeasurement: Hex): EnclaveConfig {
  const r = bootSchema.safeParse(json)
  if (!r.success) throw new W3aError('INVALID_ARGUMENT', `enclave boot config refused: ${r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`)
  const b = r.data
  const network = canonicalNetworkConfig({
    chainId: b.chainId,
    registry: b.registry as Address,
    inbox: b.inbox as Address,
    jobs: b.jobs as Address,
    epochLength: BigInt(b.epochLength),
    allowSim: b.allowSim,
    devAttestationSigner: (b.devAttestationSigner ?? DEV_ATTESTATION_SIGNER) as Address,
    codeMeasurements: (b.codeMeasurements ?? [ownCodeMeasurement]) as Hex[],
    tcb: (b.tcb as TcbPolicy | undefined) ?? DEFAULT_TCB_POLICY,
    minKeepers: b.minKeepers ?? 1,
  })
  return { ...network, dataDir: b.dataDir, gatewayUrl: b.gatewayUrl, ...(b.storageMarket ? { storageMarket: b.storageMarket as Address } : {}) }
}

/** The sim backend of an enclave running `codeMeasurement` with `config`: its quotes carry the network measurement. */
export function simEnclaveFor(p: { config: EnclaveConfig; codeMeasurement: Hex }): { backend: EnclaveBackend; measurement: Hex } {
  const measurement = networkMeasurement({ codeMeasurement: p.codeMeasurement, configHash: networkConfigHash(p.config) })
  const backend = createSimEnclave({ measurement, platformSecretFile: join(p.config.dataDir, 'sim-platform.key') })
  return { backend, measurement }
}
