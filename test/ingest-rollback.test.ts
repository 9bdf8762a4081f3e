/**
 * Issue 12: rollback of the ingest enclave's sealed site book and log, mounted against three real
 * keeper enclave processes (test/hostile-host.ts). Keeper A also ingests a site; an opted-in
 * visitor deletes their rows; B and C witness A's state after it. A's hostile host then puts
 * the older sealed ingest files back and restarts A: (1) only the log or only the site book, in
 * place of the current ones: refused, the current head pins others; (2) the whole older sealed
 * state (head, site book, log) copied back: the peers report a later state, A refuses to resume
 * (STATE_ROLLED_BACK) and ingests and answers nothing. The deleted visitor's events never come
 * back; a recovery by hand-over starts the ingest role empty rather than on the older copy.
 * The same for a site's goals and funnels: an older sealed state (or site book) from before the
 * owner's last change is refused, so a host cannot roll the settings back.
 */
import assert from 'node:assert/strict'
import { cp, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, test } from 'node:test'
import { bytesToHex, hexToBytes, type Hex } from 'viem'
import { generateHpkeKeyPair } from '../src/crypto/hpke.js'
import { ANSWER_INFO, SETTINGS_INFO, openSettings, sealSettings, siteSettingsReadText, siteSettingsWriteText, type SiteSettingsAnswer } from '../src/enclave/ingest-site-settings.js'
import { goalName } from '../src/sdk/site-goals.js'
import type { SiteSettings } from '../src/sdk/site-settings.js'
import { isW3aError } from '../src/core/errors.js'
import type { FreshnessInfo } from '../src/enclave/service.js'
import type { WitnessReport } from '../src/enclave/witness-report.js'
import { makeTestSite, memoryStorage, type TestSite } from '../src/enclave/ingest-fixture.test.js'
import { openEventContext, sealEvent } from '../src/tracker/seal-event.js'
import { makeVisitorKeys, optInToken, visitorRequest, type VisitorKeys } from '../src/tracker/visitor-crypto.js'
import type { VisitorAnswer } from '../src/tracker/visitor-format.js'
import { commitState, startHostileHost, testEnclaveBoot, TEST_NETWORK, type HostileHost } from './hostile-host.js'

const UA = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36'
const storage = memoryStorage()
let served: { url: string; close: () => Promise<void> }
let testSite: TestSite
let work: string
let A: HostileHost, B: HostileHost, C: HostileHost
const code = (c: string) => (e: unknown) => isW3aError(e, c as never)

async function peerReports(h: HostileHost, peers: HostileHost[]): Promise<WitnessReport[]> {
  const nonce = await h.call<Hex>('freshnessChallenge')
  return Promise.all(peers.map((p) => p.call<WitnessReport>('attestFreshness', { keeper: h.info.address, nonce })))
}
/** What A's host does at start: brings B's and C's reports. */
const resume = async () => A.call<{ status: string }>('resume', { reports: await peerReports(A, [B, C]) })
const send = async (path: string, ip: string, token?: string) => {
  const ctx = await openEventContext(testSite.id, hexToBytes(A.info.hpkePublicKey))
  const envelope = await sealEvent(ctx, 0, { n: 'pageview', u: `https://shop.example${path}`, d: testSite.id, ...(token ? { i: token } : {}) })
  return A.call('ingestEvent', { envelope, ip, userAgent: UA })
}
/** The rows A holds of the visitor (an export the visitor signed: the receipt counts them). */
const rowsOf = async (me: VisitorKeys) => (await A.call<VisitorAnswer>('ingestVisitor', { request: await visitorRequest(me, testSite.id, 'export') })).receipt.rows
const enclaveDir = () => join(work, 'a', 'enclave')
/** The sealed files of A's ingest role now: the site book the head pins, and the log's generation. */
async function ingestFiles(dir: string): Promise<{ sites: string; log: string }> {
  const sites = (await readdir(dir)).find((n) => /^sites\.\d+\.sealed$/.test(n))
  const log = (await readdir(join(dir, 'ingest'))).find((n) => /^events\.[0-9a-f]{32}\.wal$/.test(n))
  assert.ok(sites && log, `ingest files in ${dir}`)
  return { sites: join(dir, sites), log: join(dir, 'ingest', log) }
}

before(async () => {
  served = await storage.serve()
  testSite = await makeTestSite(storage, TEST_NETWORK.chainId)
  work = await mkdtemp(join(tmpdir(), 'w3a-ingest-rollback-'))
  ;[A, B, C] = (await Promise.all(['a', 'b', 'c'].map((n) => startHostileHost(testEnclaveBoot(join(work, n), { gatewayUrl: served.url }))))) as [HostileHost, HostileHost, HostileHost]
  await A.call('bootstrapCluster', { epoch: 0n })
  for (const newcomer of [B, C]) {
    const response = await A.call('serveHandover', { request: await newcomer.call('requestHandover'), newcomerIsKeeper: true })
    await newcomer.call('receiveHandover', { response })
  }
  await A.call('ingestRegisterSite', { request: await testSite.registration({ address: A.info.address, hpkePublicKey: A.info.hpkePublicKey }) })
})

