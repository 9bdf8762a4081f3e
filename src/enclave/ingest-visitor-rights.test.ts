import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { bytesToHex } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { generateHpkeKeyPair } from '../crypto/hpke.js'
import { isW3aError } from '../core/errors.js'
import { openEventContext, sealEvent, type EventContext } from '../tracker/seal-event.js'
import { makeVisitorKeys, openBox, optInToken, receiptProblem, visitorRequest } from '../tracker/visitor-crypto.js'
import type { VisitorAnswer } from '../tracker/visitor-format.js'
import { unwrapDatasetKey } from '../crypto/owner-wrap-key.js'
import { Ingest } from './ingest.js'
import { answerVisitorRequest } from './ingest-visitor-rights.js'
import { ingestHeadAt, ingestLogFile, makeTestSite, memoryStorage } from './ingest-fixture.test.js'

const UA = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36'
const storage = memoryStorage()
const testSite = await makeTestSite(storage, 31337)
const site = testSite.id
const DAY = 86_400_000

async function setup() {
  const dir = mkdtempSync(join(tmpdir(), 'w3a-rights-'))
  const key = await generateHpkeKeyPair()
  const sealingKey = randomBytes(32)
  const worker = privateKeyToAccount(bytesToHex(randomBytes(32)))
  const make = () => new Ingest({ dir, sealingKey, hpkePrivateKey: key.privateKey, head: ingestHeadAt(dir, sealingKey) })
  let ingest = make()
  // Only sites their owner registered are accepted.
  await ingest.registerSite(await testSite.registration({ address: worker.address, hpkePublicKey: bytesToHex(key.publicKey) }), {
    chainId: 31337,
    self: worker.address,
    hpkePrivateKey: key.privateKey,
    nowS: Math.floor(Date.now() / 1000),
    manifestOf: storage.manifestOf,
  })
  return {
    dir,
    worker,
    get ingest() {
      return ingest
    },
    restart() {
      ingest.close()
      ingest = make()
    },
    page: () => openEventContext(site, key.publicKey),
    send: async (ctx: EventContext, seq: number, path: string, p: { ip: string; now: number; token?: string }) =>
      ingest.accept({ envelope: await sealEvent(ctx, seq, { n: 'pageview', u: `https://shop.example${path}`, d: site, ...(p.token ? { i: p.token } : {}) }), ip: p.ip, userAgent: UA, now: p.now }),
    done: () => (ingest.close(), rmSync(dir, { recursive: true, force: true })),
  }
}

