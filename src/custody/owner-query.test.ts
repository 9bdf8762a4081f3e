import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { bytesToHex } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { isW3aError } from '../core/errors.js'
import { generateHpkeKeyPair, hpkeOpen } from '../crypto/hpke.js'
import { DOMAIN, Replica, TestInbox, registerCommand, signCommand, testBytes } from './fixture.test.js'
import { answerCustodyQuery, createCustodyQuery, openAnalystAnswer, openCustodyAnswer, type CustodyAnswer } from './owner-query.js'
import { parsePolicy, policyHash } from './policy.js'
import { chargeAccess } from './release-check.js'
import type { CustodyState } from './state.js'
import { stateRoot } from './state-root.js'

const owner = privateKeyToAccount(bytesToHex(testBytes('owner')))
const analyst = privateKeyToAccount(bytesToHex(testBytes('analyst')))
const mallory = privateKeyToAccount(bytesToHex(testBytes('mallory')))
const keeper = privateKeyToAccount(bytesToHex(testBytes('keeper')))
const NOW = 1_750_000_000

async function custody(): Promise<{ state: CustodyState; datasetId: `0x${string}` }> {
  const inbox = new TestInbox(testBytes('query'))
  const exp = inbox.timestamp() + 100_000n
  const r = registerCommand(owner.address, { salt: bytesToHex(testBytes('q salt')), dek: testBytes('q dek'), nonce: 1n, expiry: exp })
  const policy = parsePolicy({ k: 15, epsilonBudget: 2 })
  await inbox.post(await signCommand(owner, r.command), { dek: testBytes('q dek') })
  await inbox.post(await signCommand(owner, { type: 'Grant', message: { datasetId: r.datasetId, grantee: analyst.address, expiresAt: 0n, uses: 5, nonce: 2n, expiry: exp } }))
  await inbox.post(await signCommand(owner, { type: 'SetPolicy', message: { datasetId: r.datasetId, policyHash: policyHash(policy), nonce: 3n, expiry: exp } }), { policy })
  const replica = Replica.fromSecret(testBytes('query'))
  for (const e of inbox.entries) await replica.apply(e)
  const state = chargeAccess(replica.state, { datasetId: r.datasetId, analyst: analyst.address, analysis: 'sql', epsilon: 0.5, now: inbox.timestamp() }).state
  return { state, datasetId: r.datasetId }
}

describe('owner queries', () => {
  it('the owner gets grants, policy and budget, readable only with their one-time key', async () => {
    const { state, datasetId } = await custody()
    const keeperHpke = await generateHpkeKeyPair()
    const { request, responseKeyPair } = await createCustodyQuery({ account: owner, domain: DOMAIN, datasetId, keeperHpkePublicKey: keeperHpke.publicKey, now: NOW })
    const wire = JSON.parse(JSON.stringify(request))
    const answer = await answerCustodyQuery(state, wire, keeperHpke.privateKey, keeper, NOW + 1, new Map(), DOMAIN)
    assert.equal(answer.status, 'answered')
    const view = await openCustodyAnswer(JSON.parse(JSON.stringify(answer)), responseKeyPair, keeper.address, request)
    assert.equal(view.datasetId, datasetId.toLowerCase())
    assert.equal(view.owner, owner.address.toLowerCase())
    assert.equal(view.policy.k, 15)
    assert.deepEqual(view.grants, [{ grantee: analyst.address.toLowerCase(), expiresAt: 0n, usesLeft: 4 }])
    assert.deepEqual(view.budget, { spent: 0.5, remaining: 1.5, perAnalyst: [{ analyst: analyst.address.toLowerCase(), spent: 0.5 }] })
    assert.equal(view.asOf.stateRoot, stateRoot(state))
    assert.equal(JSON.stringify(answer).includes(analyst.address.slice(2).toLowerCase()), false, 'the answer is encrypted')

    // Nobody else can read it: not the keeper, not another key; and it must come from the expected keeper.
    const other = await generateHpkeKeyPair()
    await assert.rejects(openCustodyAnswer(answer, other, keeper.address), (e: unknown) => isW3aError(e, 'HPKE_OPEN_FAILED'))
    await assert.rejects(
      hpkeOpen({ recipientPrivateKey: keeperHpke.privateKey, enc: Buffer.from(answer.enc!.slice(2), 'hex') }, Buffer.from(answer.ciphertext!.slice(2), 'hex')),
      (e: unknown) => isW3aError(e, 'HPKE_OPEN_FAILED'),
    )
    await assert.rejects(openCustodyAnswer(answer, responseKeyPair, mallory.address), (e: unknown) => isW3aError(e, 'SIGNATURE_INVALID'))
    await assert.rejects(openCustodyAnswer({ ...answer, keeper: mallory.address }, responseKeyPair, mallory.address), (e: unknown) => isW3aError(e, 'SIGNATURE_INVALID'))
  })

  it('anyone else gets a signed refusal that reveals nothing (same for unknown datasets)', async () => {
    const { state, datasetId } = await custody()
    const keeperHpke = await generateHpkeKeyPair()
    const refusal = async (account: typeof owner, id: `0x${string}`) => {
      const { request, responseKeyPair } = await createCustodyQuery({ account, domain: DOMAIN, datasetId: id, keeperHpkePublicKey: keeperHpke.publicKey, now: NOW })
      const answer = await answerCustodyQuery(state, request, keeperHpke.privateKey, keeper, NOW, new Map(), DOMAIN)
      await assert.rejects(openCustodyAnswer(answer, responseKeyPair, keeper.address, request), (e: unknown) => isW3aError(e, 'ACCESS_DENIED') && e.details.includes('reason: not-authorized'))
      return answer
    }
    const shapes = [await refusal(analyst, datasetId), await refusal(mallory, datasetId), await refusal(owner, `0x${'99'.repeat(32)}`)].map((a: CustodyAnswer) =>
      Object.entries(a)
        .filter(([k]) => k !== 'requestHash' && k !== 'signature')
        .map(([k, v]) => `${k}=${String(v)}`)
        .join(','),
    )
    assert.deepEqual(new Set(shapes), new Set([`keeper=${keeper.address},status=refused,reason=not-authorized`]))
  })

  it('replayed, expired, foreign-domain and garbage queries are refused', async () => {
    const { state, datasetId } = await custody()
    const keeperHpke = await generateHpkeKeyPair()
    const used = new Map<string, bigint>()
    const q = await createCustodyQuery({ account: owner, domain: DOMAIN, datasetId, keeperHpkePublicKey: keeperHpke.publicKey, now: NOW, ttlSeconds: 60 })
    const reason = async (request: unknown, now = NOW, domain = DOMAIN) => (await answerCustodyQuery(state, request, keeperHpke.privateKey, keeper, now, used, domain)).reason
    assert.equal(await reason(q.request), undefined)
    assert.equal(await reason(q.request), 'replayed')
    const q2 = await createCustodyQuery({ account: owner, domain: DOMAIN, datasetId, keeperHpkePublicKey: keeperHpke.publicKey, now: NOW, ttlSeconds: 60 })
    assert.equal(await reason(q2.request, NOW + 60), 'expired')
    assert.equal(await reason(q2.request, NOW, { ...DOMAIN, chainId: 1 }), 'bad-request')
    assert.equal(await reason({ enc: '0x00', ciphertext: '0x00' }), 'bad-request')
    const other = await generateHpkeKeyPair()
    const q3 = await createCustodyQuery({ account: owner, domain: DOMAIN, datasetId, keeperHpkePublicKey: other.publicKey, now: NOW })
    assert.equal(await reason(q3.request), 'bad-request') // sealed to another keeper
    // Expired nonces are pruned from the keeper's memory.
    await reason(q2.request, NOW + 10_000)
    assert.equal(used.size, 0)
  })
})