after(async () => {
  for (const h of [A, B, C]) await h?.stop()
  await served?.close()
  await rm(work, { recursive: true, force: true })
})

test("an ingest keeper whose host restores its older site book or log after a visitor's deletion refuses to resume on it; the deleted events do not come back", async () => {
  const me: VisitorKeys = await makeVisitorKeys()
  const token = await optInToken(me, testSite.id)
  await send('/mine-1', '203.0.113.1', token)
  await send('/mine-2', '203.0.113.1', token)
  for (let v = 0; v < 3; v++) await send(`/other-${v}`, `198.51.100.${v}`)
  assert.equal(await rowsOf(me), 2)
  assert.equal((await commitState(A, [B, C])).committed, true)
  // The host's copy of A's sealed files, taken while A is down: the visitor's rows are in its log.
  await A.restart(() => cp(enclaveDir(), join(work, 'a-copy'), { recursive: true }))
  assert.equal((await resume()).status, 'fresh')
  assert.equal(await rowsOf(me), 2, 'a restart without rollback keeps every acknowledged row')
  const before = await A.call<FreshnessInfo>('freshness')

  // The visitor deletes: their rows leave the log (a new generation) and the site book queues the segments' rewrite, each a new version of the head.
  const deleted = await A.call<VisitorAnswer>('ingestVisitor', { request: await visitorRequest(me, testSite.id, 'delete') })
  assert.equal(deleted.receipt.rows, 2)
  const after = await A.call<FreshnessInfo>('freshness')
  assert.ok(after.seq >= before.seq + 2n, `the deletion advanced the sealed head (seq ${before.seq} → ${after.seq})`)
  assert.equal((await commitState(A, [B, C])).committed, true)
  assert.equal(await rowsOf(me), 0)
  const older = await ingestFiles(join(work, 'a-copy'))
  const current = await ingestFiles(enclaveDir())
  const currentBytes = { sites: await readFile(current.sites), log: await readFile(current.log) }

  // (1a) The older log in place of the current one (the head is current): refused, not replayed.
  await A.restart(async () => writeFile(current.log, await readFile(older.log)))
  assert.equal((await resume()).status, 'fresh')
  await assert.rejects(rowsOf(me), code('STATE_ROLLED_BACK'))
  await assert.rejects(send('/late', '192.0.2.1'), code('STATE_ROLLED_BACK'))
  // (1b) The older site book (the deletion not queued in it) in place of the current one: refused too.
  await A.restart(async () => {
    await writeFile(current.log, currentBytes.log)
    await writeFile(current.sites, await readFile(older.sites))
  })
  assert.equal((await resume()).status, 'fresh')
  await assert.rejects(rowsOf(me), code('UNSEAL_FAILED'))
  // With the current files back, A resumes where it was: the visitor's rows are gone, the others' kept.
  await A.restart(async () => writeFile(current.sites, currentBytes.sites))
  assert.equal((await resume()).status, 'fresh')
  assert.equal(await rowsOf(me), 0)
  assert.deepEqual(((await A.call<{ sites: { pending: number }[] }>('ingestStatus')).sites).map((s) => s.pending), [3])

  // (2) The whole older sealed state copied back (head, site book and log agree with each other).
  await A.restart(async () => {
    await rm(enclaveDir(), { recursive: true, force: true })
    await cp(join(work, 'a-copy'), enclaveDir(), { recursive: true })
  })
  assert.deepEqual(await A.call<FreshnessInfo>('freshness'), { ...before, status: 'unverified', committed: false })
  // Locked until the peers report: nothing is ingested or answered from the older copy.
  await assert.rejects(rowsOf(me), code('STATE_NOT_FRESH'))
  await assert.rejects(send('/late', '192.0.2.1'), code('STATE_NOT_FRESH'))
  await assert.rejects(A.call('resume', { reports: [] }), code('STATE_NOT_FRESH'))
  // Either peer's report shows the later state: rolled back.
  await assert.rejects(A.call('resume', { reports: (await peerReports(A, [B, C])).slice(1) }), code('STATE_ROLLED_BACK'))
  await assert.rejects(rowsOf(me), code('STATE_ROLLED_BACK'))
  await assert.rejects(send('/late', '192.0.2.1'), code('STATE_ROLLED_BACK'))
  await assert.rejects(A.call('ingestStatus'), code('STATE_ROLLED_BACK'))
  await assert.rejects(A.call('ingestFlush', {}), code('STATE_ROLLED_BACK'))

  // (3) Recovery by a hand-over from B: keyring and custody state come back; the rolled-back site book and log do not.
  const response = await B.call('serveHandover', { request: await A.call('requestHandover'), newcomerIsKeeper: true })
  await A.call('receiveHandover', { response })
  assert.equal((await A.call<FreshnessInfo>('freshness')).status, 'fresh')
  assert.deepEqual((await A.call<{ sites: unknown[] }>('ingestStatus')).sites, [], 'the older site book is dropped')
  assert.ok(!(await readdir(join(enclaveDir()))).some((n) => /^sites\./.test(n)))
  // The owner registers the site again: the older log is not replayed into it.
  await A.call('ingestRegisterSite', { request: await testSite.registration({ address: A.info.address, hpkePublicKey: A.info.hpkePublicKey }) })
  assert.equal(await rowsOf(me), 0)
  assert.deepEqual(((await A.call<{ sites: { pending: number }[] }>('ingestStatus')).sites).map((s) => s.pending), [0])
  assert.equal((await commitState(A, [B, C])).committed, true)
  await A.restart()
  assert.equal((await resume()).status, 'fresh')
  assert.equal(await rowsOf(me), 0)
})

