/**
 * Owners read the confidential part of their dataset's custody state (grants, policy, budget)
 * straight from a keeper, never through the chain:
 *
 *   request  = { enc, ciphertext }: HPKE to the keeper's worker HPKE key, info "w3a/custody/query/v1",
 *              aad = "", plaintext = JSON { v: 1, signed: SignedCustodyQuery }
 *              where the owner signed ReadCustody { datasetId, requester, responseKey, nonce, expiry } (EIP-712)
 *   requestHash = keccak256(enc ‖ ciphertext)
 *   answer   = HPKE to `responseKey`, info "w3a/custody/answer/v1", aad = requestHash, plaintext = JSON view,
 *              signed by the keeper's worker key (EIP-191) over
 *              keccak256(abi.encode(string "w3a.custody.answer.v1", bytes32 requestHash, string status, string reason, bytes32 keccak256(enc ‖ ciphertext)))
 *
 * Only the owner gets an answer. Anyone else gets a signed refusal whose reason never depends on
 * the dataset ('not-authorized' covers unknown dataset and not-the-owner alike); the other
 * reasons ('bad-request', 'expired', 'replayed') depend only on the request itself.
 *
 * Scope 'analyst' (plaintext { v: 1, signed, scope: "analyst" }): the signer asks for their own
 * ε on the dataset instead (analyst-view.ts, which says who gets an answer). The scope is not
 * signed and need not be: only the signer can read the answer, and either view is one the
 * signer may see.
 */
import { bytesToHex, encodeAbiParameters, hexToBytes, isAddress, isAddressEqual, keccak256, recoverMessageAddress, type Address, type Hex, type LocalAccount } from 'viem'
import { z } from 'zod'
import { W3aError, isW3aError } from '../core/errors.js'
import { generateHpkeKeyPair, hpkeOpen, hpkeSeal, type HpkeKeyPair } from '../crypto/hpke.js'
import { signCustodyQuery, verifyCustodyQuery, type CommandDomain, type SignedCustodyQuery } from '../crypto/typed-commands.js'
import { malformed } from './canonical.js'
import { CustodyPolicySchema, parsePolicy, type CustodyPolicy } from './policy.js'
import { getDataset, type CustodyState } from './state.js'
import { stateRoot } from './state-root.js'
import { analystView, analystViewJson, parseAnalystView, type AnalystView } from './analyst-view.js'

const QUERY_INFO = new TextEncoder().encode('w3a/custody/query/v1')
const ANSWER_INFO = new TextEncoder().encode('w3a/custody/answer/v1')
/** A keeper refuses queries that stay valid longer than this (it remembers nonces until expiry). */
export const MAX_QUERY_TTL_SECONDS = 3600

export type CustodyQueryRequest = { enc: Hex; ciphertext: Hex }
/** 'owner': the whole custody view of the signer's dataset; 'analyst': the signer's own ε on it. */
export type CustodyQueryScope = 'owner' | 'analyst'
export type QueryRefusal = 'bad-request' | 'expired' | 'replayed' | 'not-authorized'
export type CustodyAnswer = { keeper: Address; requestHash: Hex; status: 'answered' | 'refused'; reason?: QueryRefusal; enc?: Hex; ciphertext?: Hex; signature: Hex }

/** What the owner learns. Addresses lowercase; bigints as decimal strings in transit. */
export type CustodyView = {
  datasetId: Hex
  owner: Address
  manifestCid: string
  deleted: boolean
  registeredAtIndex: bigint
  registeredEpoch: bigint
  policy: CustodyPolicy
  grants: { grantee: Address; expiresAt: bigint; usesLeft: number | null }[]
  budget: { spent: number; remaining: number; perAnalyst: { analyst: Address; spent: number }[] }
  asOf: { processed: bigint; stateRoot: Hex }
  /** A pool: its purpose and how many live contributions it has. */
  pool?: { purpose: string; contributions: number }
  /** A contribution: its pool and the owner's consent (pool.ts). */
  contribution?: { pool: Hex; allow: string[]; deny: string[]; withdrawn: boolean }
}

