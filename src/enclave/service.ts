import { existsSync, mkdirSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { bytesToHex, encodeFunctionData, hexToBytes, type Address, type Hex } from 'viem'
import { custodyInboxAbi, datasetRegistryAbi, jobsAbi, workerRegistryAbi, workerPossessionDigest, type InboxEntry as ChainInboxEntry } from '../chain/index.js'
import { analysisKeyDigest } from '../analysis/index.js'
import { carFetcher } from './car-fetch.js'
import { failureOf, fetchBytes, isFailureRefusal, judgeRelease, releaseJob, runJob, signedFailure, wipeJudgement, type JobDomain, type ReleaseOutcome, type RunJobOutcome, type WorkerOnChain } from './jobs.js'
import { refusalTerms, signRefusalVote, type NamedKeeper, type RefusalVote } from './refusal-quorum.js'
import { JobOutcomes } from './job-outcomes.js'
import { createJobDataCache } from './job-data.js'
import { JobReleases } from './job-releases.js'
import type { JobView } from './job-view.js'
import { KeeperFreshness, type FreshnessStatus, type ResumeOutcome, type StateVersion } from './freshness.js'
import { SealedHead } from './sealed-head.js'
import { WitnessBook } from './witness-book.js'
import { parseNonce, signReport, signStatement, verifyStatement, ZERO_NONCE, type FreshnessDomain, type WitnessReport, type WitnessStatement } from './witness-report.js'
import { W3aError } from '../core/errors.js'
import {
  type EnclaveBackend,
  type TeePolicy,
  createEnclaveIdentity,
  exportIdentity,
  importIdentity,
  attestIdentity,
  readSealedFile,
  writeSealedFile,
  verifyWorkerQuote,
  networkPolicy,
  type NetworkConfig,
  type EnclaveIdentity,
} from '../tee/index.js'
import {
  EpochKeyring,
  analysisKeyPair,
  createInitialSecret,
  createEmptyState,
  replayInbox,
  type SignedCustodyReceipt,
  getDataset,
  stateRoot,
  stateRootParts,
  type StateRootParts,
  encodeSnapshot,
  decodeSnapshot,
  answerCustodyQuery,
  confirmCharge,
  type JobAssignment,
  type ChargeConfirmation,
  newChargeChallenge,
  keeperRemovalDigest,
  isKeeper,
  DEFAULT_POLICY,
  keeperQuorum,
  withGenesisKeeper,
  approveRegistration,
  createHandoverRequest,
  verifyHandoverRequest,
  createHandoverResponse,
  openHandoverResponse,
  type CustodyState,
  type HandoverPeer,
  type HandoverRequest,
  handoverToJson,
  receiptToJson,
  type InboxEntry,
} from '../custody/index.js'
import { generateHpkeKeyPair, type HpkeKeyPair } from '../crypto/hpke.js'
import { Ingest, type IngestOutcome } from './ingest.js'
import { serveIngestStream } from './ingest-stream.js'
import { Socket } from 'node:net'
import { CampaignAggregator, type CampaignAcceptance } from './campaign-aggregator.js'
import type { CampaignResult } from '../campaigns/result-format.js'
import type { CampaignTerms } from '../chain/campaigns.js'
import { INGEST_STATE_LABEL, type IngestFile } from './ingest-state.js'
import { CID } from 'multiformats/cid'
import { decodeManifest, schemaHash, verifyBlock } from '../storage/index.js'
import { signUnpin, signUpload } from '../storage/upload-authorization.js'
import type { DatasetManifest } from '../storage/index.js'
import { dekHash, signOwnerCommand, type OwnerCommand } from '../crypto/typed-commands.js'
import { sealCommand } from '../custody/sealed-command.js'
import { randomBytes } from 'node:crypto'
import { PERIODS, answerStats, checkStatsRequest, sealStatsAnswer, type SealedStatsAnswer } from './ingest-stats.js'
import { answerVisitorRequest } from './ingest-visitor-rights.js'
import { applySettingsWrite, checkSettingsRead, signSettingsAnswer, type SiteSettingsAnswer } from './ingest-site-settings.js'
import { AuditLedger, type LedgerStore } from './storage-audit-ledger.js'
import { StorageAudit, type AuditBegin, type AuditBlocks, type AuditSample, type ChallengeOutcome, type ChallengeRequest, type SignedWorkReport } from './storage-audit.js'

import type { VisitorAnswer } from '../tracker/visitor-format.js'

export type EpochBoundary = { epoch: bigint; processed: bigint; stateRoot: Hex }

/** What a site's manifest update is: rows appended, or its segments rewritten under a new key after a visitor's deletion. */
export type SiteUpdateKind = 'append' | 'rewrite'

/** One site's update ready for the host to send (or, with `error`, a rewrite that could not be made this round). */
export type IngestFlushItem = { site: Hex; manifestCid: string; rows: number; kind: SiteUpdateKind; error?: string }

export type OwnTxKind = 'heartbeat' | 'publishEpochKey' | 'publishStateRoot' | 'submitResult' | 'submitFailure' | 'siteManifest' | 'siteCommand'

/** What the enclave tells its host (all public). */
export type EnclaveInfo = {
  teeType: string
  insecure: boolean
  address: Address
  hpkePublicKey: Hex
  measurement: Hex
  reportData: Hex
  quote: Hex
}

/**
 * The network part (chain, contracts, epoch length, sim, the code allow-list) is measured
 * (src/tee/network-measurement.ts): the enclave derives whom it trusts from it, never from
 * its host. `jobs` is the Jobs contract: its inbox entries are job charges; results go to it.
 */
export type EnclaveConfig = NetworkConfig & {
  dataDir: string
  /** Storage the worker fetches dataset blocks from (every block is checked against its CID). */
  gatewayUrl: string
  /** The StorageMarket its work reports and challenges are signed for (storage nodes and challengers). */
  storageMarket?: Address
}

const MAX_CHARGE_CHALLENGES = 1024

function uint256(v: unknown): bigint {
  if (typeof v !== 'bigint' || v < 0n || v >= 1n << 256n) throw new W3aError('INVALID_ARGUMENT', 'jobId must be a uint256 bigint')
  return v
}

/** Seconds a requested approval time may differ from this enclave's clock. */
const APPROVAL_CLOCK_SKEW = 120

/** Seal labels: a sealed blob of one kind can never be unsealed as another. */
const LABEL = { identity: 'w3a/enclave/identity/v1', witnessed: 'w3a/enclave/witness-book/v1', audit: 'w3a/enclave/storage-audit/v1' } as const
/** The enclave's mutable state: versioned together under one sealed head (sealed-head.ts), witnessed by peers (freshness.ts). */
const STATE_LABEL = {
  keyring: 'w3a/enclave/keyring/v1',
  state: 'w3a/enclave/custody-state/v1',
  outcomes: 'w3a/enclave/job-outcomes/v1',
  releases: 'w3a/enclave/job-releases/v1',
  keepers: 'w3a/enclave/keeper-set/v1',
  // The ingest role's site book and log checkpoint (ingest-state.ts): rolled back with the rest or not at all.
  ...INGEST_STATE_LABEL,
} as const
type StateFile = keyof typeof STATE_LABEL
const INGEST_FILES: readonly IngestFile[] = Object.keys(INGEST_STATE_LABEL) as IngestFile[]

/** What the enclave tells its host of its sealed state's freshness (all public). */
export type FreshnessInfo = StateVersion & { status: FreshnessStatus; committed: boolean; keepers: Address[] }

/**
 * The inside of a worker's TEE. It makes and keeps the worker's keys, the cluster keyring
 * and the custody state; everything it writes to disk is sealed to its measurement. The
 * host (untrusted) only gets public values, signed receipts and encrypted answers.
 */
export class EnclaveService {
  private identity: EnclaveIdentity | undefined
  private keyring: EpochKeyring | undefined
  private state: CustodyState = createEmptyState()
  private sealingKey: Uint8Array | undefined
  private info: EnclaveInfo | undefined
  private usedQueryNonces = new Map<string, bigint>()
  /** Per job id, the challenge of the release being prepared (chargeChallenge); memory only, one use. */
  private chargeChallenges = new Map<string, Hex>()
  /**
   * The state as it stood when the keyring entered its current epoch: every keeper that
   * replayed the same inbox has the same boundary, so this is the root published per epoch.
   */
  private boundary: EpochBoundary | undefined
  private readonly dir: string
  /** Analysis-key seed of the previous epoch, kept one epoch longer than its secret (epoch-keys.ts). */
  private previousAnalysisSeed: { epoch: bigint; seed: Uint8Array } | undefined
  /** The jobs this worker has run: one run per job id (job-outcomes.ts). */
  private outcomes = new JobOutcomes()
  /** Keeper: the workers it released each job to, at most two per job (job-releases.ts). */
  private releases = new JobReleases()
  /** The web-analytics ingest role (ingest.ts), opened on first use. */
  private ingestRole: Ingest | undefined
  /**
   * Per site, the manifest update of its prepared flush (an append: custody UpdateManifest) or
   * rewrite (a visitor deletion: custody RotateKey with the new key): the registry call and the
   * sealed custody command (signOwnTx builds both from here).
   */
  private siteUpdates = new Map<string, { kind: SiteUpdateKind; site: Hex; manifestCid: string; manifest: DatasetManifest; registry: Address; epoch: bigint; command: Hex }>()
  /** The federated-campaign aggregator role (campaign-aggregator.ts), opened on first use. */
  private campaignRole: CampaignAggregator | undefined
  /** Whom this enclave trusts (peers' quotes): derived from its measured config only. */
  private readonly policy: TeePolicy
  /** The versioned sealed state and its freshness among the keepers (rollback protection). */
  private head: SealedHead | undefined
  private fresh: KeeperFreshness | undefined
  /** What this keeper witnessed of its peers' states (sealed on its own, witness-book.ts). */
  private book = new WitnessBook()
  /** The keyring as the sealed head last pinned it (persist writes it again only when it changed). */
  private savedRing: { ring: EpochKeyring; epoch: bigint } | undefined
  /** Decrypted segments of recently used datasets, in memory only (job-data.ts). */
  private jobData = createJobDataCache()

  constructor(
    private readonly backend: EnclaveBackend,
    private readonly config: EnclaveConfig,
  ) {
    this.dir = join(config.dataDir, 'enclave')
    this.policy = networkPolicy(config)
  }

  private file(name: keyof typeof LABEL): string {
    return join(this.dir, `${name}.sealed`)
  }

  private key(): Uint8Array {
    if (!this.sealingKey) throw new W3aError('INTERNAL', 'enclave not initialised')
    return this.sealingKey
  }

  private me(): EnclaveIdentity {
    if (!this.identity) throw new W3aError('INTERNAL', 'enclave not initialised')
    return this.identity
  }

  private ring(): EpochKeyring {
    if (!this.keyring) throw new W3aError('INVALID_ARGUMENT', 'this keeper holds no cluster secret yet (not bootstrapped or handed over)')
    return this.keyring
  }

  /**
   * Loads sealed identity and state, or makes a fresh identity; returns the attested public info.
   * On existing state the enclave is unverified until `resume` (freshness.ts): its host may have
   * restored an older copy.
   */
  async init(): Promise<EnclaveInfo> {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 })
    // Jobs decrypt into memory only (memory-files.ts); this directory is where versions before that
    // wrote plaintext Parquet, and what a crash of one of them left there is wiped before anything runs.
    rmSync(join(this.dir, 'jobs'), { recursive: true, force: true })
    this.sealingKey = await this.backend.sealingKey()
    const resumed = existsSync(this.file('identity'))
    this.identity = resumed ? importIdentity(readSealedFile(this.file('identity'), this.key(), LABEL.identity)) : await this.createIdentity()
    const head = (this.head = new SealedHead(this.dir, this.key(), STATE_LABEL))
    head.load()
    const read = <T>(name: StateFile, decode: (bytes: Uint8Array) => T): T | undefined => {
      const bytes = head.read(name)
      return bytes && decode(bytes)
    }
    this.keyring = read('keyring', (b) => EpochKeyring.import(b))
    this.savedRing = this.keyring && { ring: this.keyring, epoch: this.keyring.epoch }
    this.state = read('state', decodeSnapshot) ?? createEmptyState()
    // A state sealed before the keeper set existed: this keeper is its set of one, as before.
    if (this.keyring && this.state.keepers.size === 0) this.state = withGenesisKeeper(this.state, { ...this.publicKeys(), attestedAt: BigInt(Math.floor(Date.now() / 1000)) })
    this.outcomes = read('outcomes', JobOutcomes.import) ?? new JobOutcomes()
    this.releases = read('releases', JobReleases.import) ?? new JobReleases()
    this.fresh = new KeeperFreshness(this.identity.signer.address, this.freshnessDomain(), resumed ? 'unverified' : 'fresh')
    const keepers = head.read('keepers')
    if (keepers) this.fresh.import(keepers)
    if (existsSync(this.file('witnessed'))) this.book = WitnessBook.import(readSealedFile(this.file('witnessed'), this.key(), LABEL.witnessed))
    const att = await attestIdentity({ backend: this.backend, identity: this.identity, chainId: this.config.chainId, registry: this.config.registry })
    this.info = {
      teeType: this.backend.teeType,
      insecure: this.backend.insecure,
      address: this.identity.signer.address,
      hpkePublicKey: bytesToHex(this.identity.hpke.publicKey),
      measurement: att.measurement,
      reportData: bytesToHex(att.reportData),
      quote: bytesToHex(att.quote),
    }
    return this.info
  }

  private async createIdentity(): Promise<EnclaveIdentity> {
    const id = await createEnclaveIdentity()
    // The storage audit's ledger exists from the identity's birth, so a host that deletes it is caught (storageAudit).
    AuditLedger.create(this.auditLedgerStore())
    writeSealedFile(this.file('identity'), this.key(), LABEL.identity, exportIdentity(id))
    return id
  }

  private freshness(): KeeperFreshness {
    if (!this.fresh) throw new W3aError('INTERNAL', 'enclave not initialised')
    return this.fresh
  }

  private freshnessDomain(): FreshnessDomain {
    return { chainId: this.config.chainId, registry: this.config.registry }
  }

  /** One new version of the sealed state (only a fresh enclave writes: a rolled-back one would fork its history). */
  private save(contents: Partial<Record<StateFile, Uint8Array>>, atLeast?: bigint, drop?: readonly StateFile[]): void {
    if (!this.head) throw new W3aError('INTERNAL', 'enclave not initialised')
    this.freshness().requireFresh('saving its state')
    this.head.save(contents as Record<string, Uint8Array>, atLeast, drop)
    this.freshness().saved()
  }

  private persistOutcomes(): void {
    this.save({ outcomes: this.outcomes.export() })
  }

  private persist(extra: Partial<Record<StateFile, Uint8Array>> = {}, atLeast?: bigint, drop?: readonly StateFile[]): void {
    // Witnesses count from the agreed keeper set too (admissions need a majority of its members), so keepers that joined from different peers know each other.
    let learned = false
    for (const k of this.state.keepers.keys()) learned = this.freshness().addKeeper(k as Address) || learned
    // The keyring changes only with its epoch (or a hand-over's new one): unchanged, the head keeps pinning the sealed copy it has.
    const ring = this.keyring
    const ringChanged = ring !== undefined && (this.savedRing?.ring !== ring || this.savedRing.epoch !== ring.epoch)
    this.save({ ...(ringChanged ? { keyring: ring.export() } : {}), state: encodeSnapshot(this.state), ...(learned ? { keepers: this.freshness().export() } : {}), ...extra }, atLeast, drop)
    if (ringChanged) this.savedRing = { ring, epoch: ring.epoch }
  }

  /** First keeper of a network: makes the cluster secret here, inside the enclave. */
  async bootstrapCluster(params: { epoch: bigint }): Promise<{ epoch: bigint; publicKey: Hex }> {
    if (this.keyring) return this.epochPublicKey()
    this.freshness().requireFresh('bootstrapping a cluster')
    this.keyring = new EpochKeyring(params.epoch, createInitialSecret())
    this.state = withGenesisKeeper(this.state, { ...this.publicKeys(), attestedAt: BigInt(Math.floor(Date.now() / 1000)) })
    this.markBoundary()
    this.persist()
    return this.epochPublicKey()
  }

  private publicKeys(): { address: Address; hpkePublicKey: Hex } {
    return { address: this.me().signer.address, hpkePublicKey: bytesToHex(this.me().hpke.publicKey) }
  }

  /** The custody keeper set (public): whose confirmations count, and how many make a quorum. */
  keeperSet(): { keepers: Address[]; quorum: number; member: boolean } {
    return { keepers: [...this.state.keepers.keys()] as Address[], quorum: keeperQuorum(this.state), member: isKeeper(this.state, this.me().signer.address) }
  }

  /** Keeper: signs that its OWN state has this job charged and the dataset live (charge-confirmation.ts), or says why not. */
  async confirmCharge(params: { jobId: unknown; challenge: unknown; assignment: unknown }): Promise<Awaited<ReturnType<typeof confirmCharge>>> {
    // A restored older copy (a deleted dataset still live in it) must not vouch for a charge.
    this.freshness().requireFresh('confirming a charge')
    this.ring()
    const id = uint256(params?.jobId)
    if (typeof params?.challenge !== 'string' || !/^0x[0-9a-fA-F]{64}$/.test(params.challenge)) throw new W3aError('INVALID_ARGUMENT', 'confirmCharge: challenge must be bytes32 hex')
    const a = params.assignment as Partial<JobAssignment> | null | undefined
    if (typeof a?.worker !== 'string' || !/^0x[0-9a-fA-F]{40}$/.test(a.worker) || typeof a.open !== 'boolean') throw new W3aError('INVALID_ARGUMENT', 'confirmCharge: assignment must be { worker: address, open: boolean } (the job as this host reads the chain)')
    return confirmCharge(this.state, { ...this.jobDomain(), epoch: this.ring().epoch }, id, params.challenge as Hex, this.me().signer, { worker: a.worker as Address, open: a.open })
  }

  /**
   * Keeper asked by a releasing keeper's host: judges the release itself (judgeRelease) from its
   * own state and its own host's reads (job view, worker facts, the sealed analysis it fetched),
   * with the worker's quote relayed (it verifies it). Releasable: its charge confirmation (as
   * confirmCharge). A final refusal: its refusal vote for that public failure (refusal-quorum.ts),
   * over the releasing keeper's challenge. Otherwise: why neither.
   */
  async voteOnRelease(params: { challenge: unknown; job: JobView; worker: WorkerOnChain; quote: Hex; sealedAnalysis: Hex }): Promise<({ ok: true } & ChargeConfirmation) | { ok: false; reason: string; vote?: RefusalVote & { failure: string; epoch: string; keepers: NamedKeeper[] } }> {
    // A restored older copy (a deleted dataset still live in it) must not vouch for a charge or a refusal.
    this.freshness().requireFresh('voting on a release')
    const ring = this.ring()
    if (typeof params?.challenge !== 'string' || !/^0x[0-9a-fA-F]{64}$/.test(params.challenge)) throw new W3aError('INVALID_ARGUMENT', 'voteOnRelease: challenge must be bytes32 hex')
    const challenge = params.challenge as Hex
    const job = params.job
    const judged = await judgeRelease({
      state: this.state,
      domain: this.jobDomain(),
      policy: this.policy,
      job,
      worker: params.worker,
      quote: hexToBytes(params.quote),
      sealedAnalysis: hexToBytes(params.sealedAnalysis),
      analysisSeed: (epoch) => this.analysisSeed(epoch),
      releasedTo: this.releases.workersOf(job.id),
    })
    if (judged.release) {
      wipeJudgement(judged)
      return confirmCharge(this.state, { ...this.jobDomain(), epoch: ring.epoch }, job.id, challenge, this.me().signer, { worker: job.worker, open: job.status === 'open' })
    }
    if (!isFailureRefusal(judged)) return { ok: false, reason: judged.reason }
    if (!this.setCoversKnownKeepers()) return { ok: false, reason: 'keeper-set-behind' }
    const failure = failureOf(judged.reason)
    const info = this.attested()
    const vote = await signRefusalVote({ signer: this.me().signer, hpkePublicKey: info.hpkePublicKey, quote: info.quote, domain: this.jobDomain(), state: this.state, epoch: ring.epoch, jobId: job.id, worker: params.worker.address, failure, challenge })
    // With the terms it signed (public), so a releasing keeper's host can see why votes differ.
    const terms = refusalTerms(this.state, ring.epoch)
    return { ok: false, reason: judged.reason, vote: { ...vote, failure, epoch: ring.epoch.toString(), keepers: terms.keepers } }
  }

  /**
   * A keeper set that lacks a keeper whose quote this enclave verified in a hand-over is behind
   * (an admission not applied yet, or withheld by the host): its size would understate the set
   * the worker counts a refusal quorum against, and the releasing keeper counts confirmations
   * against, so this keeper releases nothing and votes for no refusal until it catches up (or the
   * keeper is removed).
   */
  private setCoversKnownKeepers(): boolean {
    return this.freshness()
      .knownKeepers()
      .every((k) => isKeeper(this.state, k))
  }

  /**
   * Keeper: approves ending `keeper`'s membership of the custody keeper set (keeper-removal.ts):
   * its own (a voluntary exit), or one its host reads as no longer an active keeper on chain
   * (`activeOnChain: false`: exited, slashed or not eligible). The host's read is one vote: the
   * removal applies only with a strict majority of the set.
   */
  async approveKeeperRemoval(params: { keeper: unknown; activeOnChain: unknown }): Promise<{ signature: Hex; admittedAt: bigint }> {
    this.freshness().requireFresh('approving a keeper removal')
    const k = params?.keeper
    if (typeof k !== 'string' || !/^0x[0-9a-fA-F]{40}$/.test(k)) throw new W3aError('INVALID_ARGUMENT', 'keeper removal: keeper is not an address')
    if (typeof params.activeOnChain !== 'boolean') throw new W3aError('INVALID_ARGUMENT', 'keeper removal: activeOnChain must be a boolean (the keeper as this host reads the registry)')
    const record = this.state.keepers.get(k.toLowerCase())
    if (!record) throw new W3aError('INVALID_ARGUMENT', `keeper removal: ${k} is not a member of this enclave's keeper set`)
    const self = k.toLowerCase() === this.me().signer.address.toLowerCase()
    if (!self && params.activeOnChain) throw new W3aError('INVALID_ARGUMENT', `keeper removal: ${k} is an active keeper on chain as this host reads it; only it can ask to leave`)
    const digest = keeperRemovalDigest({ chainId: this.config.chainId, registry: this.config.registry, keeper: k as Address, admittedAt: record.admittedAt })
    return { signature: await this.me().signer.signMessage({ message: { raw: digest } }), admittedAt: record.admittedAt }
  }

  /** Keeper about to release: a fresh challenge the other keepers' confirmations must sign; kept for one release of this job. */
  chargeChallenge(params: { jobId: unknown }): Hex {
    const id = uint256(params?.jobId).toString()
    const challenge = newChargeChallenge()
    this.chargeChallenges.delete(id)
    this.chargeChallenges.set(id, challenge)
    // Bounded: a host asking for many is only evicting its own older challenges.
    if (this.chargeChallenges.size > MAX_CHARGE_CHALLENGES) this.chargeChallenges.delete(this.chargeChallenges.keys().next().value!)
    return challenge
  }

  hasClusterSecret(): boolean {
    return this.keyring !== undefined
  }

  async epochPublicKey(): Promise<{ epoch: bigint; publicKey: Hex }> {
    const ring = this.ring()
    return { epoch: ring.epoch, publicKey: bytesToHex((await ring.keyPair()).publicKey) }
  }

  nextIndex(): bigint {
    return this.state.processed
  }

  /**
   * Replays inbox entries in index order. Before each entry the keyring moves to the epoch
   * of the entry's block (so a command sealed to an older epoch is refused, as it must be);
   * after the batch it moves to `headEpoch`, the chain's epoch at the block the host read up to.
   */
  async applyEntries(params: { entries: ChainInboxEntry[]; headEpoch: bigint }): Promise<{ receipts: Record<string, unknown>[]; stateRoot: Hex; processed: bigint; epoch: bigint }> {
    this.freshness().requireFresh('applying inbox entries')
    const ring = this.ring()
    const receipts: Record<string, unknown>[] = []
    const before = ring.epoch
    const membersBefore = [...this.state.keepers.keys()] as Address[]
    const entries: InboxEntry[] = []
    // Already applied ones are skipped (replay after restart); the rest must continue the state (replayInbox checks).
    for (const e of params.entries) if (e.index >= this.state.processed) entries.push({ ...e, ciphertext: hexToBytes(e.ciphertext) })
    // Upcoming entries of the epoch are opened and checked ahead while earlier ones apply (replay.ts); each
    // applied entry lands in this.state at once, so a later entry that throws loses nothing already applied.
    await replayInbox(this.state, entries, {
      keyring: ring,
      chainId: this.config.chainId,
      inbox: this.config.inbox,
      epochLength: this.config.epochLength,
      signer: this.me().signer,
      jobs: this.config.jobs,
      keeperSet: { registry: this.config.registry, policy: this.policy },
      enterEpoch: (epoch) => this.enterEpoch(epoch),
      lateEntriesAtKeyringEpoch: true,
      onApplied: (state, receipt) => {
        this.state = state
        receipts.push(receiptToJson(receipt as SignedCustodyReceipt))
      },
    })
    if (params.headEpoch > ring.epoch) this.enterEpoch(params.headEpoch)
    // A keeper removed from the set stops counting as a witness too.
    let removed = false
    for (const k of membersBefore) if (!isKeeper(this.state, k)) removed = this.freshness().removeKeeper(k) || removed
    if (receipts.length > 0 || ring.epoch !== before) this.persist(removed ? { keepers: this.freshness().export() } : {})
    // A dataset deleted in what was just applied leaves this worker's memory now.
    for (const id of this.jobData.datasets()) if (getDataset(this.state, id as Hex)?.deleted === true) await this.jobData.dropDataset(id)
    return { receipts, stateRoot: stateRoot(this.state), processed: this.state.processed, epoch: ring.epoch }
  }

  private enterEpoch(epoch: bigint): void {
    const ring = this.ring()
    const previous = { epoch: ring.epoch, seed: ring.analysisSeed() }
    ring.advanceTo(epoch)
    // Kept plaintext does not outlive the epoch whose keys released it.
    void this.jobData.clear()
    this.previousAnalysisSeed?.seed.fill(0)
    this.previousAnalysisSeed = epoch === previous.epoch + 1n ? previous : (previous.seed.fill(0), undefined)
    this.markBoundary()
  }

  private analysisSeed(epoch: bigint): Uint8Array | undefined {
    const ring = this.ring()
    if (epoch === ring.epoch) return ring.analysisSeed()
    return this.previousAnalysisSeed?.epoch === epoch ? this.previousAnalysisSeed.seed.slice() : undefined
  }

  /** The current epoch's analysis public key, signed by this keeper (analysisKeyDigest). */
  async analysisKey(): Promise<{ epoch: bigint; publicKey: Hex; keeper: Address; signature: Hex }> {
    const ring = this.ring()
    const epoch = ring.epoch
    const seed = ring.analysisSeed()
    const pair = await analysisKeyPair(seed)
    seed.fill(0)
    pair.privateKey.fill(0)
    const publicKey = bytesToHex(pair.publicKey)
    const signature = await this.me().signer.signMessage({ message: { raw: analysisKeyDigest({ chainId: this.config.chainId, registry: this.config.registry, epoch, publicKey }) } })
    return { epoch, publicKey, keeper: this.me().signer.address, signature }
  }

  /** Keeper: the job's key and analysis, sealed to its attested worker, or why not. */
  async releaseJob(params: { job: JobView; worker: WorkerOnChain; quote: Hex; sealedAnalysis: Hex; confirmations?: unknown; votes?: unknown }): Promise<ReleaseOutcome> {
    // A key leaves only from a state a majority of keepers witnessed: a host cannot release from a copy it will later restore.
    this.freshness().requireCommitted('key release')
    const ring = this.ring()
    this.checkJobFloor(params.job.id)
    // A set that lacks a keeper this enclave verified in a hand-over is behind (an admission not
    // applied yet, or withheld by its host): confirmations counted against it could be a minority.
    if (!this.setCoversKnownKeepers()) return { ok: false, reason: 'keeper-set-behind', retry: true }
    const info = this.attested()
    const out = await releaseJob({
      state: this.state,
      domain: this.jobDomain(),
      policy: this.policy,
      job: params.job,
      worker: params.worker,
      quote: hexToBytes(params.quote),
      sealedAnalysis: hexToBytes(params.sealedAnalysis),
      analysisSeed: (epoch) => this.analysisSeed(epoch),
      releasedTo: this.releases.workersOf(params.job.id),
      self: { signer: this.me().signer, hpkePublicKey: info.hpkePublicKey, quote: info.quote },
      epoch: ring.epoch,
      confirmations: params.confirmations,
      votes: params.votes,
      challenge: this.takeChallenge(params.job.id),
      mayRefuse: this.setCoversKnownKeepers(),
      minKeepers: this.config.minKeepers,
    })
    // Sealed before the release leaves the enclave: a restart cannot forget whom it went to.
    if (out.ok && this.releases.record(params.job.id, params.worker.address)) this.save({ releases: this.releases.export() })
    // A final refusal carries the keepers' refusal quorum, checked vote by vote by the worker's enclave (runJob).
    return out
  }

  private takeChallenge(jobId: bigint): Hex | undefined {
    const key = String(jobId)
    const challenge = this.chargeChallenges.get(key)
    this.chargeChallenges.delete(key)
    return challenge
  }

  /**
   * Worker: runs the job from the keeper's release, or signs a failure on the keepers' refusal quorum
   * (refusal-quorum.ts: every vote's signature and quote verified here), and keeps the transaction to send.
   */
  async runJob(params: { job: JobView; release: { sealed: { enc: Hex; ciphertext: Hex } } | { refused: unknown } }): Promise<Omit<RunJobOutcome, 'tx'>> {
    const me = this.me()
    this.freshness().requireFresh('running a job')
    this.checkJobFloor(params.job.id)
    const previous = this.outcomes.previous(params.job.id)
    if (previous) return { envelope: previous.envelope, stats: { rows: 0, fetchMs: 0, queryMs: 0 } }
    const out = await runJob({
      domain: this.jobDomain(),
      policy: this.policy,
      signer: me.signer,
      hpkePrivateKey: me.hpke.privateKey,
      job: params.job,
      release: params.release,
      minKeepers: this.config.minKeepers,
      gatewayUrl: this.config.gatewayUrl,
      cache: this.jobData,
    })
    // Sealed before the outcome leaves the enclave: a restart cannot forget the run.
    this.outcomes.record(params.job.id, { envelope: out.envelope, tx: out.tx })
    this.persistOutcomes()
    return { envelope: out.envelope, stats: out.stats }
  }

  /**
   * Worker: gives up a job its host cannot take through (no release obtainable, the host failed):
   * a signed `worker-unavailable` failure, which refunds the analyst. It is the host's word, so it
   * is given only for a job this enclave never ran, and recorded first: the job is never run
   * after it. For a job already run it hands back that outcome instead, so giving up cannot
   * turn a delivered result into a refund.
   */
  async abandonJob(params: { job: JobView }): Promise<Omit<RunJobOutcome, 'tx'>> {
    // As for a run: a restored older record could forget a run and give a refund for it.
    this.freshness().requireFresh('giving up a job')
    this.checkJobFloor(params.job.id)
    const previous = this.outcomes.previous(params.job.id)
    if (previous) return { envelope: previous.envelope, stats: { rows: 0, fetchMs: 0, queryMs: 0 } }
    const out = await signedFailure({ domain: this.jobDomain(), signer: this.me().signer, job: params.job, reason: 'worker-unavailable' })
    this.outcomes.record(params.job.id, { envelope: out.envelope, tx: out.tx })
    this.persistOutcomes()
    return { envelope: out.envelope, stats: out.stats }
  }

  private jobDomain(): JobDomain {
    return { chainId: this.config.chainId, jobs: this.config.jobs, registry: this.config.registry }
  }

  private markBoundary(): void {
    this.boundary = { epoch: this.ring().epoch, processed: this.state.processed, stateRoot: stateRoot(this.state) }
  }

  /** The latest epoch boundary (undefined until this keeper has entered an epoch itself). */
  epochBoundary(): EpochBoundary | undefined {
    return this.boundary
  }

  stateRoot(): Hex {
    return stateRoot(this.state)
  }

  /** The root and what it commits to: the datasets and nonces (content) and the replay position. */
  stateRootParts(): StateRootParts {
    return stateRootParts(this.state)
  }

  /** An owner's signed, encrypted query of their confidential state; the answer is encrypted to them. */
  async answerQuery(params: { request: unknown; now: number }): Promise<unknown> {
    // The domain is ours, not the one inside the query: a query signed for another network is refused.
    const domain = { chainId: this.config.chainId, verifyingContract: this.config.inbox }
    this.freshness().requireFresh('answering a custody query')
    return answerCustodyQuery(this.state, params.request, this.me().hpke.privateKey, this.me().signer, params.now, this.usedQueryNonces, domain)
  }

  /**
   * Keeper: approves a registration after checking the quote itself under the network's
   * TCB policy, and that it binds the worker and HPKE key being registered (registration-approval.ts):
   * tdx/sgx registrations on chain, and keeper admissions to the custody keeper set (keeper-set.ts;
   * sim quotes only where the measured policy allows sim). The requester supplies the DCAP
   * collateral (Intel-signed, checked by the verifier) and may name `attestedAt`, the verification
   * time every approver of one admission must sign, within APPROVAL_CLOCK_SKEW of this clock.
   */
  async approveRegistration(params: {
    registration: { worker: Address; teeType: 'sim' | 'tdx' | 'sgx'; measurement: Hex; hpkePublicKey: Hex; roles: number; quote: Hex }
    collateral?: unknown
    attestedAt?: number
  }): Promise<{ signature: Hex; attestationHash: Hex; attestedAt: number; tcbStatus: string }> {
    this.freshness().requireFresh('approving a registration')
    const r = params.registration
    const bad = (what: string) => new W3aError('INVALID_ARGUMENT', `registration to approve: ${what}`)
    if (typeof r?.worker !== 'string' || !/^0x[0-9a-fA-F]{40}$/.test(r.worker)) throw bad('worker is not an address')
    if (r.teeType !== 'sim' && r.teeType !== 'tdx' && r.teeType !== 'sgx') throw bad('teeType must be sim, tdx or sgx')
    for (const [k, v] of [['measurement', r.measurement], ['hpkePublicKey', r.hpkePublicKey]] as const) if (typeof v !== 'string' || !/^0x[0-9a-fA-F]{64}$/.test(v)) throw bad(`${k} is not bytes32 hex`)
    if (!Number.isInteger(r.roles) || r.roles <= 0 || r.roles > 7) throw bad('roles must be a role bitmask (1..7)')
    if (typeof r.quote !== 'string' || !/^0x([0-9a-fA-F]{2})+$/.test(r.quote)) throw bad('quote is not hex')
    const at = params.attestedAt
    if (at !== undefined && (!Number.isSafeInteger(at) || Math.abs(at - Math.floor(Date.now() / 1000)) > APPROVAL_CLOCK_SKEW)) throw bad(`attestedAt must be within ${APPROVAL_CLOCK_SKEW} s of now`)
    const policy: TeePolicy = { ...this.policy, ...(params.collateral === undefined ? {} : { collateral: params.collateral }), ...(at === undefined ? {} : { now: at }) }
    return approveRegistration({ signer: this.me().signer, policy, chainId: this.config.chainId, registry: this.config.registry, registration: { ...r, quote: hexToBytes(r.quote) } })
  }

  /**
   * Current keeper side of hand-over. The enclave itself verifies the newcomer's quote under
   * its measured policy (allowed code with this same network config) and that it binds the
   * keys the request names. `newcomerIsKeeper` and `newcomerRegisteredAt` (for the TCB
   * policy's age limit) are the chain's word relayed by the host: extra gates only.
   */
  async serveHandover(params: { request: unknown; newcomerIsKeeper: boolean; newcomerRegisteredAt?: number }): Promise<unknown> {
    this.freshness().requireFresh('serving a hand-over')
    const ring = this.ring()
    const req = await verifyHandoverRequest(
      params.request,
      async (newcomer) => {
        if (params.newcomerIsKeeper !== true) throw new W3aError('INVALID_ARGUMENT', `${newcomer.worker} is not a registered keeper on chain`)
        await this.verifyPeer(newcomer, params.newcomerRegisteredAt)
      },
      { chainId: this.config.chainId, inbox: this.config.inbox },
    )
    const me = this.me()
    const response = await createHandoverResponse({ keyring: ring, state: this.state, nextIndex: this.state.processed, request: req, signer: me.signer, quote: hexToBytes(this.attested().quote), hpkePublicKey: me.hpke.publicKey })
    // The newcomer's quote was verified here: it is a keeper this enclave counts as a witness from now on.
    if (this.freshness().addKeeper(req.worker)) this.save({ keepers: this.freshness().export() })
    return handoverToJson(response)
  }

  /** A peer enclave's quote, checked under this enclave's own measured policy, binding the peer's keys on this network. */
  private async verifyPeer(peer: HandoverPeer, registeredAt?: number): Promise<void> {
    await verifyWorkerQuote(peer.quote, this.policy, {
      worker: peer.worker,
      hpkePublicKey: peer.hpkePublicKey,
      chainId: this.config.chainId,
      registry: this.config.registry,
      ...(registeredAt === undefined ? {} : { registeredAt }),
    })
  }

  private attested(): EnclaveInfo {
    if (!this.info) throw new W3aError('INTERNAL', 'enclave not initialised')
    return this.info
  }

  /** Newcomer side: makes the request (ephemeral key kept only in memory until the answer). */
  private pendingHandover: { key: HpkeKeyPair; request: HandoverRequest } | undefined
  async requestHandover(): Promise<unknown> {
    if (this.keyring) throw new W3aError('INVALID_ARGUMENT', 'this keeper already holds the cluster secret')
    const key = await generateHpkeKeyPair()
    const me = this.me()
    const request = await createHandoverRequest({
      identity: me.signer,
      hpkePublicKey: me.hpke.publicKey,
      ephemeral: key,
      quote: hexToBytes(this.attested().quote),
      chainId: this.config.chainId,
      inbox: this.config.inbox,
    })
    this.pendingHandover?.key.privateKey.fill(0)
    this.pendingHandover = { key, request }
    return handoverToJson(request)
  }

  /**
   * Newcomer side: adopts a cluster secret only from a keeper whose quote this enclave verified
   * itself, answering its own pending request. The sender is whoever that quote binds, never
   * a name from the host.
   */
  async receiveHandover(params: { response: unknown }): Promise<{ from: Address; epoch: bigint; processed: bigint; stateRoot: Hex }> {
    const pending = this.pendingHandover
    if (!pending) throw new W3aError('INVALID_ARGUMENT', 'no hand-over was requested')
    const fresh = this.freshness()
    // Unverified: the peers' record of this keeper is unknown, so a new version might not rise above it. Resume first.
    if (fresh.status === 'unverified') fresh.requireFresh('adopting a hand-over')
    this.pendingHandover = undefined // one use only (openHandoverResponse zeroes the private key)
    const opened = await openHandoverResponse({
      response: params.response,
      ephemeralPrivateKey: pending.key.privateKey,
      request: pending.request,
      checkKeeper: (keeper) => this.verifyPeer(keeper),
    })
    this.keyring = opened.keyring
    this.state = opened.state
    fresh.addKeeper(opened.from)
    const recovering = fresh.status === 'rolled-back'
    if (recovering) {
      // Recovery: jobs this state charged may have been run or released in the history the host erased.
      fresh.jobFloor = lastChargedJob(this.state)
      fresh.status = 'fresh'
    }
    // Above every seq a peer reported, so the peers witness the recovered state as new. A hand-over
    // carries no ingest state: the rolled-back site book and log are dropped, never resumed.
    this.persist({ keepers: fresh.export() }, fresh.highestSeq, recovering ? INGEST_FILES : undefined)
    return { from: opened.from, epoch: this.keyring.epoch, processed: this.state.processed, stateRoot: stateRoot(this.state) }
  }

  /**
   * Signs a transaction whose call the enclave builds itself from its own state: the host
   * picks gas and nonce, never the call, so it cannot make the worker key sign anything else.
   */
  async signOwnTx(params: { kind: OwnTxKind; jobId?: bigint; site?: Hex; nonce: number; gas: bigint; maxFeePerGas: bigint; maxPriorityFeePerGas: bigint }): Promise<Hex> {
    const { kind, jobId, site, ...fees } = params
    const { to, data } = kind === 'siteManifest' || kind === 'siteCommand' ? this.siteCall(kind, site) : await this.ownCall(kind, jobId)
    return this.me().signer.signTransaction({ type: 'eip1559', chainId: this.config.chainId, to, data, value: 0n, ...fees })
  }

  /** A site's prepared manifest update: DatasetRegistry.updateManifest as its writer, or the custody UpdateManifest command posted to the inbox. */
  private siteCall(kind: 'siteManifest' | 'siteCommand', site: Hex | undefined): { to: Address; data: Hex } {
    const u = site === undefined ? undefined : this.siteUpdates.get(site.toLowerCase())
    if (!u) throw new W3aError('INVALID_ARGUMENT', `no manifest update prepared for site ${String(site)}`)
    if (kind === 'siteManifest') return { to: u.registry, data: encodeFunctionData({ abi: datasetRegistryAbi, functionName: 'updateManifest', args: [u.site, u.manifestCid, schemaHash(u.manifest.schema)] }) }
    return { to: this.config.inbox, data: encodeFunctionData({ abi: custodyInboxAbi, functionName: 'post', args: [u.epoch, u.command] }) }
  }

  private async ownCall(kind: Exclude<OwnTxKind, 'siteManifest' | 'siteCommand'>, jobId: bigint | undefined): Promise<{ to: Address; data: Hex }> {
    if (kind === 'submitResult' || kind === 'submitFailure') {
      const tx = jobId === undefined ? undefined : this.outcomes.pendingTx(jobId)
      if (!tx || tx.kind !== kind) throw new W3aError('INVALID_ARGUMENT', `no ${kind} prepared for job ${String(jobId)}`)
      const data =
        tx.kind === 'submitResult'
          ? tx.royalty
            ? encodeFunctionData({ abi: jobsAbi, functionName: 'submitPoolResult', args: [tx.jobId, tx.outputHash, tx.royalty.weightsRoot, BigInt(tx.royalty.totalWeight), tx.signature] })
            : encodeFunctionData({ abi: jobsAbi, functionName: 'submitResult', args: [tx.jobId, tx.outputHash, tx.signature] })
          : encodeFunctionData({ abi: jobsAbi, functionName: 'submitFailure', args: [tx.jobId, tx.reasonCode, tx.reasonHash, tx.signature] })
      return { to: this.config.jobs, data }
    }
    return { to: this.config.registry, data: await this.registryCall(kind) }
  }

  /** A job's transaction was mined: forget it. */
  jobDone(params: { jobId: bigint }): void {
    if (this.outcomes.finish(params.jobId)) this.persistOutcomes()
  }

  private async registryCall(kind: 'heartbeat' | 'publishEpochKey' | 'publishStateRoot'): Promise<Hex> {
    switch (kind) {
      case 'heartbeat':
        return encodeFunctionData({ abi: workerRegistryAbi, functionName: 'heartbeat' })
      case 'publishEpochKey': {
        const { epoch, publicKey } = await this.epochPublicKey()
        return encodeFunctionData({ abi: workerRegistryAbi, functionName: 'publishEpochKey', args: [epoch, publicKey] })
      }
      case 'publishStateRoot': {
        const b = this.boundary
        if (!b) throw new W3aError('INVALID_ARGUMENT', 'no epoch boundary reached yet')
        return encodeFunctionData({ abi: workerRegistryAbi, functionName: 'publishStateRoot', args: [b.epoch, b.processed, b.stateRoot] })
      }
    }
  }

  /** Proof that this worker key agrees to be registered by `operator` (checked by the registry). */
  async signPossession(params: { operator: Address }): Promise<Hex> {
    const signer = this.me().signer
    if (!signer.sign) throw new W3aError('INTERNAL', 'worker key cannot sign digests')
    return signer.sign({ hash: workerPossessionDigest({ chainId: this.config.chainId, registry: this.config.registry, operator: params.operator }) })
  }

  address(): Address {
    return this.me().signer.address
  }

  // ---- web-analytics ingest (ingest.ts; docs/site-owner.md) ----

  /** The ingest role, opened on first use once the sealed state is verified fresh: its files are in the head (ingest-state.ts). */
  private ingest(): Ingest {
    this.freshness().requireFresh('the ingest role')
    this.ingestRole ??= new Ingest({
      dir: join(this.dir, 'ingest'),
      sealingKey: this.key(),
      hpkePrivateKey: this.me().hpke.privateKey,
      head: { read: (name) => this.head!.read(name), save: (contents) => this.save(contents) },
    })
    return this.ingestRole
  }

  /** A sealed event relayed by the host; resolves once it is durable. The clock is this enclave's. */
  ingestEvent(params: { envelope: unknown; ip: unknown; userAgent: unknown }): Promise<IngestOutcome> {
    return this.ingest().accept({ envelope: params?.envelope, ip: params?.ip, userAgent: params?.userAgent, now: Date.now() })
  }

  /**
   * The gateway's event stream (ingest-stream.ts), its connection handed over by the host: the
   * events come in and their answers go out here, with no host in between. Refused (and the
   * connection closed) while this enclave may not take the ingest role.
   */
  async ingestStream(_params: unknown, connection: unknown): Promise<void> {
    if (!(connection instanceof Socket)) throw new W3aError('INVALID_ARGUMENT', 'ingest stream: the host handed over no connection')
    try {
      this.ingest()
    } catch (e) {
      connection.destroy()
      throw e
    }
    serveIngestStream(connection, (e) => this.ingestEvent(e))
  }

  /** An owner's signed site registration (ingest-sites.ts): the site's events are accepted from now on. */
  async ingestRegisterSite(params: { request: unknown }): Promise<{ site: Hex; manifestCid: string; writer: Address }> {
    const gateway = this.config.gatewayUrl.replace(/\/+$/, '')
    const r = await this.ingest().registerSite(params?.request, {
      chainId: this.config.chainId,
      self: this.me().signer.address,
      hpkePrivateKey: this.me().hpke.privateKey,
      nowS: Math.floor(Date.now() / 1000),
      manifestOf: async (cid) => {
        const parsed = CID.parse(cid)
        const bytes = await fetchBytes(`${gateway}/ipfs/${parsed}?format=raw`)
        await verifyBlock(parsed, bytes)
        return decodeManifest(bytes)
      },
    })
    return { site: r.site, manifestCid: r.manifestCid, writer: this.me().signer.address }
  }

  /**
   * Makes the next segment of every site with waiting rows (ingest.ts prepareFlush) and signs its
   * manifest update: the custody UpdateManifest command as the site's writer, sealed to the epoch
   * key (this keeper's own, else the agreed key the host read from the chain: a wrong one only
   * makes the command unreadable, it carries nothing secret). The host then sends the
   * 'siteManifest' and 'siteCommand' transactions and reports them mined (ingestConfirm).
   */
  async ingestFlush(params: { epochKey?: { epoch: bigint; publicKey: Hex } }): Promise<IngestFlushItem[]> {
    const ingest = this.ingest()
    const postCar = this.postCar()
    await this.unpinOld()
    const rewrites = ingest.rewriteSites()
    const pending = ingest.pendingSites()
    if (pending.length === 0 && rewrites.length === 0) return []
    const key = this.keyring ? await this.epochPublicKey() : params?.epochKey
    if (!key || typeof key.epoch !== 'bigint' || typeof key.publicKey !== 'string') throw new W3aError('INVALID_ARGUMENT', 'ingestFlush needs the epoch key ({ epoch, publicKey }) on a worker that is not a keeper')
    const out: IngestFlushItem[] = []
    // A site's deletions first: while one is out, its appends wait (ingest.ts prepareFlush).
    const fetchCar = carFetcher(this.config.gatewayUrl.replace(/\/+$/, ''))
    for (const site of rewrites) {
      // One site's rewrite failing (storage unreachable, a block missing) leaves the others' flushes going; the host logs it.
      const rewrite = await ingest.prepareRewrite(site, { fetchCar, postCar }, Date.now()).catch((e: unknown) => {
        out.push({ site, manifestCid: '', rows: 0, kind: 'rewrite', error: e instanceof W3aError ? `${e.code}: ${e.shortMessage}` : String(e) })
        return undefined
      })
      if (!rewrite) continue
      const keyHash = dekHash(rewrite.dek)
      const command = { type: 'RotateKey' as const, message: { datasetId: site, manifestCid: rewrite.manifestCid, keyHash, nonce: 0n, expiry: 0n } }
      await this.signSiteUpdate('rewrite', { site, manifestCid: rewrite.manifestCid, manifest: rewrite.manifest, command, dek: rewrite.dek }, key)
      const rows = Object.values(rewrite.removed).reduce((a, b) => a + b, 0)
      out.push({ site, manifestCid: rewrite.manifestCid, rows, kind: 'rewrite' })
    }
    for (const { site } of pending) {
      // One site's segment failing (storage unreachable, a segment that cannot be written) leaves the other sites' flushes going.
      const flush = await ingest.prepareFlush(site, postCar).catch((e: unknown) => {
        // The host logs it: an engine's own message (DuckDB quoting a row's value) never leaves, only our coded ones.
        out.push({ site, manifestCid: '', rows: 0, kind: 'append', error: e instanceof W3aError ? `${e.code}: ${e.shortMessage}` : 'INTERNAL: the segment could not be made' })
        return undefined
      })
      if (!flush) continue
      const command = { type: 'UpdateManifest' as const, message: { datasetId: site, manifestCid: flush.manifestCid, nonce: 0n, expiry: 0n } }
      await this.signSiteUpdate('append', { site, manifestCid: flush.manifestCid, manifest: flush.manifest, command }, key)
      out.push({ site, manifestCid: flush.manifestCid, rows: flush.rows, kind: 'append' })
    }
    return out
  }

  /** Signs (as the site's writer) and seals a site's custody command, unless the same one is already signed for this epoch. */
  private async signSiteUpdate(
    kind: SiteUpdateKind,
    u: { site: Hex; manifestCid: string; manifest: DatasetManifest; command: Extract<OwnerCommand, { type: 'UpdateManifest' | 'RotateKey' }>; dek?: Uint8Array },
    key: { epoch: bigint; publicKey: Hex },
  ): Promise<void> {
    const known = this.siteUpdates.get(u.site)
    if (known?.manifestCid === u.manifestCid && known.epoch === key.epoch && known.kind === kind) return
    const record = this.ingest().sites.get(u.site)!
    const message = { ...u.command.message, nonce: BigInt(bytesToHex(randomBytes(16))), expiry: BigInt(Math.floor(Date.now() / 1000) + 600) }
    const signed = await signOwnerCommand({ account: this.me().signer, domain: { chainId: this.config.chainId, verifyingContract: this.config.inbox }, command: { ...u.command, message } as OwnerCommand })
    const sealed = await sealCommand({ epochPublicKey: hexToBytes(key.publicKey), epoch: key.epoch, chainId: this.config.chainId, inbox: this.config.inbox, signed, ...(u.dek ? { dek: u.dek } : {}) })
    this.siteUpdates.set(u.site, { kind, site: u.site, manifestCid: u.manifestCid, manifest: u.manifest, registry: record.registry, epoch: key.epoch, command: bytesToHex(sealed) })
  }

  /** Stores a CAR signed by this enclave's own key, as any upload (storage/upload-authorization.ts): the storage node charges its quota. */
  private postCar(): (car: Uint8Array, root: string) => Promise<void> {
    const gateway = this.config.gatewayUrl.replace(/\/+$/, '')
    return async (car, root) => {
      const auth = await signUpload({ account: this.me().signer, root, bytes: car.byteLength, chainId: this.config.chainId })
      const res = await fetch(`${gateway}/api/v1/blocks`, { method: 'POST', headers: { 'content-type': 'application/vnd.ipld.car', ...auth }, body: car as BodyInit }).catch((cause) => {
        throw new W3aError('GATEWAY_UNREACHABLE', `cannot reach storage at ${gateway}`, { cause })
      })
      if (!res.ok) throw new W3aError('GATEWAY_ERROR', `storage refused a site segment (${res.status}: ${(await res.text().catch(() => '')).slice(0, 200)})`)
    }
  }

  /**
   * Asks storage to unpin the replaced manifests of sites and the old segments of rewritten ones, signed as the
   * site's writer (the storage node checks that on chain and keeps whatever a current manifest
   * links). Retried at every flush until storage says done; a failure only delays it.
   */
  private async unpinOld(): Promise<void> {
    const gateway = this.config.gatewayUrl.replace(/\/+$/, '')
    const ingest = this.ingest()
    for (const s of ingest.sites.all().filter((x) => x.unpin.length > 0)) {
      const roots = [...s.unpin]
      const auth = await signUnpin({ account: this.me().signer, datasetId: s.site, roots, chainId: this.config.chainId })
      const res = await fetch(`${gateway}/api/v1/datasets/${s.site}/unpin`, { method: 'POST', headers: { 'content-type': 'application/json', ...auth }, body: JSON.stringify({ roots }) }).catch(() => undefined)
      if (res?.ok) ingest.sites.unpinned(s.site, roots)
    }
  }

  /** The host reports a site's 'siteManifest' and 'siteCommand' transactions mined: its rows leave the log. */
  async ingestConfirm(params: { site: unknown; manifestCid: unknown }): Promise<{ through: number }> {
    if (typeof params?.site !== 'string' || typeof params.manifestCid !== 'string') throw new W3aError('INVALID_ARGUMENT', 'ingestConfirm: { site, manifestCid }')
    const site = params.site.toLowerCase() as Hex
    const ingest = this.ingest()
    if (ingest.sites.get(site)?.rewrite?.manifestCid === params.manifestCid) {
      ingest.confirmRewrite(site, params.manifestCid, Date.now())
      this.siteUpdates.delete(site)
      await this.unpinOld()
      return { through: ingest.sites.get(site)!.flushedThrough }
    }
    const out = await ingest.confirmFlush(site, params.manifestCid, Date.now())
    this.siteUpdates.delete(site)
    return out
  }

  /** The prepared manifest update of a site was refused (e.g. the owner has not named this writer): make the segment again later. */
  ingestAbandon(params: { site: unknown }): void {
    if (typeof params?.site !== 'string') throw new W3aError('INVALID_ARGUMENT', 'ingestAbandon: { site }')
    this.ingest().dropPrepared(params.site.toLowerCase() as Hex)
    this.siteUpdates.delete(params.site.toLowerCase())
  }

  /** Public figures of the ingest role: registered sites, their manifest and waiting rows, refused events. */
  ingestStatus(): { address: Address; sites: { site: Hex; domain: string; manifestCid: string; segments: number; pending: number }[]; unknownSiteRefusals: number } {
    const ingest = this.ingest()
    const pending = new Map(ingest.pendingSites().map((p) => [p.site, p.rows]))
    return {
      address: this.me().signer.address,
      // The domain its owner registered (public: the site's pages carry its tag); the "my data" page sends visitors back only there.
      sites: ingest.sites.all().map((s) => ({ site: s.site, domain: s.domain, manifestCid: s.manifestCid, segments: s.manifest.segments.length, pending: pending.get(s.site) ?? 0 })),
      unknownSiteRefusals: ingest.unknownSiteRefusals,
    }
  }

  /** An owner-signed stats request (ingest-stats.ts), answered under the default policy's k, sealed to the request's box key and signed by this worker. */
  async ingestStats(params: { request: unknown }): Promise<SealedStatsAnswer> {
    const now = Date.now()
    const request = await checkStatsRequest(params?.request, { chainId: this.config.chainId, nowS: Math.floor(now / 1000) })
    const since = now - PERIODS[request.period] * 1000
    const answer = answerStats(request, this.ingest().rowsOf(request.site, since), DEFAULT_POLICY.k)
    const from = this.ingest().coveredFrom(since)
    return sealStatsAnswer(from > since ? { ...answer, meta: { ...answer.meta, from } } : answer, request, { chainId: this.config.chainId, signer: this.me().signer })
  }

  /** The site owner's signed read of its goals and funnels (ingest-site-settings.ts), answered sealed to the request's box key and signed by this worker. */
  async ingestSiteSettings(params: { request: unknown }): Promise<SiteSettingsAnswer> {
    const r = await checkSettingsRead(params?.request, this.settingsContext())
    return signSettingsAnswer(r.record, r.request, { chainId: this.config.chainId, signer: this.me().signer })
  }

  /** The site owner's signed write of its whole goals and funnels (sealed to this enclave), the next version only; kept (durable) before the signed answer leaves. */
  async ingestSetSiteSettings(params: { request: unknown }): Promise<SiteSettingsAnswer> {
    const w = await applySettingsWrite(params?.request, { ...this.settingsContext(), hpkePrivateKey: this.me().hpke.privateKey })
    return signSettingsAnswer(w.record, w.request, { chainId: this.config.chainId, signer: this.me().signer })
  }

  private settingsContext() {
    return { chainId: this.config.chainId, self: this.me().signer.address, nowS: Math.floor(Date.now() / 1000), book: this.ingest().sites }
  }

  /** A visitor's signed request to see or delete their rows (ingest-visitor-rights.ts); the receipt is signed with this worker's key. */
  ingestVisitor(params: { request: unknown }): Promise<VisitorAnswer> {
    return answerVisitorRequest({ raw: params?.request, ingest: this.ingest(), signer: this.me().signer, nowS: Math.floor(Date.now() / 1000) })
  }

  // ---- federated campaigns (campaign-aggregator.ts; docs/campaigns.md) ----

  private campaigns(): CampaignAggregator {
    this.campaignRole ??= new CampaignAggregator({ dir: join(this.dir, 'campaigns'), sealingKey: this.key(), hpkePrivateKey: this.me().hpke.privateKey, signer: this.me().signer, chainId: this.config.chainId })
    return this.campaignRole
  }

  /** The host's read of a campaign assigned to this worker; its terms are checked by every answer and by the contract (paramsHash). */
  campaignOpen(params: { campaigns: Address; campaignId: bigint; terms: CampaignTerms }): Promise<{ campaignId: string; paramsHash: Hex }> {
    return this.campaigns().openCampaign(params)
  }

  /** A sealed answer relayed by the host; resolves once durable. The clock is this enclave's. */
  campaignAnswer(params: { campaigns: Address; envelope: unknown }): Promise<CampaignAcceptance> {
    return this.campaigns().accept(params?.campaigns, params?.envelope, Date.now())
  }

  /** After the deadline (this enclave's clock): the campaign's one signed result. */
  campaignRelease(params: { campaigns: Address; campaignId: bigint }): Promise<CampaignResult> {
    return this.campaigns().release(params?.campaigns, params?.campaignId, Date.now())
  }

  // ---- storage mining (storage-audit.ts): work reports and challenges ----

  private storageAuditRole: StorageAudit | undefined

  private storageAudit(): StorageAudit {
    const storageMarket = this.config.storageMarket
    if (!storageMarket) throw new W3aError('INVALID_ARGUMENT', 'this enclave was booted without a storage market', { details: ['Start it as a storage node (w3a storage) on a network with a StorageMarket.'] })
    this.storageAuditRole ??= new StorageAudit(this.me().signer, { chainId: this.config.chainId, storageMarket }, this.auditLedgerStore())
    return this.storageAuditRole
  }

  /** The audit's sealed ledger (storage-audit-ledger.ts), on its own like the witness book: storage nodes are not witnessed keepers. */
  private auditLedgerStore(): LedgerStore {
    const file = this.file('audit')
    return {
      read: () => {
        // Written when the identity was made: gone means removed, and an empty ledger would let the host begin its eras again.
        if (!existsSync(file)) throw new W3aError('STATE_ROLLED_BACK', 'the sealed storage audit ledger is missing', { details: ['Its host removed it; this enclave audits no more. Start the storage node with a new data dir (a new worker key).'] })
        return readSealedFile(file, this.key(), LABEL.audit)
      },
      write: (bytes) => writeSealedFile(file, this.key(), LABEL.audit, bytes),
    }
  }

  async storageAuditBegin(params: AuditBegin): Promise<AuditSample> {
    return this.storageAudit().begin(params)
  }

  async storageAuditNext(params: AuditBlocks): Promise<{ need: string[] }> {
    return this.storageAudit().next(params)
  }

  async storageAuditFinish(params: { era: bigint; blocks?: AuditBlocks['blocks'] }): Promise<SignedWorkReport> {
    return this.storageAudit().finish(params)
  }

  async storageChallenge(params: ChallengeRequest): Promise<ChallengeOutcome> {
    return this.storageAudit().challenge(params)
  }

  // ---- rollback protection (freshness.ts; custody-protocol.md, "Rollback protection") ----

  private version(): StateVersion {
    if (!this.head) throw new W3aError('INTERNAL', 'enclave not initialised')
    return this.head.version()
  }

  freshnessInfo(): FreshnessInfo {
    const f = this.freshness()
    return { ...this.version(), status: f.status, committed: f.status === 'fresh' && f.committed(), keepers: f.knownKeepers() }
  }

  /** This keeper's signed (seq, root), for its host to relay to the peer keepers. */
  async witnessStatement(): Promise<WitnessStatement> {
    this.freshness().requireFresh('stating its state')
    return signStatement(this.me().signer, this.freshnessDomain(), this.version())
  }

  /** The peers' acknowledgements of the current state, relayed by the host. */
  acceptAcks(params: { reports: unknown }): Promise<{ committed: boolean; acks: number; needed: number; skipped: string[] }> {
    this.freshness().requireFresh('counting acknowledgements')
    return this.freshness().acknowledge(params?.reports, this.version())
  }

  /**
   * Witness side: records a peer keeper's signed state (it must be a keeper this enclave verified
   * itself, and newer than what it saw) and acknowledges it. Served whatever this enclave's own
   * status: peers restarted together must be able to vouch for each other.
   */
  async witness(params: { statement: unknown }): Promise<WitnessReport> {
    const s = await verifyStatement(this.freshnessDomain(), params?.statement)
    const me = this.me().signer
    if (s.keeper === me.address.toLowerCase() || !this.freshness().knownKeepers().includes(s.keeper)) {
      throw new W3aError('INVALID_ARGUMENT', `keeper ${s.keeper} is not a peer keeper this enclave has verified`)
    }
    if (this.book.record(s.keeper, s.seq, s.root)) writeSealedFile(this.file('witnessed'), this.key(), LABEL.witnessed, this.book.export())
    return signReport(me, this.freshnessDomain(), { keeper: s.keeper, seq: s.seq, root: s.root, nonce: ZERO_NONCE })
  }

  /** A fresh challenge for the peers' freshness reports (resume). */
  async freshnessChallenge(): Promise<Hex> {
    return this.freshness().newChallenge()
  }

  /** Witness side: the highest state of `keeper` this enclave witnessed, signed under the keeper's challenge. */
  async attestFreshness(params: { keeper: unknown; nonce: unknown }): Promise<WitnessReport> {
    const keeper = params?.keeper
    if (typeof keeper !== 'string' || !/^0x[0-9a-fA-F]{40}$/.test(keeper)) throw new W3aError('INVALID_ARGUMENT', 'freshness request names no keeper address')
    const seen = this.book.highest(keeper as Address)
    return signReport(this.me().signer, this.freshnessDomain(), { keeper: keeper.toLowerCase() as Address, ...seen, nonce: parseNonce(params.nonce) })
  }

  /**
   * Judges the peers' reports (answers to this enclave's challenge). Rolled back: what was loaded
   * is erased at once (keyring, dataset keys), and only a hand-over brings a state back.
   */
  async resume(params: { reports: unknown }): Promise<ResumeOutcome> {
    try {
      return await this.freshness().resume(params?.reports, this.version())
    } catch (e) {
      if (this.freshness().status === 'rolled-back') this.eraseLoaded()
      throw e
    }
  }

  private eraseLoaded(): void {
    this.keyring?.destroy()
    this.keyring = undefined
    for (const [, d] of this.state.datasets.entries()) d.dek?.fill(0)
    this.state = createEmptyState()
    this.previousAnalysisSeed?.seed.fill(0)
    this.previousAnalysisSeed = undefined
    this.boundary = undefined
    for (const s of this.ingestRole?.sites.all() ?? []) s.dek.fill(0)
    this.ingestRole?.close()
    this.ingestRole = undefined
  }

  private checkJobFloor(jobId: bigint): void {
    const floor = this.freshness().jobFloor
    if (floor !== undefined && jobId <= floor) {
      throw new W3aError('STATE_ROLLED_BACK', `job ${jobId} was charged before this keeper recovered from a rolled-back state: it is not run or released here`, {
        details: ['The erased history may have run or released it already; another keeper or worker serves it.'],
      })
    }
  }
}

/** The highest job id a custody state has a charge for (keys sort in job order), if any. */
function lastChargedJob(state: CustodyState): bigint | undefined {
  let last: string | undefined
  for (const key of state.jobCharges.keys()) last = key
  return last === undefined ? undefined : BigInt(last)
}
