import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { bytesToHex } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { generateHpkeKeyPair } from '../crypto/hpke.js'
import { isW3aError } from '../core/errors.js'
import { openEventContext, sealEvent } from '../tracker/seal-event.js'
import { Ingest } from './ingest.js'
import { INGEST_LOG_LABEL } from './ingest-log.js'
import { SITES_LABEL } from './ingest-sites.js'
import { seal, writeSealedFile } from '../tee/index.js'
import { answerStats, checkStatsRequest, statsRequestText, type StatsRequest } from './ingest-stats.js'
import { enrich, isBot } from './ingest-enrich.js'
import { ingestHeadAt, ingestLogFile, makeTestSite, memoryStorage } from './ingest-fixture.test.js'

const UA = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36'
const storage = memoryStorage()
const testSite = await makeTestSite(storage, 31337)
const owner = testSite.account
const salt = testSite.salt
const site = testSite.id
/** A stats request's answer key (the answers themselves are opened in ingest-stats.test.ts). */
const BOX = bytesToHex(randomBytes(32))
/** The ingest enclave's own address (the site registration names it). */
const SELF = privateKeyToAccount(bytesToHex(randomBytes(32))).address

/** An ingest enclave (`make` opens it again, as after a restart) with the test site registered by its owner. */
async function setup() {
  const dir = mkdtempSync(join(tmpdir(), 'w3a-ingest-'))
  const key = await generateHpkeKeyPair()
  const sealingKey = randomBytes(32)
  const make = () => new Ingest({ dir, sealingKey, hpkePrivateKey: key.privateKey, head: ingestHeadAt(dir, sealingKey) })
  const registerWith = async (ingest: Ingest, request: unknown, self = SELF) =>
    ingest.registerSite(request, { chainId: 31337, self, hpkePrivateKey: key.privateKey, nowS: Math.floor(Date.now() / 1000), manifestOf: storage.manifestOf })
  const first = make()
  await registerWith(first, await testSite.registration({ address: SELF, hpkePublicKey: bytesToHex(key.publicKey) }))
  first.close()
  return { dir, key, sealingKey, make, registerWith, done: () => rmSync(dir, { recursive: true, force: true }) }
}