export async function createCustodyQuery(params: {
  account: LocalAccount
  domain: CommandDomain
  datasetId: Hex
  keeperHpkePublicKey: Uint8Array
  /** unix seconds; default: this machine's clock */
  now?: number
  ttlSeconds?: number
  /** Default 'owner'. */
  scope?: CustodyQueryScope
}): Promise<{ request: CustodyQueryRequest; responseKeyPair: HpkeKeyPair }> {
  const now = params.now ?? Math.floor(Date.now() / 1000)
  const responseKeyPair = await generateHpkeKeyPair()
  const nonce = BigInt(bytesToHex(crypto.getRandomValues(new Uint8Array(32))))
  const ttl = params.ttlSeconds ?? 300
  if (!Number.isSafeInteger(ttl) || ttl <= 0 || ttl > MAX_QUERY_TTL_SECONDS) throw new W3aError('INVALID_ARGUMENT', `ttlSeconds must be 1..${MAX_QUERY_TTL_SECONDS}`)
  const signed = await signCustodyQuery({
    account: params.account,
    domain: params.domain,
    query: { datasetId: params.datasetId, requester: params.account.address, responseKey: bytesToHex(responseKeyPair.publicKey), nonce, expiry: BigInt(now + ttl) },
  })
  const json = JSON.stringify({
    v: 1,
    signed: { ...signed, query: { ...signed.query, nonce: signed.query.nonce.toString(), expiry: signed.query.expiry.toString() } },
    ...(params.scope === 'analyst' ? { scope: 'analyst' } : {}),
  })
  const { enc, ciphertext } = await hpkeSeal(
    { recipientPublicKey: params.keeperHpkePublicKey, info: QUERY_INFO },
    new TextEncoder().encode(json),
  )
  return { request: { enc: bytesToHex(enc), ciphertext: bytesToHex(ciphertext) }, responseKeyPair }
}

export function queryRequestHash(request: CustodyQueryRequest): Hex {
  return keccak256(new Uint8Array([...hexToBytes(request.enc), ...hexToBytes(request.ciphertext)]))
}

/**
 * Answers a query from `state`. `now` is the keeper's clock (unix seconds); `usedQueryNonces`
 * is the keeper's memory of answered queries: a Map (requester:nonce → expiry, pruned here as
 * they expire) or a Set of requester:nonce. With `domain`, queries signed for another chain or
 * inbox are refused; without it, the query's own signed domain is used.
 */
export async function answerCustodyQuery(
  state: CustodyState,
  request: CustodyQueryRequest | unknown,
  keeperHpkePrivateKey: Uint8Array,
  signer: LocalAccount,
  now: number,
  usedQueryNonces: Map<string, bigint> | Set<string>,
  domain?: CommandDomain,
): Promise<CustodyAnswer> {
  const req = requestSchema.safeParse(request)
  let requestHash: Hex = keccak256(new Uint8Array(0))
  if (req.success) requestHash = queryRequestHash(req.data as CustodyQueryRequest)
  const refuse = (reason: QueryRefusal) => signAnswer(signer, { keeper: signer.address, requestHash, status: 'refused', reason })
  if (!req.success) return refuse('bad-request')
  // Forget answered queries once they have expired: a replay of them is refused as expired anyway.
  if (usedQueryNonces instanceof Map) for (const [k, exp] of usedQueryNonces) if (exp <= BigInt(now)) usedQueryNonces.delete(k)

  let signed: SignedCustodyQuery
  let scope: CustodyQueryScope
  try {
    const pt = await hpkeOpen({ recipientPrivateKey: keeperHpkePrivateKey, enc: hexToBytes(req.data.enc as Hex), info: QUERY_INFO }, hexToBytes(req.data.ciphertext as Hex))
    ;({ signed, scope } = parseQuery(pt))
  } catch {
    return refuse('bad-request')
  }
  try {
    await verifyCustodyQuery({ signed, domain: domain ?? signed.domain, now })
  } catch (e) {
    return refuse(isW3aError(e, 'COMMAND_EXPIRED') ? 'expired' : 'bad-request')
  }
  if (signed.query.expiry > BigInt(now + MAX_QUERY_TTL_SECONDS)) return refuse('bad-request')
  const nonceKey = `${signed.query.requester.toLowerCase()}:${signed.query.nonce}`
  if (usedQueryNonces instanceof Map) {
    if (usedQueryNonces.has(nonceKey)) return refuse('replayed')
    usedQueryNonces.set(nonceKey, signed.query.expiry)
  } else {
    if (usedQueryNonces.has(nonceKey)) return refuse('replayed')
    usedQueryNonces.add(nonceKey)
  }

  const id = signed.query.datasetId.toLowerCase() as Hex
  if (scope === 'analyst') {
    const mine = analystView(state, id, signed.query.requester)
    if (!mine) return refuse('not-authorized')
    return sealAnswer(signer, requestHash, signed.query.responseKey, analystViewJson(mine))
  }
  const record = getDataset(state, id)
  if (!record || !isAddressEqual(record.owner, signed.query.requester)) return refuse('not-authorized')

  const view = {
    v: 1,
    datasetId: id,
    owner: record.owner,
    manifestCid: record.manifestCid,
    deleted: record.deleted,
    registeredAtIndex: record.registeredAtIndex.toString(),
    registeredEpoch: record.registeredEpoch.toString(),
    policy: record.policy,
    grants: [...record.grants.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([grantee, g]) => ({ grantee, expiresAt: g.expiresAt.toString(), usesLeft: g.usesLeft })),
    budget: {
      spent: record.budget.spent,
      remaining: Math.max(0, record.policy.epsilonBudget - record.budget.spent),
      perAnalyst: [...record.budget.perAnalyst.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([analyst, spent]) => ({ analyst, spent })),
    },
    asOf: { processed: state.processed.toString(), stateRoot: stateRoot(state) },
    ...(record.pool ? { pool: { purpose: record.pool.purpose, contributions: record.pool.contributions.length } } : {}),
    ...(record.contribution ? { contribution: { pool: record.contribution.pool, allow: [...record.contribution.allow], deny: [...record.contribution.deny], withdrawn: record.contribution.withdrawn } } : {}),
  }
  return sealAnswer(signer, requestHash, signed.query.responseKey, JSON.stringify(view))
}

