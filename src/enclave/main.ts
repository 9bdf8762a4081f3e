/**
 * Entry point of the enclave process of a `sim` worker: the simulated TEE keeps its keys in
 * a process of its own, so the host process never has them in its memory. Config comes in
 * the W3A_ENCLAVE_CONFIG environment variable (public values only, boot.ts); the enclave's
 * measurement covers its code and that config.
 */
import { EnclaveService } from './service.js'
import { serveEnclaveRpc } from './rpc.js'
import { measureEnclaveBundle } from './bundle.js'
import { parseEnclaveBoot, simEnclaveFor } from './boot.js'

const codeMeasurement = await measureEnclaveBundle()
const config = parseEnclaveBoot(JSON.parse(process.env['W3A_ENCLAVE_CONFIG'] ?? '{}'), codeMeasurement)
const { backend } = simEnclaveFor({ config, codeMeasurement })
const enclave = new EnclaveService(backend, config)

serveEnclaveRpc({
  init: () => enclave.init(),
  bootstrapCluster: (p) => enclave.bootstrapCluster(p),
  hasClusterSecret: async () => enclave.hasClusterSecret(),
  epochPublicKey: () => enclave.epochPublicKey(),
  nextIndex: async () => enclave.nextIndex(),
  applyEntries: (p) => enclave.applyEntries(p),
  stateRoot: async () => enclave.stateRoot(),
  stateRootParts: async () => enclave.stateRootParts(),
  epochBoundary: async () => enclave.epochBoundary(),
  answerQuery: (p) => enclave.answerQuery(p),
  serveHandover: (p) => enclave.serveHandover(p),
  approveRegistration: (p) => enclave.approveRegistration(p),
  requestHandover: () => enclave.requestHandover(),
  receiveHandover: (p) => enclave.receiveHandover(p),
  signOwnTx: (p) => enclave.signOwnTx(p),
  signPossession: (p) => enclave.signPossession(p),
  analysisKey: () => enclave.analysisKey(),
  releaseJob: (p) => enclave.releaseJob(p),
  confirmCharge: (p) => enclave.confirmCharge(p),
  voteOnRelease: (p) => enclave.voteOnRelease(p),
  approveKeeperRemoval: (p) => enclave.approveKeeperRemoval(p),
  chargeChallenge: async (p) => enclave.chargeChallenge(p),
  keeperSet: async () => enclave.keeperSet(),
  runJob: (p) => enclave.runJob(p),
  abandonJob: (p) => enclave.abandonJob(p),
  jobDone: async (p) => enclave.jobDone(p),
  freshness: async () => enclave.freshnessInfo(),
  witnessStatement: () => enclave.witnessStatement(),
  acceptAcks: (p) => enclave.acceptAcks(p),
  witness: (p) => enclave.witness(p),
  freshnessChallenge: () => enclave.freshnessChallenge(),
  attestFreshness: (p) => enclave.attestFreshness(p),
  resume: (p) => enclave.resume(p),
  ingestEvent: (p) => enclave.ingestEvent(p),
  ingestStream: (p, connection) => enclave.ingestStream(p, connection),
  ingestStats: (p) => enclave.ingestStats(p),
  ingestVisitor: (p) => enclave.ingestVisitor(p),
  ingestSiteSettings: (p) => enclave.ingestSiteSettings(p),
  ingestSetSiteSettings: (p) => enclave.ingestSetSiteSettings(p),
  ingestRegisterSite: (p) => enclave.ingestRegisterSite(p),
  ingestFlush: (p) => enclave.ingestFlush(p),
  ingestConfirm: async (p) => enclave.ingestConfirm(p),
  ingestAbandon: async (p) => enclave.ingestAbandon(p),
  ingestStatus: async () => enclave.ingestStatus(),
  campaignOpen: (p) => enclave.campaignOpen(p),
  campaignAnswer: (p) => enclave.campaignAnswer(p),
  campaignRelease: (p) => enclave.campaignRelease(p),
  storageAuditBegin: (p) => enclave.storageAuditBegin(p),
  storageAuditNext: (p) => enclave.storageAuditNext(p),
  storageAuditFinish: (p) => enclave.storageAuditFinish(p),
  storageChallenge: (p) => enclave.storageChallenge(p),
})
// An enclave without its host has nobody to answer: a host killed with -9 takes it along.
process.once('disconnect', () => process.exit(0))
process.send?.({ id: 0, result: 'ready' })