describe('ingest enclave', () => {
  it('opens tracker-sealed events, drops bots, sessionizes, and keeps only derived labels (no IP, UA or URL on disk)', async () => {
    const t = await setup()
    try {
      const ingest = t.make()
      const ctx = await openEventContext(site, t.key.publicKey)
      const t0 = Date.UTC(2025, 0, 1, 12)
      const ev = (u: string, r: string | null = null) => ({ n: 'pageview', u, d: site, r, w: 1280 })
      await ingest.accept({ envelope: await sealEvent(ctx, 0, ev('https://shop.example/?utm_source=newsletter&utm_medium=email', 'https://mail.example/secret-inbox')), ip: '203.0.113.9', userAgent: UA, now: t0 })
      await ingest.accept({ envelope: await sealEvent(ctx, 2, ev('https://shop.example/cart')), ip: '203.0.113.9', userAgent: UA, now: t0 + 10 * 60_000 })
      await ingest.accept({ envelope: await sealEvent(ctx, 1, ev('https://shop.example/later')), ip: '203.0.113.9', userAgent: UA, now: t0 + 50 * 60_000 })
      const bot = await ingest.accept({ envelope: await sealEvent(ctx, 3, ev('https://shop.example/')), ip: '203.0.113.9', userAgent: 'Googlebot/2.1', now: t0 })
      assert.deepEqual(bot, { accepted: false, reason: 'bot' })
      // The host (or anyone) replays an envelope already counted: it is not counted again.
      const first = await sealEvent(ctx, 7, ev('https://shop.example/again'))
      assert.deepEqual(await ingest.accept({ envelope: first, ip: '203.0.113.9', userAgent: UA, now: t0 + 51 * 60_000 }), { accepted: true })
      assert.deepEqual(await ingest.accept({ envelope: first, ip: '203.0.113.9', userAgent: UA, now: t0 + 51 * 60_000 }), { accepted: false, reason: 'duplicate' })
      const rows = ingest.rowsOf(site, 0)
      assert.equal(rows.length, 4)
      assert.equal(new Set(rows.map((r) => r.visitor)).size, 1)
      assert.equal(rows[0]!.session, rows[1]!.session, 'within 30 minutes: one session')
      assert.notEqual(rows[1]!.session, rows[2]!.session, 'a 40-minute gap starts a new session')
      assert.deepEqual([rows[0]!.source, rows[0]!.channel, rows[0]!.utmMedium, rows[0]!.page, rows[0]!.browser, rows[0]!.os, rows[0]!.device], ['newsletter', 'Email', 'email', '/', 'Chrome', 'GNU/Linux', 'Laptop'])
      assert.equal(rows[2]!.entryPage, '/later')
      assert.deepEqual([rows[1]!.source, rows[1]!.entryPage, rows[2]!.source], ['newsletter', '/', 'Direct / None'], 'a visit keeps its entry source; a new visit has its own')
      ingest.close()
      const disk = Buffer.concat(readdirSync(t.dir).map((f) => readFileSync(join(t.dir, f)))).toString('latin1')
      for (const secret of ['203.0.113.9', 'secret-inbox', 'shop.example', 'Chrome/131', 'newsletter']) assert.ok(!disk.includes(secret), `${secret} is not on disk`)
    } finally {
      t.done()
    }
  })

  it('refuses an event sealed to another key or site, or altered', async () => {
    const t = await setup()
    try {
      const ingest = t.make()
      const other = await generateHpkeKeyPair()
      const ev = { n: 'pageview', u: 'https://a.example/', d: site }
      const wrongKey = await sealEvent(await openEventContext(site, other.publicKey), 0, ev)
      await assert.rejects(ingest.accept({ envelope: wrongKey, ip: '1.2.3.4', userAgent: UA, now: Date.now() }), (e) => isW3aError(e, 'HPKE_OPEN_FAILED'))
      const good = await sealEvent(await openEventContext(site, t.key.publicKey), 0, ev)
      // Moved to a site not registered here: refused by its id. Moved to another registered site: does not open (the info binds the site).
      await assert.rejects(ingest.accept({ envelope: { ...good, s: '0x' + 'ab'.repeat(32) }, ip: '1.2.3.4', userAgent: UA, now: Date.now() }), (e) => isW3aError(e, 'SITE_NOT_REGISTERED'))
      const registered = await makeTestSite(storage, 31337, 'other.example')
      await t.registerWith(ingest, await registered.registration({ address: SELF, hpkePublicKey: bytesToHex(t.key.publicKey) }))
      await assert.rejects(ingest.accept({ envelope: { ...good, s: registered.id }, ip: '1.2.3.4', userAgent: UA, now: Date.now() }), (e) => isW3aError(e, 'HPKE_OPEN_FAILED'))
      const flipped = { ...good, q: 1 }
      await assert.rejects(ingest.accept({ envelope: flipped, ip: '1.2.3.4', userAgent: UA, now: Date.now() }), (e) => isW3aError(e, 'HPKE_OPEN_FAILED'))
      await assert.rejects(ingest.accept({ envelope: { ...good, extra: 1, c: 'x' }, ip: '1.2.3.4', userAgent: UA, now: Date.now() }), (e) => isW3aError(e, 'INPUT_MALFORMED'))
      // Each malformed field is named.
      const malformed = (field: string) => (e: unknown) => isW3aError(e, 'INPUT_MALFORMED') && e.message.includes(`sealed event: ${field}`)
      for (const [field, envelope] of [['v', { ...good, v: 2 }], ['s', { ...good, s: 'site' }], ['k', { ...good, k: good.k.slice(1) }], ['q', { ...good, q: -1 }], ['q', { ...good, q: 1.5 }], ['c', { ...good, c: 'not base64url!' }], ['not an envelope', [good]], ['not an envelope', null]] as const) {
        await assert.rejects(ingest.accept({ envelope, ip: '1.2.3.4', userAgent: UA, now: Date.now() }), malformed(field), field)
      }
      // A malformed field inside the sealed event is named too (its value is not echoed).
      const inside = async (field: string, e: Record<string, unknown>) => {
        const sealed = await sealEvent(await openEventContext(site, t.key.publicKey), 0, { ...ev, ...e } as typeof ev)
        await assert.rejects(ingest.accept({ envelope: sealed, ip: '1.2.3.4', userAgent: UA, now: Date.now() }), malformed(field), field)
      }
      await inside('u', { u: 'https://a.example/' + 'x'.repeat(3000) })
      await inside('r', { r: 7 })
      await inside('p', { p: Object.fromEntries(Array.from({ length: 31 }, (_, i) => [`k${i}`, i])) })
      await inside('p', { p: { secretPropName: { nested: true } } })
      const named = await sealEvent(await openEventContext(site, t.key.publicKey), 0, { ...ev, p: { secretPropName: { nested: true } } } as unknown as typeof ev)
      await assert.rejects(ingest.accept({ envelope: named, ip: '1.2.3.4', userAgent: UA, now: Date.now() }), (e) => e instanceof Error && !e.message.includes('secretPropName'), 'a prop key (plaintext) is not in the error')
      await inside('$', { $: { amount: 1, currency: 'usd' } })
      // A page that is not a URL is refused (and not remembered: the same envelope is refused again, not taken for a replay).
      const notUrl = await sealEvent(await openEventContext(site, t.key.publicKey), 0, { ...ev, u: 'not a url' })
      for (let i = 0; i < 2; i++) await assert.rejects(ingest.accept({ envelope: notUrl, ip: '1.2.3.4', userAgent: UA, now: Date.now() }), malformed('u is not a URL'))
      assert.equal(ingest.rowsOf(site, 0).length, 0)
      ingest.close()
    } finally {
      t.done()
    }
  })

  it('a replayed envelope whose enc is spelled another way (base64url padding bits) is still a replay, not a new event', async () => {
    const t = await setup()
    try {
      const ingest = t.make()
      const good = await sealEvent(await openEventContext(site, t.key.publicKey), 0, { n: 'pageview', u: 'https://shop.example/', d: site })
      assert.deepEqual(await ingest.accept({ envelope: good, ip: '1.2.3.4', userAgent: UA, now: Date.now() }), { accepted: true })
      // 43 base64url characters carry 258 bits for 32 bytes: the last one's 2 low bits are padding, so
      // 4 spellings decode to the same enc. The host replays the envelope under the 3 others.
      const ABC = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
      const last = ABC.indexOf(good.k.at(-1)!)
      for (const pad of [1, 2, 3]) {
        const k = good.k.slice(0, -1) + ABC[last ^ pad]
        assert.deepEqual(Buffer.from(k, 'base64url'), Buffer.from(good.k, 'base64url'), 'the same 32 bytes')
        await assert.rejects(ingest.accept({ envelope: { ...good, k }, ip: '1.2.3.4', userAgent: UA, now: Date.now() }), (e) => isW3aError(e, 'INPUT_MALFORMED') && e.message.includes('sealed event: k'))
      }
      assert.equal(ingest.rowsOf(site, 0).length, 1, 'counted once')
      ingest.close()
    } finally {
      t.done()
    }
  })

  it('envelopes that do not open, or name a site not registered here, cost no key agreement and take no place in the key cache', async () => {
    const t = await setup()
    try {
      const ingest = t.make()
      const good = await sealEvent(await openEventContext(site, t.key.publicKey), 0, { n: 'pageview', u: 'https://shop.example/', d: site })
      const junk = (i: number) => ({ ...good, k: randomBytes(32).toString('base64url'), q: i })
      // Any internet client floods the gateway with envelopes made of random bytes, for a registered site and for one that is not.
      for (let i = 0; i < 50; i++) await assert.rejects(ingest.accept({ envelope: junk(i), ip: '1.2.3.4', userAgent: UA, now: Date.now() }), (e) => isW3aError(e, 'HPKE_OPEN_FAILED'))
      for (let i = 0; i < 50; i++) await assert.rejects(ingest.accept({ envelope: { ...junk(i), s: '0x' + 'ab'.repeat(32) }, ip: '1.2.3.4', userAgent: UA, now: Date.now() }), (e) => isW3aError(e, 'SITE_NOT_REGISTERED'))
      assert.equal(ingest.unknownSiteRefusals, 50, 'refused by the site id, before any X25519')
      assert.equal(ingest.cachedEventKeys, 0, "none evicts a real page's key")
      assert.deepEqual(await ingest.accept({ envelope: good, ip: '1.2.3.4', userAgent: UA, now: Date.now() }), { accepted: true })
      assert.equal(ingest.cachedEventKeys, 1)
      ingest.close()
    } finally {
      t.done()
    }
  })

  it('a data dir of an earlier version (site book and log in sealed files of their own) is moved under the sealed head once', async () => {
    const t = await setup()
    try {
      const ctx = await openEventContext(site, t.key.publicKey)
      let ingest = t.make()
      for (let i = 0; i < 2; i++) await ingest.accept({ envelope: await sealEvent(ctx, i, { n: 'pageview', u: `https://a.example/p${i}`, d: site }), ip: `10.0.0.${i}`, userAgent: UA, now: Date.now() })
      const rows = ingest.rowsOf(site, 0)
      ingest.close()
      // What an earlier version left: sites.sealed and events.wal (frames { i, rows }), no head.
      const book = ingestHeadAt(t.dir, t.sealingKey).read('sites')!
      for (const n of readdirSync(t.dir)) rmSync(join(t.dir, n))
      writeSealedFile(join(t.dir, 'sites.sealed'), t.sealingKey, SITES_LABEL, book)
      const frame = Buffer.from(seal(t.sealingKey, new TextEncoder().encode(JSON.stringify({ i: 0, rows })), { label: INGEST_LOG_LABEL }))
      const length = Buffer.alloc(4)
      length.writeUInt32BE(frame.length)
      writeFileSync(join(t.dir, 'events.wal'), Buffer.concat([length, frame]))
      ingest = t.make()
      assert.deepEqual(ingest.rowsOf(site, 0).map((r) => r.page), ['/p0', '/p1'])
      assert.equal(ingest.sites.get(site)?.owner, owner.address.toLowerCase())
      ingest.close()
      assert.ok(!existsSync(join(t.dir, 'sites.sealed')) && !existsSync(join(t.dir, 'events.wal')), 'the files of the earlier version are gone')
      ingest = t.make()
      assert.deepEqual(ingest.rowsOf(site, 0).map((r) => r.page), ['/p0', '/p1'], 'read from the head and its pinned log since')
      ingest.close()
    } finally {
      t.done()
    }
  })

  it('acknowledged events survive a restart; a host that drops or reorders log frames is caught', async () => {
    const t = await setup()
    try {
      const ctx = await openEventContext(site, t.key.publicKey)
      let ingest = t.make()
      for (let i = 0; i < 3; i++) await ingest.accept({ envelope: await sealEvent(ctx, i, { n: 'pageview', u: `https://a.example/p${i}`, d: site }), ip: `10.0.0.${i}`, userAgent: UA, now: Date.now() })
      ingest.close()
      ingest = t.make() // as after kill -9: only the sealed log is left
      assert.deepEqual(ingest.rowsOf(site, 0).map((r) => r.page), ['/p0', '/p1', '/p2'])
      ingest.close()
      // The host cuts out a frame appended since the last pin (u32 length ‖ sealed bytes): the order check catches it.
      const wal = ingestLogFile(t.dir)
      const bytes = readFileSync(wal)
      const frameAt = (at: number) => at + 4 + bytes.readUInt32BE(at)
      const pinnedEnd = frameAt(0) // the first frame (the empty one of the generation) is what the registration pinned
      writeFileSync(wal, Buffer.concat([bytes.subarray(0, pinnedEnd), bytes.subarray(frameAt(pinnedEnd))]))
      assert.throws(() => t.make(), (e) => isW3aError(e, 'INGEST_LOG_BROKEN'))
      // It cuts into the pinned prefix (the sealed head pins its length and hash): a rolled-back log.
      writeFileSync(wal, bytes.subarray(pinnedEnd))
      assert.throws(() => t.make(), (e) => isW3aError(e, 'STATE_ROLLED_BACK'))
    } finally {
      t.done()
    }
  })

  it('answers its owner only, under the k rule', async () => {
    const t = await setup()
    try {
      const ingest = t.make()
      const now = Date.now()
      for (let v = 0; v < 12; v++) {
        const ctx = await openEventContext(site, t.key.publicKey)
        const page = v < 10 ? '/popular' : '/rare'
        await ingest.accept({ envelope: await sealEvent(ctx, 0, { n: 'pageview', u: `https://a.example${page}`, d: site, r: 'https://www.google.com/' }), ip: `198.51.100.${v}`, userAgent: UA, now })
      }
      const base = { site, owner: owner.address, salt, metrics: ['visitors', 'pageviews'] as StatsRequest['metrics'], dimensions: ['event:page'] as StatsRequest['dimensions'], period: '5m' as const, box: BOX, issuedAt: Math.floor(now / 1000) }
      const signature = await owner.signMessage({ message: statsRequestText(base, 31337) })
      const r = await checkStatsRequest({ ...base, signature }, { chainId: 31337, nowS: base.issuedAt })
      const answer = answerStats(r, ingest.rowsOf(site, now - 300_000), 10)
      assert.deepEqual(answer.results, [{ dimensions: ['/popular'], metrics: [10, 10] }])
      assert.equal(answer.meta.privacy.suppressed, 1)
      const stranger = privateKeyToAccount(bytesToHex(randomBytes(32)))
      await assert.rejects(checkStatsRequest({ ...base, signature: await stranger.signMessage({ message: statsRequestText(base, 31337) }) }, { chainId: 31337, nowS: base.issuedAt }), (e) => isW3aError(e, 'SIGNATURE_INVALID'))
      await assert.rejects(checkStatsRequest({ ...base, owner: stranger.address, signature: await stranger.signMessage({ message: statsRequestText({ ...base, owner: stranger.address }, 31337) }) }, { chainId: 31337, nowS: base.issuedAt }), (e) => isW3aError(e, 'ACCESS_DENIED'))
      await assert.rejects(checkStatsRequest({ ...base, signature }, { chainId: 1, nowS: base.issuedAt }), (e) => isW3aError(e, 'SIGNATURE_INVALID'))
      // The gateway swaps the answer key for its own: the owner signed another one.
      await assert.rejects(checkStatsRequest({ ...base, box: `0x${'77'.repeat(32)}`, signature }, { chainId: 31337, nowS: base.issuedAt }), (e) => isW3aError(e, 'SIGNATURE_INVALID'))
      await assert.rejects(checkStatsRequest({ ...base, signature }, { chainId: 31337, nowS: base.issuedAt + 3600 }), (e) => isW3aError(e, 'COMMAND_EXPIRED'))
      ingest.close()
    } finally {
      t.done()
    }
  })
})

