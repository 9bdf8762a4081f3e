/**
 * The confidential custody contract, as a pure, deterministic library: keepers replay the
 * inbox with it; the keeper process (src/node) wires it to the chain, the TEE and HTTP.
 * Protocol: docs/design/custody-protocol.md.
 */
export { applyInboxEntry, applyPreparedEntry, prepareInboxEntry, type ApplyContext, type PreparedEntry } from './apply.js'
export { EpochKeyring, analysisKeyPair, createInitialSecret, epochKeyPair, nextEpochSecret } from './epoch-keys.js'
export {
  HANDOVER_MAX_AGE_SECONDS,
  createHandoverRequest,
  createHandoverResponse,
  handoverRequestHash,
  handoverToJson,
  openHandoverResponse,
  parseHandoverRequest,
  parseHandoverResponse,
  verifyHandoverRequest,
  type HandoverRequest,
  type HandoverResponse,
  type HandoverPeer,
} from './handover.js'
export { commandHash, nextInboxHead, type InboxEntry } from './inbox-head.js'
export {
  MAX_QUERY_TTL_SECONDS,
  answerCustodyQuery,
  createCustodyQuery,
  openAnalystAnswer,
  openCustodyAnswer,
  queryRequestHash,
  type CustodyAnswer,
  type CustodyQueryRequest,
  type CustodyQueryScope,
  type CustodyView,
  type QueryRefusal,
} from './owner-query.js'
export { analystView, type AnalystView } from './analyst-view.js'
export { PersistentMap } from './persistent-map.js'
export { ANALYSIS_KINDS, DEFAULT_POLICY, analysisDenial, canonicalPolicyJson, checkPolicyColumns, CustodyPolicySchema, parsePolicy, policyHash, type AnalysisIdentity, type AnalysisKind, type CustodyPolicy, type CustodyPolicyInput } from './policy.js'
export { REFUSAL_REASONS, RECEIPT_TYPES, type ReceiptType, receiptDigest, receiptFromJson, receiptToJson, signReceipt, verifyReceipt, type CustodyReceipt, type Receipt, type RefusalReason, type SignedCustodyReceipt } from './receipt.js'
export { JOB_CHARGE_TAG, decodeJobCharge, encodeJobCharge, epsilonOfMicros, jobChargeKey, type DeclaredAnalysis, type JobCharge, type JobChargeRecord } from './job-charge.js'
export { ANY_PURPOSE, MAX_PURPOSE_LENGTH, consentsTo, liveInputs, normalizePurpose, normalizePurposes, poolInputs, type ContributionKey } from './pool.js'
export { checkJobRelease, openJobRelease, sealJobRelease, type JobRelease, type JobReleaseAad, type JobReleaseDecision, type JobReleaseRefusal } from './job-release.js'
export { jobNoiseSeed } from './job-noise.js'
export { chargeConfirmationDigest, chargeDigestOf, poolKeysHash, newChargeChallenge, chargeQuorum, confirmCharge, type ChargeConfirmation, type ChargeDomain, type ConfirmRefusal, type JobAssignment } from './charge-confirmation.js'
export {
  ADMISSION_MAX_AGE_SECONDS,
  KEEPER_ADMISSION_TAG,
  decodeKeeperAdmission,
  encodeKeeperAdmission,
  isKeeper,
  keeperList,
  keeperQuorum,
  keeperSetHash,
  quorumOf,
  countMembers,
  withGenesisKeeper,
  type KeeperAdmission,
  type KeeperRecord,
} from './keeper-set.js'
export { KEEPER_REMOVAL_TAG, applyKeeperRemoval, decodeKeeperRemoval, encodeKeeperRemoval, keeperRemovalDigest, type KeeperRemoval } from './keeper-removal.js'
export { chargeAccess, checkAccess, type AccessDecision, type AccessDenial, type AccessRequest } from './release-check.js'
export { COMMAND_INFO, MAX_COMMAND_BYTES, commandAad, openCommand, sealCommand, type CommandEnvelope } from './sealed-command.js'
export { replayInbox, type ReplayContext } from './replay.js'
export { decodeSnapshot, encodeSnapshot } from './snapshot.js'
export { ZERO_HASH, createEmptyState, getDataset, type BudgetRecord, type ContributionRecord, type PoolRecord, type CustodyState, type DatasetRecord, type GrantRecord, type NonceSet } from './state.js'
export { datasetLeaf, jobLeaf, keeperLeaf, nonceLeaf, stateRoot, stateRootParts, type StateRootParts } from './state-root.js'
export {
  approveRegistration,
  type ApproveRegistrationParameters,
  type ApproveRegistrationReturnType,
  type RegistrationToApprove,
} from './registration-approval.js'