describe('analyst queries (scope analyst)', () => {
  it('an analyst with a grant reads their own ε left, grant and the dataset ε left, and nothing else', async () => {
    const { state, datasetId } = await custody()
    const keeperHpke = await generateHpkeKeyPair()
    const { request, responseKeyPair } = await createCustodyQuery({ account: analyst, domain: DOMAIN, datasetId, keeperHpkePublicKey: keeperHpke.publicKey, now: NOW, scope: 'analyst' })
    const answer = await answerCustodyQuery(state, JSON.parse(JSON.stringify(request)), keeperHpke.privateKey, keeper, NOW, new Map(), DOMAIN)
    assert.equal(answer.status, 'answered')
    const view = await openAnalystAnswer(JSON.parse(JSON.stringify(answer)), responseKeyPair, keeper.address, request)
    assert.deepEqual(view, {
      datasetId: datasetId.toLowerCase(),
      analyst: analyst.address.toLowerCase(),
      epsilonSpent: 0.5,
      epsilonLeft: 0.5, // the default share is 1 ε per analyst
      analystEpsilonBudget: 1,
      datasetEpsilonLeft: 1.5,
      grant: { expiresAt: 0n, usesLeft: 4 },
      queryTerms: { defaultEpsilon: 0.1, minEpsilon: 0.05, delta: 1e-7, bounds: {}, exactQueriesLeft: null },
      asOf: { processed: state.processed, stateRoot: stateRoot(state) },
    })
    // An analyst answer is not an owner view, and the other way round.
    await assert.rejects(openCustodyAnswer(answer, responseKeyPair, keeper.address, request), (e: unknown) => isW3aError(e, 'CUSTODY_MALFORMED'))
    const own = await createCustodyQuery({ account: owner, domain: DOMAIN, datasetId, keeperHpkePublicKey: keeperHpke.publicKey, now: NOW })
    const ownAnswer = await answerCustodyQuery(state, own.request, keeperHpke.privateKey, keeper, NOW, new Map(), DOMAIN)
    await assert.rejects(openAnalystAnswer(ownAnswer, own.responseKeyPair, keeper.address, own.request), (e: unknown) => isW3aError(e, 'CUSTODY_MALFORMED'))
  })

  it('a stranger and an unknown dataset get the same signed not-authorized', async () => {
    const { state, datasetId } = await custody()
    const keeperHpke = await generateHpkeKeyPair()
    for (const [account, id] of [[mallory, datasetId], [analyst, `0x${'99'.repeat(32)}`]] as const) {
      const { request, responseKeyPair } = await createCustodyQuery({ account, domain: DOMAIN, datasetId: id, keeperHpkePublicKey: keeperHpke.publicKey, now: NOW, scope: 'analyst' })
      const answer = await answerCustodyQuery(state, request, keeperHpke.privateKey, keeper, NOW, new Map(), DOMAIN)
      assert.equal(answer.reason, 'not-authorized')
      await assert.rejects(openAnalystAnswer(answer, responseKeyPair, keeper.address, request), (e: unknown) => isW3aError(e, 'ACCESS_DENIED'))
    }
  })
})