describe('visitor data rights (ingest enclave)', () => {
  it('an opted-in visitor is one pseudonymous visitor across days, IPs and restarts; a bad token counts as anonymous', async () => {
    const t = await setup()
    try {
      const me = await makeVisitorKeys()
      const token = await optInToken(me, site)
      const t0 = Date.UTC(2025, 0, 1, 12)
      await t.send(await t.page(), 0, '/a', { ip: '203.0.113.1', now: t0, token })
      await t.send(await t.page(), 0, '/b', { ip: '198.51.100.7', now: t0 + 3 * DAY, token })
      t.restart()
      await t.send(await t.page(), 0, '/c', { ip: '198.51.100.8', now: t0 + 4 * DAY, token })
      // The same visitor without the token: daily ids, one per day.
      await t.send(await t.page(), 0, '/d', { ip: '203.0.113.1', now: t0 })
      // A token whose signature is for another site, and a forged one, are ignored.
      const other = await optInToken(me, '0x' + 'b2'.repeat(32))
      await t.send(await t.page(), 0, '/f', { ip: '203.0.113.1', now: t0, token: other })
      await t.send(await t.page(), 0, '/g', { ip: '203.0.113.1', now: t0, token: token.slice(0, -4) + 'AAAA' })
      await t.send(await t.page(), 0, '/e', { ip: '203.0.113.1', now: t0 + DAY })
      const rows = t.ingest.rowsOf(site, 0)
      const by = (p: string) => rows.find((r) => r.page === p)!.visitor
      assert.equal(by('/a'), by('/b'))
      assert.equal(by('/a'), by('/c'), 'the pseudonym survives a restart (derived from the sealing key)')
      assert.notEqual(by('/d'), by('/e'), 'without opting in, another day is another visitor')
      assert.notEqual(by('/a'), by('/d'))
      assert.equal(by('/f'), by('/d'), "another site's token counts as anonymous")
      assert.equal(by('/g'), by('/d'), 'a forged token counts as anonymous')
    } finally {
      t.done()
    }
  })

  it("one page's events are checked for one opt-in token: a client cycling forged tokens in one context costs one signature check, not one an event", async () => {
    const t = await setup()
    try {
      let checks = 0
      const ofToken = t.ingest.optIns.ofToken.bind(t.ingest.optIns)
      t.ingest.optIns.ofToken = (site, token) => (checks++, ofToken(site, token))
      const me = await makeVisitorKeys()
      const token = await optInToken(me, site)
      const [key] = token.split('.')
      const forged = () => `${key}.${randomBytes(64).toString('base64url')}`
      const now = Date.now()
      // One HPKE context (one X25519 for the client), then only AES-GCM per event: each with a new forged signature.
      const ctx = await t.page()
      for (let i = 0; i < 40; i++) await t.send(ctx, i, `/f${i}`, { ip: '203.0.113.1', now, token: forged() })
      assert.equal(checks, 1, 'the first token of the context is checked; later ones in it are not')
      // The visitor's real page: its token checks and names them, and a second token in that context is ignored.
      const page = await t.page()
      await t.send(page, 0, '/real', { ip: '203.0.113.2', now, token })
      await t.send(page, 1, '/swapped', { ip: '203.0.113.2', now, token: await optInToken(await makeVisitorKeys(), site) })
      const rows = t.ingest.rowsOf(site, 0)
      const by = (p: string) => rows.find((r) => r.page === p)!.visitor
      assert.equal(by('/real'), t.ingest.optIns.pseudonym(site, key!))
      assert.notEqual(by('/swapped'), by('/real'))
      assert.equal(checks, 2)
      assert.equal(rows.length, 42, 'every event still counts (the forged ones as anonymous)')
    } finally {
      t.done()
    }
  })

  it('export: only the asking visitor\'s rows, sealed to their box key, with a receipt the worker signed', async () => {
    const t = await setup()
    try {
      const me = await makeVisitorKeys()
      const stranger = await makeVisitorKeys()
      const now = Date.now()
      const ctx = await t.page()
      const mine = await optInToken(me, site) // one token a page, as the tracker keeps it
      await t.send(ctx, 0, '/mine-1', { ip: '203.0.113.1', now, token: mine })
      await t.send(ctx, 1, '/mine-2', { ip: '203.0.113.1', now, token: mine })
      await t.send(await t.page(), 0, '/theirs', { ip: '203.0.113.2', now, token: await optInToken(stranger, site) })
      await t.send(await t.page(), 0, '/anon', { ip: '203.0.113.3', now })
      const request = await visitorRequest(me, site, 'export')
      const answer = await answerVisitorRequest({ raw: request, ingest: t.ingest, signer: t.worker, nowS: Math.floor(now / 1000) })
      assert.equal(await receiptProblem(answer, request, t.worker.address), null)
      assert.ok(!JSON.stringify(answer).includes('/mine-1'), 'the host relays ciphertext only')
      const opened = await openBox(me, answer.box!)
      assert.deepEqual(opened.rows.map((r) => r['page']).sort(), ['/mine-1', '/mine-2'])
      assert.equal(answer.receipt.rows, 2)
      await assert.rejects(openBox(stranger, answer.box!), 'another key cannot open it')
      // A receipt checked against another worker, or another request, does not verify.
      assert.match((await receiptProblem(answer, request, privateKeyToAccount(bytesToHex(randomBytes(32))).address))!, /not by the ingest worker/)
      assert.match((await receiptProblem(answer, await visitorRequest(me, site, 'export'), t.worker.address))!, /another request/)
      const tampered: VisitorAnswer = { ...answer, receipt: { ...answer.receipt, rows: 0 } }
      assert.match((await receiptProblem(tampered, request, t.worker.address))!, /not by the ingest worker/)
    } finally {
      t.done()
    }
  })

  it('a request not signed by the key it names, another site\'s, or stale, is refused', async () => {
    const t = await setup()
    try {
      const me = await makeVisitorKeys()
      const stranger = await makeVisitorKeys()
      const nowS = Math.floor(Date.now() / 1000)
      const mine = await visitorRequest(me, site, 'delete')
      const theirs = await visitorRequest(stranger, site, 'delete')
      const ask = (raw: unknown, at = nowS) => answerVisitorRequest({ raw, ingest: t.ingest, signer: t.worker, nowS: at })
      await assert.rejects(ask({ ...mine, signature: theirs.signature }), (e) => isW3aError(e, 'SIGNATURE_INVALID'))
      await assert.rejects(ask({ ...mine, key: theirs.key }), (e) => isW3aError(e, 'SIGNATURE_INVALID'))
      await assert.rejects(ask({ ...mine, site: '0x' + 'b2'.repeat(32) }), (e) => isW3aError(e, 'SIGNATURE_INVALID'))
      await assert.rejects(ask({ ...mine, action: 'export' }), (e) => isW3aError(e, 'SIGNATURE_INVALID'))
      await assert.rejects(ask(mine, nowS + 3600), (e) => isW3aError(e, 'COMMAND_EXPIRED'))
      await assert.rejects(ask({ ...mine, extra: 1 }), (e) => isW3aError(e, 'INVALID_ARGUMENT') && e.message.includes('extra'))
      // A malformed request's error names the field.
      await assert.rejects(ask({ ...mine, action: 'steal' }), (e) => isW3aError(e, 'INVALID_ARGUMENT') && e.message.includes('visitor request: action'))
      await assert.rejects(ask({ ...mine, box: 'short' }), (e) => isW3aError(e, 'INVALID_ARGUMENT') && e.message.includes('visitor request: box'))
    } finally {
      t.done()
    }
  })

  it('delete: removes exactly the visitor\'s rows from memory and the sealed log (after a restart too) and queues the segments\' rewrite', async () => {
    const t = await setup()
    try {
      const me = await makeVisitorKeys()
      const token = await optInToken(me, site)
      const now = Date.now()
      for (let i = 0; i < 3; i++) await t.send(await t.page(), 0, `/mine-${i}`, { ip: '203.0.113.1', now, token })
      for (let i = 0; i < 4; i++) await t.send(await t.page(), 0, `/other-${i}`, { ip: `198.51.100.${i}`, now })
      const request = await visitorRequest(me, site, 'delete')
      // Events arriving while the log is rewritten wait, and are kept.
      const [answer] = await Promise.all([answerVisitorRequest({ raw: request, ingest: t.ingest, signer: t.worker, nowS: Math.floor(now / 1000) }), t.send(await t.page(), 0, '/during', { ip: '198.51.100.9', now })])
      assert.equal(await receiptProblem(answer, request, t.worker.address), null)
      assert.equal(answer.receipt.rows, 3)
      assert.equal(answer.receipt.segments, 'pending')
      assert.deepEqual(t.ingest.rewriteSites(), [site], "the stored segments' rewrite is queued")
      assert.equal(t.ingest.segmentDeletion(site, answer.receipt.visitor), 'pending')
      const left = () => t.ingest.rowsOf(site, 0).map((r) => r.page).sort()
      assert.deepEqual(left(), ['/during', '/other-0', '/other-1', '/other-2', '/other-3'])
      t.restart()
      assert.deepEqual(left(), ['/during', '/other-0', '/other-1', '/other-2', '/other-3'], 'gone from the sealed log too')
      assert.deepEqual(t.ingest.rewriteSites(), [site], 'the queued rewrite survives a restart')
      // Appends go on after the rewrite, and a second delete finds nothing.
      await t.send(await t.page(), 0, '/after', { ip: '198.51.100.10', now })
      const again = await answerVisitorRequest({ raw: await visitorRequest(me, site, 'delete'), ingest: t.ingest, signer: t.worker, nowS: Math.floor(now / 1000) })
      assert.equal(again.receipt.rows, 0)
      t.restart()
      assert.equal(left().length, 6)
      assert.ok(readFileSync(ingestLogFile(t.dir)).length > 0)
    } finally {
      t.done()
    }
  })

  it('delete: the open visit goes too, so the next event does not carry the deleted entry page and source', async () => {
    const t = await setup()
    try {
      const me = await makeVisitorKeys()
      const token = await optInToken(me, site)
      const now = Date.now()
      await t.send(await t.page(), 0, '/clinic/appointment?utm_source=secret-campaign', { ip: '203.0.113.1', now, token })
      await answerVisitorRequest({ raw: await visitorRequest(me, site, 'delete'), ingest: t.ingest, signer: t.worker, nowS: Math.floor(now / 1000) })
      assert.equal(t.ingest.rowsOf(site, 0).length, 0)
      // Still opted in, the visitor goes on browsing within 30 minutes.
      await t.send(await t.page(), 0, '/home', { ip: '203.0.113.1', now: now + 60_000, token })
      const [row] = t.ingest.rowsOf(site, 0)
      assert.equal(row!.entryPage, '/home', 'the deleted page is not the new visit\'s entry page')
      assert.equal(row!.utmSource, '', 'nor its campaign')
      assert.equal(row!.sessionStart, 1, 'a new visit')
      assert.equal(row!.durationS, 0, 'with no time since the deleted event')
    } finally {
      t.done()
    }
  })

  it("delete after an abandoned flush: the orphan segment holding the visitor's rows is unpinned from storage", async () => {
    const t = await setup()
    try {
      const me = await makeVisitorKeys()
      const token = await optInToken(me, site)
      const now = Date.now()
      const ctx = await t.page()
      for (let i = 0; i < 2; i++) await t.send(ctx, i, `/mine-${i}`, { ip: '203.0.113.1', now, token })
      // The segment is stored, its manifest update refused (or the host says so): the host abandons it.
      const orphan = (await t.ingest.prepareFlush(site, storage.postCar))!
      t.ingest.dropPrepared(site)
      await answerVisitorRequest({ raw: await visitorRequest(me, site, 'delete'), ingest: t.ingest, signer: t.worker, nowS: Math.floor(now / 1000) })
      const segment = orphan.manifest.segments.at(-1)!.cid.toString()
      assert.equal((await storage.rowsOf(orphan.manifest, testSite.dek)).filter((r) => String(r['page']).startsWith('/mine')).length, 2, "the orphan segment holds the visitor's rows, under the key the owner can derive")
      const unpin = t.ingest.sites.get(site)!.unpin
      assert.ok(unpin.includes(segment) && unpin.includes(orphan.manifestCid), 'it is on the list of roots to unpin (the next flush asks storage)')
      t.restart()
      assert.ok(t.ingest.sites.get(site)!.unpin.includes(segment), 'kept in the sealed site book')
    } finally {
      t.done()
    }
  })

  it("rewrite: the stored segments lose exactly the deleted visitor's rows, under a new key the owner's wrap opens and the old key does not; it survives a restart", async () => {
    const t = await setup()
    try {
      const [a, b] = [await makeVisitorKeys(), await makeVisitorKeys()]
      const [ta, tb] = [await optInToken(a, site), await optInToken(b, site)]
      const now = Date.now()
      for (let i = 0; i < 3; i++) await t.send(await t.page(), 0, `/a-${i}`, { ip: '203.0.113.1', now, token: ta })
      for (let i = 0; i < 3; i++) await t.send(await t.page(), 0, `/b-${i}`, { ip: '203.0.113.2', now, token: tb })
      for (let i = 0; i < 2; i++) await t.send(await t.page(), 0, `/c-${i}`, { ip: `198.51.100.${i}`, now })
      const first = (await t.ingest.prepareFlush(site, storage.postCar))!
      await t.ingest.confirmFlush(site, first.manifestCid, now)
      await t.send(await t.page(), 0, '/a-late', { ip: '203.0.113.1', now, token: ta }) // in the log, not yet in a segment
      const del = await visitorRequest(a, site, 'delete')
      const answer = await answerVisitorRequest({ raw: del, ingest: t.ingest, signer: t.worker, nowS: Math.floor(now / 1000) })
      // The events the worker held, as "see my data" shows them: the one still in the log and the three already in a segment (realtime rows).
      assert.equal(answer.receipt.rows, 4, 'the rows the worker held')
      const visitorA = answer.receipt.visitor
      await t.send(await t.page(), 0, '/b-while', { ip: '203.0.113.2', now, token: tb })
      assert.equal(await t.ingest.prepareFlush(site, storage.postCar), undefined, 'appends wait while the deletion has not reached the segments')
      const io = { fetchCar: storage.car, postCar: storage.postCar }
      const rewrite = (await t.ingest.prepareRewrite(site, io, now))!
      assert.deepEqual(rewrite.removed, { [visitorA]: 3 })
      t.restart() // a kill -9 between the rewrite and its RotateKey being mined: the same key and manifest come back
      const again = (await t.ingest.prepareRewrite(site, io, now))!
      assert.equal(again.manifestCid, rewrite.manifestCid)
      assert.deepEqual(again.dek, rewrite.dek)
      const pending = await answerVisitorRequest({ raw: await visitorRequest(a, site, 'rewrite'), ingest: t.ingest, signer: t.worker, nowS: Math.floor(now / 1000) })
      assert.equal(pending.receipt.segments, 'pending')

      const rows = await storage.rowsOf(rewrite.manifest, rewrite.dek)
      assert.deepEqual(rows.map((r) => r['page']).sort(), ['/b-0', '/b-1', '/b-2', '/c-0', '/c-1'], "exactly the other visitors' rows are left")
      assert.ok(!rows.some((r) => r['visitor_id'] === visitorA))
      assert.equal(rewrite.manifest.rows, 5)
      await assert.rejects(storage.rowsOf(rewrite.manifest, testSite.dek), (e) => isW3aError(e, 'ENVELOPE_AUTH_FAILED'), 'the old site key does not open the new segments')
      const wrap = rewrite.manifest.keyWraps[0]!
      assert.deepEqual(await unwrapDatasetKey({ recipientPrivateKey: testSite.wrapKey.privateKey, datasetId: site, enc: wrap.enc, ciphertext: wrap.ciphertext }), rewrite.dek, "the owner's wrap opens the new key")
      assert.deepEqual(new Set(rewrite.unpin), new Set([first.manifestCid, ...first.manifest.segments.map((x) => x.cid.toString())]))

      t.ingest.confirmRewrite(site, rewrite.manifestCid, now)
      const request = await visitorRequest(a, site, 'rewrite')
      const done = await answerVisitorRequest({ raw: request, ingest: t.ingest, signer: t.worker, nowS: Math.floor(now / 1000) })
      assert.equal(await receiptProblem(done, request, t.worker.address), null)
      assert.deepEqual([done.receipt.segments, done.receipt.rows], [rewrite.manifestCid, 3])
      const never = await answerVisitorRequest({ raw: await visitorRequest(b, site, 'rewrite'), ingest: t.ingest, signer: t.worker, nowS: Math.floor(now / 1000) })
      assert.equal(never.receipt.segments, '', 'a visitor who never deleted has no rewrite')
      assert.deepEqual(t.ingest.rewriteSites(), [])
      t.restart()
      assert.deepEqual(t.ingest.sites.get(site)!.dek, rewrite.dek, 'the new key is the site key after a restart')
      // Appends resume, sealed under the new key.
      const next = (await t.ingest.prepareFlush(site, storage.postCar))!
      assert.deepEqual((await storage.rowsOf(next.manifest, rewrite.dek)).map((r) => r['page']).sort(), ['/b-0', '/b-1', '/b-2', '/b-while', '/c-0', '/c-1'])
    } finally {
      t.done()
    }
  })
})