async function sealAnswer(signer: LocalAccount, requestHash: Hex, responseKey: Hex, json: string): Promise<CustodyAnswer> {
  const plaintext = new TextEncoder().encode(json)
  const { enc, ciphertext } = await hpkeSeal({ recipientPublicKey: hexToBytes(responseKey), info: ANSWER_INFO, aad: hexToBytes(requestHash) }, plaintext)
  plaintext.fill(0)
  return signAnswer(signer, { keeper: signer.address, requestHash, status: 'answered', enc: bytesToHex(enc), ciphertext: bytesToHex(ciphertext) })
}

/**
 * Verifies `answer` was signed by `expectedKeeper` (and, given `request`, answers that request),
 * then opens it with the one-time response key. Throws SIGNATURE_INVALID (wrong signer or
 * request), ACCESS_DENIED for a signed refusal (the reason in details), HPKE_OPEN_FAILED.
 */
export async function openCustodyAnswer(answerJson: CustodyAnswer | unknown, responseKeyPair: HpkeKeyPair, expectedKeeper: Address, request?: CustodyQueryRequest): Promise<CustodyView> {
  return parseView(await openAnswer(answerJson, responseKeyPair, expectedKeeper, request))
}

/** `openCustodyAnswer` for a query of scope 'analyst': the signer's own ε on the dataset. */
export async function openAnalystAnswer(answerJson: CustodyAnswer | unknown, responseKeyPair: HpkeKeyPair, expectedKeeper: Address, request?: CustodyQueryRequest): Promise<AnalystView> {
  const pt = await openAnswer(answerJson, responseKeyPair, expectedKeeper, request)
  let json: unknown
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(pt))
  } catch (cause) {
    throw malformed('custody answer is not JSON', cause)
  }
  const view = parseAnalystView(json)
  if (!view) throw malformed('analyst custody answer')
  return view
}

async function openAnswer(answerJson: CustodyAnswer | unknown, responseKeyPair: HpkeKeyPair, expectedKeeper: Address, request?: CustodyQueryRequest): Promise<Uint8Array> {
  const parsed = answerSchema.safeParse(answerJson)
  if (!parsed.success) throw malformed('custody answer')
  const answer = parsed.data as CustodyAnswer
  if (request && answer.requestHash.toLowerCase() !== queryRequestHash(request)) throw new W3aError('SIGNATURE_INVALID', 'Custody answer is for another request')
  const requestHash = answer.requestHash.toLowerCase() as Hex
  let recovered: Address | undefined
  try {
    recovered = await recoverMessageAddress({ message: { raw: answerDigest(answer) }, signature: answer.signature })
  } catch {
    recovered = undefined
  }
  if (!recovered || !isAddressEqual(recovered, expectedKeeper) || !isAddressEqual(answer.keeper, expectedKeeper)) {
    throw new W3aError('SIGNATURE_INVALID', 'Custody answer is not signed by the expected keeper')
  }
  if (answer.status === 'refused') throw new W3aError('ACCESS_DENIED', 'The keeper refused the custody query', { details: [`reason: ${answer.reason ?? 'bad-request'}`] })
  if (!answer.enc || !answer.ciphertext) throw malformed('answered without ciphertext')
  return hpkeOpen({ recipientPrivateKey: responseKeyPair.privateKey, enc: hexToBytes(answer.enc), info: ANSWER_INFO, aad: hexToBytes(requestHash) }, hexToBytes(answer.ciphertext))
}