describe('ingest country', () => {
  it('labels rows with the country of the IPv4 or IPv6 address, keeps no IP, and groups stats by visit:country under k', async () => {
    const t = await setup()
    try {
      const ingest = t.make()
      const now = Date.now()
      const ips = [...Array.from({ length: 10 }, (_, i) => `81.2.69.${160 + i}`), '2001:4860:4860::8888', '10.0.0.1']
      for (const ip of ips) await ingest.accept({ envelope: await sealEvent(await openEventContext(site, t.key.publicKey), 0, { n: 'pageview', u: 'https://a.example/', d: site }), ip, userAgent: UA, now })
      assert.deepEqual(ingest.rowsOf(site, 0).map((r) => r.country), [...Array<string>(10).fill('GB'), 'US', ''])
      const base = { site, owner: owner.address, salt, metrics: ['visitors'] as StatsRequest['metrics'], dimensions: ['visit:country'] as StatsRequest['dimensions'], period: '5m' as const, box: BOX, issuedAt: Math.floor(now / 1000) }
      const r = await checkStatsRequest({ ...base, signature: await owner.signMessage({ message: statsRequestText(base, 31337) }) }, { chainId: 31337, nowS: base.issuedAt })
      const answer = answerStats(r, ingest.rowsOf(site, now - 300_000), 10)
      assert.deepEqual(answer.results, [{ dimensions: ['GB'], metrics: [10] }])
      assert.equal(answer.meta.privacy.suppressed, 2)
      ingest.close()
      const disk = Buffer.concat(readdirSync(t.dir).map((f) => readFileSync(join(t.dir, f)))).toString('latin1')
      for (const ip of ['81.2.69.16', '2001:4860']) assert.ok(!disk.includes(ip), `${ip} is not on disk`)
    } finally {
      t.done()
    }
  })
})

