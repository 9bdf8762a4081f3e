import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { bytesToHex, keccak256, recoverMessageAddress, type Hex, type LocalAccount } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { generateHpkeKeyPair, hpkeSeal, type HpkeKeyPair } from '../crypto/hpke.js'
import { isW3aError, type W3aErrorCode } from '../core/errors.js'
import type { SiteSettings } from '../sdk/site-settings.js'
import { Ingest } from './ingest.js'
import { ANSWER_INFO, SETTINGS_INFO, applySettingsWrite, checkSettingsRead, openSettings, sealSettings, signSettingsAnswer, siteSettingsAnswerText, siteSettingsReadText, siteSettingsWriteText, type SiteSettingsAnswer } from './ingest-site-settings.js'
import { ingestHeadAt, makeTestSite, memoryStorage } from './ingest-fixture.test.js'

const CHAIN = 31337
const storage = memoryStorage()
const testSite = await makeTestSite(storage, CHAIN)
/** The ingest enclave's worker key: it signs the answers. */
const worker = privateKeyToAccount(bytesToHex(randomBytes(32)))
const stranger = privateKeyToAccount(bytesToHex(randomBytes(32)))
const now = () => Math.floor(Date.now() / 1000)

const SETTINGS: SiteSettings = { goals: [{ event: 'Signup' }, { page: '/thanks*' }], funnels: [{ name: 'buy', steps: ['Visit /thanks*', 'Signup'] }] }

/** An ingest enclave (`make` opens it again, as after a restart) with the test site registered by its owner. */
async function setup() {
  const dir = mkdtempSync(join(tmpdir(), 'w3a-site-settings-'))
  const key = await generateHpkeKeyPair()
  const sealingKey = randomBytes(32)
  const make = () => new Ingest({ dir, sealingKey, hpkePrivateKey: key.privateKey, head: ingestHeadAt(dir, sealingKey) })
  const register = async (ingest: Ingest, issuedAt?: number) =>
    ingest.registerSite(await testSite.registration({ address: worker.address, hpkePublicKey: bytesToHex(key.publicKey) }, issuedAt ? { issuedAt } : {}), { chainId: CHAIN, self: worker.address, hpkePrivateKey: key.privateKey, nowS: now(), manifestOf: storage.manifestOf })
  const ingest = make()
  await register(ingest)
  enclaveKey = key
  return { dir, make, register, ingest, done: () => rmSync(dir, { recursive: true, force: true }) }
}

/** The enclave key of the last setup (writes are sealed to it). */
let enclaveKey: HpkeKeyPair
/** The requester's box key (answers are sealed to it). */
const box = await generateHpkeKeyPair()

/** The owner's signed write of `settings` (sealed to the enclave, as setSiteSettings makes it). */
async function write(p: { version: number; settings: SiteSettings; by?: LocalAccount; issuedAt?: number; ingest?: Hex }) {
  const { sealed, settingsHash } = await sealSettings(p.settings, { recipient: enclaveKey.publicKey, info: SETTINGS_INFO, site: testSite.id })
  const base = { site: testSite.id, ingest: p.ingest ?? worker.address, version: p.version, settingsHash, box: bytesToHex(box.publicKey), issuedAt: p.issuedAt ?? now() }
  return { ...base, sealed, signature: await (p.by ?? testSite.account).signMessage({ message: siteSettingsWriteText(base, CHAIN) }) }
}

async function read(by: LocalAccount = testSite.account) {
  const base = { site: testSite.id, ingest: worker.address, box: bytesToHex(box.publicKey), issuedAt: now() }
  return { ...base, signature: await by.signMessage({ message: siteSettingsReadText(base, CHAIN) }) }
}