async function signAnswer(signer: LocalAccount, body: Omit<CustodyAnswer, 'signature'>): Promise<CustodyAnswer> {
  return { ...body, signature: await signer.signMessage({ message: { raw: answerDigest(body) } }) }
}

function answerDigest(a: Omit<CustodyAnswer, 'signature'>): Hex {
  const sealed = a.enc && a.ciphertext ? keccak256(new Uint8Array([...hexToBytes(a.enc), ...hexToBytes(a.ciphertext)])) : (`0x${'00'.repeat(32)}` as Hex)
  return keccak256(
    encodeAbiParameters([{ type: 'string' }, { type: 'bytes32' }, { type: 'string' }, { type: 'string' }, { type: 'bytes32' }], ['w3a.custody.answer.v1', a.requestHash, a.status, a.reason ?? '', sealed]),
  )
}

const hex32 = z.string().regex(/^0x[0-9a-fA-F]{64}$/)
const addr = z.string().refine((s) => isAddress(s, { strict: false }))
const dec = z
  .string()
  .regex(/^(0|[1-9][0-9]{0,77})$/)
  .transform((s) => BigInt(s))
const hexBytes = z.string().regex(/^0x([0-9a-fA-F]{2})+$/)
const requestSchema = z.strictObject({ enc: hex32, ciphertext: hexBytes.max(2 + 2 * 16384) })
const answerSchema = z.strictObject({
  keeper: addr,
  requestHash: hex32,
  status: z.enum(['answered', 'refused']),
  reason: z.enum(['bad-request', 'expired', 'replayed', 'not-authorized']).optional(),
  enc: hex32.optional(),
  ciphertext: hexBytes.optional(),
  signature: z.string().regex(/^0x[0-9a-fA-F]{130}$/),
})
const querySchema = z.strictObject({
  v: z.literal(1),
  signed: z.strictObject({
    query: z.strictObject({ datasetId: hex32, requester: addr, responseKey: hex32, nonce: dec, expiry: dec }),
    domain: z.strictObject({ chainId: z.number().int().positive(), verifyingContract: addr }),
    signature: z.string().regex(/^0x[0-9a-fA-F]{130}$/),
  }),
  scope: z.enum(['owner', 'analyst']).optional(),
})
const viewSchema = z.strictObject({
  v: z.literal(1),
  datasetId: hex32,
  owner: addr,
  manifestCid: z.string(),
  deleted: z.boolean(),
  registeredAtIndex: dec,
  registeredEpoch: dec,
  policy: CustodyPolicySchema,
  grants: z.array(z.strictObject({ grantee: addr, expiresAt: dec, usesLeft: z.number().int().min(0).nullable() })),
  budget: z.strictObject({ spent: z.number(), remaining: z.number(), perAnalyst: z.array(z.strictObject({ analyst: addr, spent: z.number() })) }),
  asOf: z.strictObject({ processed: dec, stateRoot: hex32 }),
  pool: z.strictObject({ purpose: z.string(), contributions: z.number().int().min(0) }).optional(),
  contribution: z.strictObject({ pool: hex32, allow: z.array(z.string()), deny: z.array(z.string()), withdrawn: z.boolean() }).optional(),
})

function parseQuery(pt: Uint8Array): { signed: SignedCustodyQuery; scope: CustodyQueryScope } {
  const r = querySchema.safeParse(JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(pt)))
  if (!r.success) throw malformed('custody query')
  return { signed: r.data.signed as SignedCustodyQuery, scope: r.data.scope ?? 'owner' }
}

function parseView(pt: Uint8Array): CustodyView {
  let json: unknown
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(pt))
  } catch (cause) {
    throw malformed('custody answer is not JSON', cause)
  }
  const r = viewSchema.safeParse(json)
  if (!r.success) throw malformed('custody answer')
  const { v: _v, ...view } = r.data
  return { ...(view as unknown as Omit<CustodyView, 'policy'>), policy: parsePolicy(view.policy) }
}