test("an ingest keeper whose host restores its sealed state from before a change of a site's goals refuses to resume on it: the owner's settings are not rolled back", async () => {
  const box = await generateHpkeKeyPair()
  const now = () => Math.floor(Date.now() / 1000)
  // The owner's signed write and read (ingest-site-settings.ts), as setSiteSettings and getSiteSettings make them.
  const write = async (version: number, settings: SiteSettings) => {
    const { sealed, settingsHash } = await sealSettings(settings, { recipient: hexToBytes(A.info.hpkePublicKey), info: SETTINGS_INFO, site: testSite.id })
    const base = { site: testSite.id, ingest: A.info.address, version, settingsHash, box: bytesToHex(box.publicKey), issuedAt: now() }
    await A.call('ingestSetSiteSettings', { request: { ...base, sealed, signature: await testSite.account.signMessage({ message: siteSettingsWriteText(base, TEST_NETWORK.chainId) }) } })
  }
  const goalsNow = async () => {
    const base = { site: testSite.id, ingest: A.info.address, box: bytesToHex(box.publicKey), issuedAt: now() }
    const a = await A.call<SiteSettingsAnswer>('ingestSiteSettings', { request: { ...base, signature: await testSite.account.signMessage({ message: siteSettingsReadText(base, TEST_NETWORK.chainId) }) } })
    return { version: a.version, goals: (await openSettings(a.sealed, { privateKey: box.privateKey, info: ANSWER_INFO, site: testSite.id, settingsHash: a.settingsHash })).goals.map(goalName) }
  }
  await write(1, { goals: [{ event: 'Signup' }], funnels: [] })
  // The honest host has the peers witness each settings write before relaying the answer (worker-http.ts); so here.
  assert.equal((await commitState(A, [B, C])).committed, true)
  const copy = join(work, 'a-copy-settings')
  await A.restart(() => cp(enclaveDir(), copy, { recursive: true }))
  assert.equal((await resume()).status, 'fresh')
  assert.deepEqual(await goalsNow(), { version: 1, goals: ['Signup'] }, 'kept across a restart')
  await write(2, { goals: [{ event: 'Signup' }, { event: 'Refund' }], funnels: [] })
  assert.equal((await commitState(A, [B, C])).committed, true)
  assert.deepEqual(await goalsNow(), { version: 2, goals: ['Signup', 'Refund'] })

  // The older site book alone in place of the current one: refused (the head pins another).
  const older = await ingestFiles(copy)
  const current = await ingestFiles(enclaveDir())
  const currentSites = await readFile(current.sites)
  await A.restart(async () => writeFile(current.sites, await readFile(older.sites)))
  assert.equal((await resume()).status, 'fresh')
  await assert.rejects(goalsNow(), code('UNSEAL_FAILED'))
  await A.restart(async () => writeFile(current.sites, currentSites))
  assert.equal((await resume()).status, 'fresh')
  assert.deepEqual(await goalsNow(), { version: 2, goals: ['Signup', 'Refund'] })
  // The whole older sealed state (version 1): the peers report a later one; A answers nothing from it.
  await A.restart(async () => {
    await rm(enclaveDir(), { recursive: true, force: true })
    await cp(copy, enclaveDir(), { recursive: true })
  })
  await assert.rejects(A.call('resume', { reports: await peerReports(A, [B, C]) }), code('STATE_ROLLED_BACK'))
  await assert.rejects(goalsNow(), code('STATE_ROLLED_BACK'))
  await assert.rejects(write(2, { goals: [], funnels: [] }), code('STATE_ROLLED_BACK'))
})
