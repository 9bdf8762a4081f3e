/**
 * Web-analytics sites for their owner (docs/site-owner.md). A site is a W3A dataset whose id is
 * datasetIdFor(owner, salt), with salt = keccak256(the owner's EIP-191 signature of
 * "w3a site v1\n" ‖ domain), and whose dataset key is keccak256(the owner's signature of
 * "w3a site key v1\n" ‖ domain): only the owner's key makes either (signatures are
 * deterministic, RFC 6979), so the same account and domain always give the same site and key,
 * and `site add` can be run again to finish what an interrupted run left.
 */
import { bytesToHex, hexToBytes, isAddressEqual, keccak256, type Address, type Hex, type LocalAccount } from 'viem'
import { W3aError, isW3aError } from '../../core/errors.js'
import { datasetIdFor } from '../../crypto/typed-commands.js'
import { hpkeSeal, HPKE_SUITE_ID } from '../../crypto/hpke.js'
import { deriveOwnerWrapKey, wrapDatasetKey } from '../../crypto/owner-wrap-key.js'
import { DEFAULT_CHUNK_SIZE, ENVELOPE_VERSION } from '../../crypto/envelope.js'
import { getDataset, getDatasetWriter, getWorker, listDatasets, registerDataset, setDatasetWriter } from '../../chain/portable.js'
import { encodeManifest, schemaHash, type DatasetManifest } from '../../storage/index.js'
import { SITE_KEY_INFO, siteRegistrationText } from '../../enclave/ingest-sites.js'
import { SITE_POLICY, SITE_PRIVACY_UNIT, SITE_SCHEMA, sealSiteSegment, siteRowsToParquet } from '../../enclave/ingest-segments.js'
import { parsePolicy, type CustodyPolicyInput } from '../../custody/policy.js'
import { carOfBlock } from '../../storage/car-of-block.js'
import { uploadCar } from '../upload-car.js'
import { requireAccount, type W3aClient } from '../client.js'
import { getIngestInfo, normalDomain, siteFor, siteSnippet, SITE_NAME_PREFIX, type IngestInfo, type Site } from './site-id.js'
import { assertApplied, chainReader, commandExpiry, newNonce, postOwnerCommand } from '../custody-channel.js'
import { networkTeePolicy, verifyKeeperKey } from '../worker-attestation.js'
import { walletFor } from '../wallet.js'
import { registerDatasetKey } from './custody/registerDatasetKey.js'
import { setDatasetPolicy } from './custody/setDatasetPolicy.js'
import { listOnMarket } from './market/listOnMarket.js'

export { siteFor, getIngestInfo, siteSnippet, SITE_NAME_PREFIX, type Site, type IngestInfo } from './site-id.js'

/** The site's dataset key, remade from the owner's signature whenever needed (never stored). */
export async function siteKey(account: LocalAccount, domain: string): Promise<Uint8Array> {
  return hexToBytes(keccak256(await account.signMessage({ message: `w3a site key v1\n${normalDomain(domain)}` })))
}

/** The ingest worker as the chain records it, its quote checked against the key the gateway named. */
async function verifyIngest(client: W3aClient, ingest: IngestInfo): Promise<void> {
  const { network, publicClient } = await chainReader(client)
  const w = await getWorker(publicClient, { registry: network.contracts.workerRegistry, worker: ingest.address })
  if (w.hpkePublicKey.toLowerCase() !== ingest.hpkePublicKey.toLowerCase()) throw new W3aError('KEY_NOT_ATTESTED', `the gateway names ingest key ${ingest.hpkePublicKey}, but worker ${ingest.address} registered ${w.hpkePublicKey}`)
  const policy = await networkTeePolicy(publicClient, network.contracts.workerRegistry)
  await verifyKeeperKey({ keeper: { address: w.address, endpoint: w.endpoint, hpkePublicKey: w.hpkePublicKey, attestationHash: w.attestationHash, registeredAt: w.registeredAt }, policy, chainId: network.chainId, registry: network.contracts.workerRegistry })
}

export type AddSiteProgress = 'verify' | 'segment' | 'register' | 'custody' | 'policy' | 'writer' | 'list' | 'ingest'
export type AddSiteReturnType = Site & { ingestWorker: Address; ingestKey: Hex; manifestCid: string; snippet: string; steps: AddSiteProgress[] }