describe('ingest enclave: registered sites and their segments', () => {
  const ev = (page: string, n = 'pageview') => ({ n, u: `https://shop.example${page}`, d: site })

  it("registers only its owner's signed request naming this enclave; events for any other site are refused, counted, not stored", async () => {
    const t = await setup()
    try {
      const ingest = t.make()
      const other = await makeTestSite(storage, 31337, 'other.example')
      const ctx = await openEventContext(other.id, t.key.publicKey)
      await assert.rejects(ingest.accept({ envelope: await sealEvent(ctx, 0, ev('/')), ip: '1.2.3.4', userAgent: UA, now: Date.now() }), (e) => isW3aError(e, 'SITE_NOT_REGISTERED'))
      assert.equal(ingest.unknownSiteRefusals, 1)
      assert.equal(ingest.rowsOf(other.id, 0).length, 0)
      const me = { address: SELF, hpkePublicKey: bytesToHex(t.key.publicKey) }
      const good = await other.registration(me)
      // Another owner's signature, another enclave named, a stale request, a key that does not match its hash.
      const stranger = privateKeyToAccount(bytesToHex(randomBytes(32)))
      await assert.rejects(t.registerWith(ingest, { ...good, signature: await stranger.signMessage({ message: 'x' }) }), (e) => isW3aError(e, 'SIGNATURE_INVALID'))
      await assert.rejects(t.registerWith(ingest, good, stranger.address), (e) => isW3aError(e, 'ACCESS_DENIED'))
      await assert.rejects(t.registerWith(ingest, await other.registration(me, { issuedAt: Math.floor(Date.now() / 1000) - 3600 })), (e) => isW3aError(e, 'COMMAND_EXPIRED'))
      await assert.rejects(t.registerWith(ingest, { ...good, sealedKey: (await testSite.registration(me)).sealedKey }), (e) => isW3aError(e, 'HPKE_OPEN_FAILED'))
      assert.equal(ingest.sites.get(other.id), undefined)
      await t.registerWith(ingest, good)
      assert.deepEqual(await ingest.accept({ envelope: await sealEvent(ctx, 1, ev('/')), ip: '1.2.3.4', userAgent: UA, now: Date.now() }), { accepted: true })
      ingest.close()
      assert.ok(t.make().sites.get(other.id), 'the registration is sealed on disk')
    } finally {
      t.done()
    }
  })

  it('batches acknowledged rows into a segment sealed with the site key; after the manifest update the log keeps only waiting rows', async () => {
    const t = await setup()
    try {
      let ingest = t.make()
      const t0 = Date.now()
      const send = async (v: number, q: number, e: ReturnType<typeof ev>, at: number) => {
        const ctx = await openEventContext(site, t.key.publicKey)
        return ingest.accept({ envelope: await sealEvent(ctx, q, e), ip: `203.0.113.${v}`, userAgent: UA, now: at })
      }
      // Visitor 1: two pages 40 s apart and a Signup; visitor 2: one page (a bounce).
      await send(1, 0, ev('/'), t0)
      await send(1, 1, ev('/pricing'), t0 + 40_000)
      await send(1, 2, { ...ev('/pricing', 'Signup'), $: { amount: 49, currency: 'EUR' } } as never, t0 + 50_000)
      await send(2, 0, ev('/'), t0 + 1000)
      assert.deepEqual(ingest.pendingSites(), [{ site, rows: 4 }])
      const flush = (await ingest.prepareFlush(site, storage.postCar))!
      assert.equal(flush.rows, 4)
      assert.equal(flush.manifest.segments.length, 2, 'appended after the owner\'s empty first segment')
      assert.equal(flush.manifest.rows, 4)
      assert.equal(await ingest.prepareFlush(site, storage.postCar), flush, 'prepared again until confirmed')
      const rows = await storage.rowsOf(await storage.manifestOf(flush.manifestCid), testSite.dek)
      assert.deepEqual(
        rows.map((r) => [r['name'], r['page'], r['pageview'], r['session_start'], r['bounce'], r['duration_s'], r['exit_page'], r['revenue_amount']]),
        [
          ['pageview', '/', 1, 1, 1, 0, '/pricing', null],
          ['pageview', '/pricing', 1, 0, -1, 40, '/pricing', null],
          ['Signup', '/pricing', 0, 0, 0, 10, '/pricing', 49],
          ['pageview', '/', 1, 1, 1, 0, '/', null],
        ],
      )
      assert.equal(new Set(rows.map((r) => r['visitor_id'])).size, 2)
      // An event arriving while the update is mined goes into the next segment.
      await send(3, 0, ev('/later'), t0 + 60_000)
      const walBefore = statSync(ingestLogFile(t.dir)).size
      const registered = ingest.sites.get(site)!.manifestCid
      await ingest.confirmFlush(site, flush.manifestCid, t0 + 60_000)
      assert.ok(statSync(ingestLogFile(t.dir)).size < walBefore, 'the log is compacted')
      assert.equal(ingest.sites.get(site)!.manifestCid, flush.manifestCid)
      assert.deepEqual(ingest.sites.get(site)!.unpin, [registered], 'the manifest it replaces waits to be unpinned (each lists every segment)')
      assert.deepEqual(ingest.pendingSites(), [{ site, rows: 1 }])
      assert.equal(ingest.rowsOf(site, 0).length, 5, 'the realtime window still has them')
      ingest.close()
      ingest = t.make()
      assert.deepEqual(ingest.rowsOf(site, 0).map((r) => r.page), ['/later'], 'only the waiting row is replayed')
      const next = (await ingest.prepareFlush(site, storage.postCar))!
      await ingest.confirmFlush(site, next.manifestCid, Date.now())
      assert.deepEqual(ingest.sites.get(site)!.unpin, [registered, flush.manifestCid], 'kept across a restart, in order')
      const all = await storage.rowsOf(await storage.manifestOf(next.manifestCid), testSite.dek)
      assert.deepEqual(all.map((r) => r['page']), ['/', '/pricing', '/pricing', '/', '/later'], 'every acknowledged row is in a segment, once')
      ingest.close()
    } finally {
      t.done()
    }
  })

  it('keeps the newest flushed rows for the realtime figure up to its cap, and every waiting row; the log holds only the waiting ones', async () => {
    const t = await setup()
    try {
      const ingest = new Ingest({ dir: t.dir, sealingKey: t.sealingKey, hpkePrivateKey: t.key.privateKey, head: ingestHeadAt(t.dir, t.sealingKey), maxRealtimeRows: 2 })
      const send = async (page: string) => ingest.accept({ envelope: await sealEvent(await openEventContext(site, t.key.publicKey), 0, ev(page)), ip: '198.51.100.7', userAgent: UA, now: Date.now() })
      for (const page of ['/a', '/b', '/c', '/d']) await send(page)
      const flush = (await ingest.prepareFlush(site, storage.postCar))!
      await send('/e') // arrives while the update is mined: waits for the next segment
      await ingest.confirmFlush(site, flush.manifestCid, Date.now())
      assert.deepEqual(ingest.rowsOf(site, 0).map((r) => r.page), ['/c', '/d', '/e'], 'the two newest flushed rows, and the waiting one')
      const kept = ingest.rowsOf(site, 0)
      assert.ok(ingest.coveredFrom(0) > 0 && ingest.coveredFrom(0) <= kept[0]!.ts + 1, 'an answer from 0 says it covers less (from just after the newest dropped row)')
      assert.equal(ingest.coveredFrom(kept[0]!.ts + 1), kept[0]!.ts + 1, 'a window inside what is kept is whole')
      assert.deepEqual(ingest.pendingSites(), [{ site, rows: 1 }])
      ingest.close()
      const again = t.make()
      assert.deepEqual(again.rowsOf(site, 0).map((r) => r.page), ['/e'], 'the compacted log holds the waiting row only')
      again.close()
    } finally {
      t.done()
    }
  })

  it('holds rows by their bytes too: a client sending the largest events fills the caps at their byte size, not 13 times it', async () => {
    const t = await setup()
    try {
      // A cap of 100 KB stands for the real 512 MB: the same rule at a size a test can reach.
      const ingest = new Ingest({ dir: t.dir, sealingKey: t.sealingKey, hpkePrivateKey: t.key.privateKey, head: ingestHeadAt(t.dir, t.sealingKey), maxHeldBytes: 100_000 })
      // The largest props a sealed event carries: 30 of them, about 5 KB of text a row.
      const props = Object.fromEntries(Array.from({ length: 30 }, (_, i) => [`prop-${i}`, 'x'.repeat(150)]))
      const send = async (page: string) => ingest.accept({ envelope: await sealEvent(await openEventContext(site, t.key.publicKey), 0, { ...ev(page, 'Signup'), p: props }), ip: '198.51.100.7', userAgent: UA, now: Date.now() })
      let accepted = 0
      for (let i = 0; i < 40; i++) {
        const out = await send(`/${i}`).catch((e: unknown) => (isW3aError(e, 'INGEST_BUSY') ? 'busy' : Promise.reject(e)))
        if (out === 'busy') break
        accepted++
      }
      assert.ok(accepted >= 15 && accepted <= 22, `about 100 KB of 5 KB rows waiting, then INGEST_BUSY (accepted ${accepted})`)
      const flush = (await ingest.prepareFlush(site, storage.postCar))!
      await ingest.confirmFlush(site, flush.manifestCid, Date.now())
      const kept = ingest.rowsOf(site, 0)
      assert.ok(kept.length < accepted && kept.length >= 15, `the realtime rows keep to about 100 KB too (kept ${kept.length} of ${accepted})`)
      assert.equal(kept.at(-1)!.page, `/${accepted - 1}`, 'the newest kept')
      assert.ok(ingest.coveredFrom(0) > 0, 'and the answer says it covers less')
      assert.deepEqual(await send('/after'), { accepted: true }, 'once flushed, events are taken again')
      ingest.close()
    } finally {
      t.done()
    }
  })

  it('after a restart with every row in a confirmed segment, new rows still wait for the next segment (row numbers go on)', async () => {
    const t = await setup()
    try {
      const first = t.make()
      const send = async (ingest: Ingest, page: string) => ingest.accept({ envelope: await sealEvent(await openEventContext(site, t.key.publicKey), 0, ev(page)), ip: '198.51.100.7', userAgent: UA, now: Date.now() })
      for (const page of ['/a', '/b', '/c']) await send(first, page)
      const flush = (await first.prepareFlush(site, storage.postCar))!
      await first.confirmFlush(site, flush.manifestCid, Date.now())
      first.close()
      // The host restarts the enclave: the compacted log is empty.
      const again = t.make()
      assert.deepEqual(await send(again, '/after-restart'), { accepted: true })
      assert.deepEqual(again.pendingSites(), [{ site, rows: 1 }], 'the acknowledged row waits for a segment')
      const next = (await again.prepareFlush(site, storage.postCar))!
      assert.equal(next.rows, 1)
      await again.confirmFlush(site, next.manifestCid, Date.now())
      const rows = await storage.rowsOf(next.manifest, testSite.dek)
      assert.deepEqual(rows.map((r) => r['page']).sort(), ['/a', '/after-restart', '/b', '/c'])
      again.close()
    } finally {
      t.done()
    }
  })

  it('after a restart the realtime answer says it covers only from the restart: the flushed rows of the last hour were in memory only', async () => {
    const t = await setup()
    try {
      const first = t.make()
      const send = async (ingest: Ingest, page: string) => ingest.accept({ envelope: await sealEvent(await openEventContext(site, t.key.publicKey), 0, ev(page)), ip: '198.51.100.7', userAgent: UA, now: Date.now() })
      for (const page of ['/a', '/b']) await send(first, page)
      const flush = (await first.prepareFlush(site, storage.postCar))!
      await first.confirmFlush(site, flush.manifestCid, Date.now())
      await send(first, '/waiting')
      const since = Date.now() - 60_000
      assert.equal(first.rowsOf(site, since).length, 3)
      assert.equal(first.coveredFrom(since), since, 'all of the last minute is in memory')
      first.close()
      const restartedAt = Date.now()
      const again = t.make()
      assert.deepEqual(again.rowsOf(site, since).map((r) => r.page), ['/waiting'], 'only the waiting row came back, from the log')
      assert.ok(again.coveredFrom(since) >= restartedAt, 'so the answer says from when it counts, not the whole window')
      again.close()
    } finally {
      t.done()
    }
  })

  it('a host restarting the enclave cannot make one visitor count as k: the k rule counts visitors within one salt', async () => {
    const t = await setup()
    try {
      const k = 3
      const request = { site, owner: owner.address, salt, metrics: ['visitors', 'pageviews'], dimensions: ['event:page'], period: '1h', box: BOX, issuedAt: 1, signature: '0x00' } as StatsRequest
      const view = async (ingest: Ingest, page: string, ip: string) => ingest.accept({ envelope: await sealEvent(await openEventContext(site, t.key.publicKey), 0, ev(page)), ip, userAgent: UA, now: Date.now() })
      // One visitor reads a page; the host restarts the enclave between each of their page views (a new salt each time).
      let ingest = t.make()
      for (let i = 0; i < k; i++) {
        if (i > 0) (ingest.close(), (ingest = t.make()))
        await view(ingest, '/secret', '203.0.113.5')
        await view(ingest, '/popular', `198.51.100.${i}`)
      }
      const rows = ingest.rowsOf(site, 0)
      assert.equal(new Set(rows.filter((r) => r.page === '/secret').map((r) => r.visitor)).size, k, 'under 3 salts the one person has 3 ids')
      assert.deepEqual(answerStats(request, rows, k).results, [], 'yet no page is shown: no salt saw k visitors')
      // k people under one salt are shown (every acknowledged row still counted in the figures).
      for (let i = 0; i < k; i++) await view(ingest, '/popular', `192.0.2.${i}`)
      assert.deepEqual(answerStats(request, ingest.rowsOf(site, 0), k).results, [{ dimensions: ['/popular'], metrics: [2 * k, 2 * k] }])
      ingest.close()
    } finally {
      t.done()
    }
  })

  it('segments are capped by their bytes too: the largest events make smaller segments, every row flushed in turn', async () => {
    const t = await setup()
    try {
      // A cap of 40 KB stands for the real 64 MB (past which 200,000 of the largest rows would pass V8's longest string).
      const ingest = new Ingest({ dir: t.dir, sealingKey: t.sealingKey, hpkePrivateKey: t.key.privateKey, head: ingestHeadAt(t.dir, t.sealingKey), maxSegmentBytes: 40_000 })
      const props = Object.fromEntries(Array.from({ length: 30 }, (_, i) => [`prop-${i}`, 'x'.repeat(150)]))
      const ctx = await openEventContext(site, t.key.publicKey)
      for (let i = 0; i < 20; i++) await ingest.accept({ envelope: await sealEvent(ctx, i, { ...ev(`/${i}`, 'Signup'), p: props }), ip: '198.51.100.7', userAgent: UA, now: Date.now() })
      const segments: number[] = []
      let manifest
      for (let round = 0; round < 10 && ingest.pendingSites().length > 0; round++) {
        const flush = (await ingest.prepareFlush(site, storage.postCar))!
        segments.push(flush.rows)
        await ingest.confirmFlush(site, flush.manifestCid, Date.now())
        manifest = flush.manifest
      }
      assert.ok(segments.length >= 2 && segments.every((n) => n >= 1 && n <= 8), `5 KB rows in segments of at most 40 KB (${segments.join(', ')})`)
      assert.equal(segments.reduce((a, b) => a + b, 0), 20, 'every row, once')
      assert.equal((await storage.rowsOf(manifest!, testSite.dek)).filter((r) => r['name'] === 'Signup').length, 20)
      ingest.close()
    } finally {
      t.done()
    }
  })

  it('kill -9 before the manifest update is confirmed loses nothing and counts nothing twice; an older log restored by the host is refused or ignored, never replayed', async () => {
    const t = await setup()
    try {
      let ingest = t.make()
      for (let v = 0; v < 5; v++) {
        const ctx = await openEventContext(site, t.key.publicKey)
        await ingest.accept({ envelope: await sealEvent(ctx, 0, ev(`/p${v}`)), ip: `198.51.100.${v}`, userAgent: UA, now: Date.now() })
      }
      const lost = (await ingest.prepareFlush(site, storage.postCar))!
      ingest.close() // killed: the segment is stored, its manifest update never confirmed
      const oldPath = ingestLogFile(t.dir)
      const oldWal = readFileSync(oldPath)
      ingest = t.make()
      assert.deepEqual(ingest.pendingSites(), [{ site, rows: 5 }])
      const flush = (await ingest.prepareFlush(site, storage.postCar))!
      assert.notEqual(flush.manifestCid, lost.manifestCid)
      await ingest.confirmFlush(site, flush.manifestCid, Date.now())
      ingest.close()
      // The host puts the pre-compaction log back under its own name: a generation the head does not pin, removed unread.
      writeFileSync(oldPath, oldWal)
      ingest = t.make()
      assert.deepEqual(ingest.pendingSites(), [])
      ingest.close()
      // ...or in place of the pinned one: refused (the enclave does not resume on it).
      const pinnedWal = readFileSync(ingestLogFile(t.dir))
      writeFileSync(ingestLogFile(t.dir), oldWal)
      assert.throws(() => t.make(), (e) => isW3aError(e, 'STATE_ROLLED_BACK'))
      writeFileSync(ingestLogFile(t.dir), pinnedWal)
      ingest = t.make()
      assert.deepEqual(ingest.pendingSites(), [])
      const rows = await storage.rowsOf(await storage.manifestOf(ingest.sites.get(site)!.manifestCid), testSite.dek)
      assert.deepEqual(rows.map((r) => r['page']).sort(), ['/p0', '/p1', '/p2', '/p3', '/p4'])
      ingest.close()
    } finally {
      t.done()
    }
  })
})

describe('ingest enrichment', () => {
  it('sources and channels by rule; self-referrals are direct; bots by user agent', () => {
    const e = (u: string, r: string | null) => enrich({ url: u, referrer: r, userAgent: UA })
    assert.deepEqual([e('https://a.example/x', 'https://www.google.com/search').source, e('https://a.example/x', 'https://www.google.com/').channel], ['google.com', 'Organic Search'])
    assert.deepEqual([e('https://a.example/x', 'https://a.example/y').source, e('https://a.example/x', null).channel], ['Direct / None', 'Direct'])
    assert.equal(e('https://a.example/?utm_source=google&utm_medium=cpc', null).channel, 'Paid Search')
    assert.equal(e('https://a.example/', 'https://blog.example/post').channel, 'Referral')
    assert.ok(isBot('Mozilla/5.0 HeadlessChrome/131'))
    assert.ok(!isBot(UA))
  })
})