const ctx = (ingest: Ingest) => ({ chainId: CHAIN, self: worker.address, nowS: now(), book: ingest.sites, hpkePrivateKey: enclaveKey.privateKey })
/** An answer opened as the SDK opens it: its settings, version and time. */
const opened = async (a: SiteSettingsAnswer) => ({ version: a.version, updatedAt: a.updatedAt, ...(await openSettings(a.sealed, { privateKey: box.privateKey, info: ANSWER_INFO, site: testSite.id, settingsHash: a.settingsHash })) })
/** What the enclave answers a read (its answer signed as the service signs it), opened. */
async function answerRead(ingest: Ingest, by?: LocalAccount) {
  const r = await checkSettingsRead(await read(by), ctx(ingest))
  return opened(await signSettingsAnswer(r.record, r.request, { chainId: CHAIN, signer: worker }))
}
/** A signed write of any JSON value (what a buggy or hostile client could send), sealed to the enclave. */
async function writeRaw(value: unknown) {
  const bytes = new TextEncoder().encode(JSON.stringify(value))
  const out = await hpkeSeal({ recipientPublicKey: enclaveKey.publicKey, info: SETTINGS_INFO, aad: new TextEncoder().encode(testSite.id) }, bytes)
  const base = { site: testSite.id, ingest: worker.address, version: 1, settingsHash: keccak256(bytes), box: bytesToHex(box.publicKey), issuedAt: now() }
  return { ...base, sealed: { enc: bytesToHex(out.enc), ciphertext: bytesToHex(out.ciphertext) }, signature: await testSite.account.signMessage({ message: siteSettingsWriteText(base, CHAIN) }) }
}

const refused = (code: W3aErrorCode, pattern: RegExp) => (e: unknown) => isW3aError(e, code) && pattern.test(e.message)