/**
 * Makes `domain` a site (docs/site-owner.md, "Registering a site"), each step skipped when done:
 * 1. checks the ingest worker's attestation (its key is what visitors' events are sealed to);
 * 2. an empty first segment (site schema) sealed with the site key, and its manifest, to storage;
 * 3. the dataset on chain (name `site:DOMAIN`) and its key in custody (RegisterDataset);
 * 4. the site's policy (DP by default, the site schema's classes and bounds; `policy` overrides terms);
 * 5. the ingest worker as the dataset's writer, in custody (SetWriter) and on chain (setWriter);
 * 6. listed at price 0, closed to buyers but its owner (so the owner's Stats API jobs can run);
 * 7. the registration with the ingest enclave: the site key sealed to its attested key.
 */
export async function addSite(client: W3aClient, p: { domain: string; policy?: CustodyPolicyInput; onProgress?: (step: AddSiteProgress) => void }): Promise<AddSiteReturnType> {
  const account = requireAccount(client, 'site add')
  const progress = p.onProgress ?? (() => undefined)
  const steps: AddSiteProgress[] = []
  const step = (s: AddSiteProgress) => (steps.push(s), progress(s))
  const site = await siteFor(account, p.domain)
  const { network, publicClient } = await chainReader(client)
  const registry = network.contracts.datasetRegistry
  step('verify')
  const ingest = await getIngestInfo(client)
  await verifyIngest(client, ingest)
  const dek = await siteKey(account, site.domain)
  try {
    let existing = await getDataset(publicClient, { registry, id: site.id }).catch((e) => (isW3aError(e, 'DATASET_NOT_FOUND') ? null : Promise.reject(e)))
    let manifestCid = existing?.manifestCid
    if (!existing) {
      step('segment')
      const segment = await sealSiteSegment({ dek, site: site.id, segmentIndex: 0, parquet: await siteRowsToParquet([]) })
      await uploadCar(client, { root: segment.cid, car: segment.car })
      const wrapKey = await deriveOwnerWrapKey({ account, chainId: network.chainId })
      const wrapped = await wrapDatasetKey({ recipientPublicKey: wrapKey.publicKey, datasetId: site.id, dek })
      const manifest: DatasetManifest = {
        version: 1,
        datasetId: site.id,
        name: `${SITE_NAME_PREFIX}${site.domain}`,
        format: 'parquet',
        schema: SITE_SCHEMA,
        privacyUnit: SITE_PRIVACY_UNIT,
        rows: 0,
        segments: [{ cid: segment.cid, rows: 0, size: segment.size }],
        envelope: { version: ENVELOPE_VERSION, cipher: 'AES-256-GCM', chunkSize: DEFAULT_CHUNK_SIZE, kdf: 'HKDF-SHA256' },
        keyWraps: [{ kind: 'owner', suite: HPKE_SUITE_ID, recipient: wrapKey.publicKey, enc: wrapped.enc, ciphertext: wrapped.ciphertext }],
        createdAt: new Date().toISOString(),
      }
      const block = await carOfBlock(encodeManifest(manifest))
      await uploadCar(client, { root: block.cid, car: block.car })
      manifestCid = block.cid.toString()
      step('register')
      await registerDataset(walletFor(network, account), { registry, salt: site.salt, name: `${SITE_NAME_PREFIX}${site.domain}`, manifestCid, schemaHash: schemaHash(SITE_SCHEMA), pricePerQuery: 0n })
      step('custody')
      await registerDatasetKey(client, { id: site.id, salt: site.salt, manifestCid, dek })
      existing = await getDataset(publicClient, { registry, id: site.id })
    }
    if (existing.status === 'unlisted' || p.policy) {
      step('policy')
      await setDatasetPolicy(client, { id: site.id, policy: parsePolicy({ ...SITE_POLICY, ...(p.policy ?? {}) }) })
    }
    if (!isAddressEqual(await getDatasetWriter(publicClient, { registry, id: site.id }), ingest.address)) {
      step('writer')
      assertApplied(
        await postOwnerCommand(client, { account, command: { type: 'SetWriter', message: { datasetId: site.id, writer: ingest.address, nonce: newNonce(), expiry: commandExpiry() } } }),
        'naming the ingest worker as the site writer',
      )
      await setDatasetWriter(walletFor(network, account), { registry, id: site.id, writer: ingest.address })
    }
    if (existing.status === 'unlisted') {
      step('list')
      await listOnMarket(client, { id: site.id, price: 0n, summary: 'W3A web-analytics site (docs/site-owner.md); DP by default.' })
    }
    step('ingest')
    const request = await siteRegistration({ account, chainId: network.chainId, site, ingest, registry, manifestCid: manifestCid!, dek })
    const body = await postJson(client, '/api/v1/sites', request)
    return { ...site, ingestWorker: ingest.address, ingestKey: ingest.hpkePublicKey, manifestCid: (body as { manifestCid: string }).manifestCid, snippet: siteSnippet({ gatewayUrl: client.gateway.url, siteId: site.id, ingestKey: ingest.hpkePublicKey }), steps }
  } finally {
    dek.fill(0)
  }
}