describe("a site's goals and funnels in the ingest enclave's sealed site book", () => {
  it('the owner sets and reads them; the answer is signed by the worker for that request; they survive a restart and a re-registration', async () => {
    const t = await setup()
    try {
      assert.deepEqual(await answerRead(t.ingest), { version: 0, updatedAt: 0, goals: [], funnels: [] })
      const req = await write({ version: 1, settings: SETTINGS })
      // The goal names never cross the host in the clear: in the write and the answer they are sealed.
      assert.ok(!JSON.stringify(req).includes('Signup'))
      const w = await applySettingsWrite(req, ctx(t.ingest))
      const answer = await signSettingsAnswer(w.record, w.request, { chainId: CHAIN, signer: worker })
      assert.ok(!JSON.stringify(answer).includes('Signup'))
      assert.deepEqual(await opened(answer), { version: 1, updatedAt: req.issuedAt, ...SETTINGS })
      assert.equal(answer.request, keccak256(req.signature))
      const { signature, sealed: _sealed, ...rest } = answer
      assert.equal(await recoverMessageAddress({ message: siteSettingsAnswerText(rest, CHAIN), signature }), worker.address)

      t.ingest.close()
      const again = t.make()
      const after = await answerRead(again)
      assert.deepEqual(after, { version: 1, updatedAt: req.issuedAt, ...SETTINGS })
      // The owner registers the site again (`site add` run twice): the settings stay.
      await t.register(again, now() + 1)
      assert.equal((await answerRead(again)).version, 1)
      again.close()
    } finally {
      t.done()
    }
  })

  it('refuses a write or read signed by someone else, one naming another ingest worker, and an expired one', async () => {
    const t = await setup()
    try {
      await assert.rejects(applySettingsWrite(await write({ version: 1, settings: SETTINGS, by: stranger }), ctx(t.ingest)), refused('SIGNATURE_INVALID', /not signed by the site's owner/))
      await assert.rejects(answerRead(t.ingest, stranger), refused('SIGNATURE_INVALID', /not signed by the site's owner/))
      // A signature over other settings does not carry to these: the host seals its own value in the owner's request
      // (refused: it does not hash to the signed settingsHash), or names its hash too (refused: not the signed text).
      const signed = await write({ version: 1, settings: { goals: [{ event: 'Signup' }], funnels: [] } })
      const swapped = await sealSettings({ goals: [{ event: 'Refund' }], funnels: [] }, { recipient: enclaveKey.publicKey, info: SETTINGS_INFO, site: testSite.id })
      await assert.rejects(applySettingsWrite({ ...signed, sealed: swapped.sealed }, ctx(t.ingest)), refused('ACCESS_DENIED', /do not hash to the signed settingsHash/))
      await assert.rejects(applySettingsWrite({ ...signed, ...swapped }, ctx(t.ingest)), refused('SIGNATURE_INVALID', /not signed/))
      // A read naming the host's own box key instead of the owner's (to open the answer) is not the signed text.
      const r = await read()
      await assert.rejects(checkSettingsRead({ ...r, box: bytesToHex((await generateHpkeKeyPair()).publicKey) }, ctx(t.ingest)), refused('SIGNATURE_INVALID', /not signed/))
      await assert.rejects(applySettingsWrite(await write({ version: 1, settings: SETTINGS, ingest: stranger.address }), ctx(t.ingest)), refused('ACCESS_DENIED', /names ingest worker/))
      await assert.rejects(applySettingsWrite(await write({ version: 1, settings: SETTINGS, issuedAt: now() - 3600 }), ctx(t.ingest)), refused('COMMAND_EXPIRED', /more than 300 s/))
      assert.equal((await answerRead(t.ingest)).version, 0, 'nothing was kept')
      t.ingest.close()
    } finally {
      t.done()
    }
  })

  it('refuses a replayed or older write (no roll-back), one skipping versions, and keeps one of two writes of the same version', async () => {
    const t = await setup()
    try {
      const v1 = await write({ version: 1, settings: SETTINGS })
      await applySettingsWrite(v1, ctx(t.ingest))
      const v2 = await write({ version: 2, settings: { goals: [{ event: 'Signup' }], funnels: [] } })
      await applySettingsWrite(v2, ctx(t.ingest))
      await assert.rejects(applySettingsWrite(v2, ctx(t.ingest)), refused('SITE_SETTINGS_OUTDATED', /version 2 is not newer than the kept version 2/))
      await assert.rejects(applySettingsWrite(v1, ctx(t.ingest)), refused('SITE_SETTINGS_OUTDATED', /version 1 is not newer/))
      await assert.rejects(applySettingsWrite(await write({ version: 4, settings: SETTINGS }), ctx(t.ingest)), refused('INVALID_ARGUMENT', /skips ahead: the next version is 3/))
      // Two writers made their change on version 2: the second is told to read again.
      const a = await write({ version: 3, settings: { goals: [{ event: 'A' }], funnels: [] } })
      const b = await write({ version: 3, settings: { goals: [{ event: 'B' }], funnels: [] } })
      const outcomes = await Promise.allSettled([applySettingsWrite(a, ctx(t.ingest)), applySettingsWrite(b, ctx(t.ingest))])
      assert.deepEqual(outcomes.map((o) => o.status).sort(), ['fulfilled', 'rejected'])
      const lost = outcomes.findIndex((o) => o.status === 'rejected')
      assert.ok(isW3aError((outcomes[lost] as PromiseRejectedResult).reason, 'SITE_SETTINGS_OUTDATED'))
      const kept = await answerRead(t.ingest)
      assert.deepEqual({ version: kept.version, goals: kept.goals }, { version: 3, goals: [{ event: lost === 0 ? 'B' : 'A' }] })
      t.ingest.close()
    } finally {
      t.done()
    }
  })

  it('refuses invalid settings naming the wrong entry, with the SDK rules and limits', async () => {
    const t = await setup()
    try {
      const bad = async (settings: unknown, pattern: RegExp) => assert.rejects(applySettingsWrite(await writeRaw(settings), ctx(t.ingest)), refused('INVALID_ARGUMENT', pattern))
      await bad({ goals: [{ event: 'Signup' }, { page: 'thanks' }], funnels: [] }, /goals\[1\]: not a valid goal: page: a page goal is a path starting with \//)
      await bad({ goals: [{ event: 'Signup' }, { event: 'Signup' }], funnels: [] }, /goals\[1\]: the site already has the goal "Signup"/)
      await bad({ goals: [{ event: 'Signup', extra: 1 }], funnels: [] }, /goals\[0\]: not a valid goal/)
      await bad({ goals: [{ event: 'Signup' }], funnels: [{ name: 'f', steps: ['Signup', 'Nope'] }] }, /funnels\[0\]: .*no goal "Nope"/)
      await bad({ goals: Array.from({ length: 101 }, (_, i) => ({ event: `e${i}` })), funnels: [] }, /goals\[100\]: a site has at most 100 goals/)
      await bad({ goals: [] }, /site settings are \{ goals/)
      assert.equal((await answerRead(t.ingest)).version, 0)
      t.ingest.close()
    } finally {
      t.done()
    }
  })
})