/** The owner's signed registration of `site` with an ingest enclave (ingest-sites.ts): the site key sealed to the enclave's attested key. */
export async function siteRegistration(p: { account: LocalAccount; chainId: number; site: Site; ingest: Pick<IngestInfo, 'address' | 'hpkePublicKey'>; registry: Address; manifestCid: string; dek: Uint8Array; issuedAt?: number }): Promise<Record<string, unknown>> {
  const base = { site: p.site.id, owner: p.account.address, salt: p.site.salt, domain: p.site.domain, ingest: p.ingest.address, registry: p.registry, manifestCid: p.manifestCid, keyHash: keccak256(p.dek), issuedAt: p.issuedAt ?? Math.floor(Date.now() / 1000) }
  const sealed = await hpkeSeal({ recipientPublicKey: hexToBytes(p.ingest.hpkePublicKey), info: SITE_KEY_INFO, aad: new TextEncoder().encode(p.site.id) }, p.dek)
  const signature = await p.account.signMessage({ message: siteRegistrationText(base, p.chainId) })
  return { ...base, sealedKey: { enc: bytesToHex(sealed.enc), ciphertext: bytesToHex(sealed.ciphertext) }, signature }
}

async function postJson(client: W3aClient, path: string, body: unknown): Promise<unknown> {
  const res = await fetch(`${client.gateway.url}${path}`, { method: 'POST', body: JSON.stringify(body) })
  const out = (await res.json()) as any
  if (!res.ok) throw new W3aError(out?.error?.code ?? 'GATEWAY_ERROR', out?.error?.message ?? `gateway answered ${res.status}`, { details: out?.error?.details ?? [] })
  return out
}

export type SiteListing = { id: Hex; domain: string; status: string; manifestCid: string; writer: Address; segments?: number; pending?: number }

/** The account's sites: its datasets named `site:DOMAIN`, with their writer and, from the ingest worker, segments and waiting rows. */
export async function listSites(client: W3aClient, p: { owner?: Address } = {}): Promise<SiteListing[]> {
  const { network, publicClient } = await chainReader(client)
  const owner = p.owner ?? requireAccount(client, 'site ls').address
  const all = await listDatasets(publicClient, { registry: network.contracts.datasetRegistry, owner })
  const sites = all.filter((d) => d.name.startsWith(SITE_NAME_PREFIX) && d.status !== 'deleted')
  const status = await fetch(`${client.gateway.url}/api/v1/ingest/status`).then((r) => (r.ok ? (r.json() as Promise<{ sites: { site: string; segments: number; pending: number }[] }>) : undefined)).catch(() => undefined)
  return Promise.all(
    sites.map(async (d) => {
      const s = status?.sites.find((x) => x.site === d.id.toLowerCase())
      return { id: d.id, domain: d.name.slice(SITE_NAME_PREFIX.length), status: d.status, manifestCid: d.manifestCid, writer: await getDatasetWriter(publicClient, { registry: network.contracts.datasetRegistry, id: d.id }), ...(s ? { segments: s.segments, pending: s.pending } : {}) }
    }),
  )
}
