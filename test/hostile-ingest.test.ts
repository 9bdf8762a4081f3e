/**
 * The ingest role against a hostile host (issue 12), mounted on the real enclave process: the host
 * relays tampered and replayed envelopes, events for a site nobody registered, asks for stats
 * without the owner, kills the enclave (kill -9) and cuts the sealed log while it is down, and
 * reads every file of its data directory. Acknowledged events end up in the site's segments
 * (sealed with the site key, on the storage node) after a kill -9, each once.
 */
import { describe, it, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { bytesToHex, hexToBytes, type Address } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import type { EnclaveBoot } from '../src/enclave/boot.js'
import { isW3aError } from '../src/core/errors.js'
import { decodeFunctionData, parseTransaction, type Hex } from 'viem'
import { datasetRegistryAbi } from '../src/chain/abis.js'
import { generateHpkeKeyPair } from '../src/crypto/hpke.js'
import { makeTestSite, memoryStorage, TEST_REGISTRY } from '../src/enclave/ingest-fixture.test.js'
import { DEV_ATTESTATION_SIGNER } from '../src/tee/index.js'
import { openEventContext, sealEvent } from '../src/tracker/seal-event.js'
import { openStatsAnswer, statsRequestText, type SealedStatsAnswer, type StatsAnswer } from '../src/enclave/ingest-stats.js'
import { startHostileHost, type HostileHost } from './hostile-host.js'

const CHAIN_ID = 31337
const work = mkdtempSync(join(tmpdir(), 'w3a-hostile-ingest-'))
const storage = memoryStorage()
const testSite = await makeTestSite(storage, CHAIN_ID)
const owner = testSite.account
const salt = testSite.salt
const site = testSite.id
let served: { url: string; close: () => Promise<void> }
const UA = 'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_0) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Safari/605.1.15'
const canary = `/checkout-${randomBytes(6).toString('hex')}`
let host: HostileHost
/** Kills the enclave and starts it again, then what a worker host does at start: a lone enclave (no peer keepers) resumes on no reports. */
async function restart(whileDown?: () => Promise<void>): Promise<void> {
  await host.restart(whileDown)
  await host.call('freshnessChallenge')
  await host.call('resume', { reports: [] })
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => (statSync(join(dir, n)).isDirectory() ? filesUnder(join(dir, n)) : [join(dir, n)]))
}

/** The owner's stats as the SDK reads them: the answer the host relays must be the enclave's, sealed to the request's key; the host sees none of it. */
async function ownerStats(): Promise<StatsAnswer> {
  const box = await generateHpkeKeyPair()
  const base = { site, owner: owner.address, salt, metrics: ['visitors', 'pageviews'] as ['visitors', 'pageviews'], dimensions: ['event:page'] as ['event:page'], period: '1h' as const, box: bytesToHex(box.publicKey), issuedAt: Math.floor(Date.now() / 1000) }
  const signature = await owner.signMessage({ message: statsRequestText(base, CHAIN_ID) })
  const sealed = await host.call<SealedStatsAnswer>('ingestStats', { request: { ...base, signature } })
  assert.ok(!JSON.stringify(sealed).includes(canary.slice(1)), 'the relayed stats answer holds no page name in clear')
  return openStatsAnswer(sealed, { site, ingest: host.info.address, requestSignature: signature, chainId: CHAIN_ID, boxPrivateKey: box.privateKey })
}

before(async () => {
  served = await storage.serve()
  const config: EnclaveBoot = {
    dataDir: join(work, 'node'),
    chainId: CHAIN_ID,
    registry: '0x00000000000000000000000000000000000000cc' as Address,
    inbox: '0x00000000000000000000000000000000000000dd' as Address,
    jobs: '0x00000000000000000000000000000000000000bb' as Address,
    gatewayUrl: served.url,
    epochLength: '100',
    allowSim: true,
    devAttestationSigner: DEV_ATTESTATION_SIGNER,
  }
  host = await startHostileHost(config)
  await host.call('ingestRegisterSite', { request: await testSite.registration({ address: host.info.address, hpkePublicKey: host.info.hpkePublicKey }) })
})
after(async () => {
  await host?.stop()
  await served?.close()
  rmSync(work, { recursive: true, force: true })
})

describe('a hostile host against the ingest enclave', () => {
  it('tampered and replayed envelopes count nothing; acknowledged events survive a kill; a cut log is refused; stats only to the owner; nothing in the clear on disk', async () => {
    const key = hexToBytes(host.info.hpkePublicKey)
    // A site nobody registered here: refused and counted, nothing stored.
    const stranger = await openEventContext(`0x${'ab'.repeat(32)}`, key)
    await assert.rejects(host.call('ingestEvent', { envelope: await sealEvent(stranger, 0, { n: 'pageview', u: `https://elsewhere.example${canary}`, d: 'x' }), ip: '192.0.2.99', userAgent: UA }), (e) => isW3aError(e, 'SITE_NOT_REGISTERED'))
    assert.equal((await host.call<{ unknownSiteRefusals: number }>('ingestStatus')).unknownSiteRefusals, 1)
    for (let v = 0; v < 10; v++) {
      const ctx = await openEventContext(site, key)
      const out = await host.call('ingestEvent', { envelope: await sealEvent(ctx, 0, { n: 'pageview', u: `https://shop.example${canary}`, d: site }), ip: `192.0.2.${v}`, userAgent: UA })
      assert.deepEqual(out, { accepted: true })
    }
    const ctx = await openEventContext(site, key)
    const envelope = await sealEvent(ctx, 0, { n: 'pageview', u: `https://shop.example${canary}`, d: site })
    // Tampered: one flipped ciphertext character.
    const c = envelope.c
    const tampered = { ...envelope, c: (c[0] === 'A' ? 'B' : 'A') + c.slice(1) }
    await assert.rejects(host.call('ingestEvent', { envelope: tampered, ip: '192.0.2.77', userAgent: UA }), (e) => isW3aError(e, 'HPKE_OPEN_FAILED'))
    // Replayed: counted once.
    assert.deepEqual(await host.call('ingestEvent', { envelope, ip: '192.0.2.77', userAgent: UA }), { accepted: true })
    assert.deepEqual(await host.call('ingestEvent', { envelope, ip: '192.0.2.77', userAgent: UA }), { accepted: false, reason: 'duplicate' })
    assert.deepEqual((await ownerStats()).results, [{ dimensions: [canary], metrics: [11, 11] }])

    // Stats without the owner: a request the host signs itself is refused.
    const host_ = privateKeyToAccount(bytesToHex(randomBytes(32)))
    const base = { site, owner: owner.address, salt, metrics: ['visitors'], dimensions: [], period: '1h', box: bytesToHex(randomBytes(32)), issuedAt: Math.floor(Date.now() / 1000) }
    await assert.rejects(host.call('ingestStats', { request: { ...base, signature: await host_.signMessage({ message: statsRequestText(base as never, CHAIN_ID) }) } }), (e) => isW3aError(e, 'SIGNATURE_INVALID'))

    // kill -9 and restart: every acknowledged event is still counted.
    await restart()
    assert.deepEqual((await ownerStats()).results, [{ dimensions: [canary], metrics: [11, 11] }])

    // ...and goes into the site's next segment, sealed with the site key, on the storage node. The
    // enclave signs the manifest update itself (the host only chooses gas and nonce); a second
    // kill -9 before the update is confirmed makes the segment again, with each row once.
    const epochKey = { epoch: 0n, publicKey: bytesToHex((await generateHpkeKeyPair()).publicKey) }
    const first = await host.call<{ site: string; manifestCid: string; rows: number }[]>('ingestFlush', { epochKey })
    assert.deepEqual(first.map((f) => [f.site, f.rows]), [[site, 11]])
    const tx = parseTransaction(await host.call<Hex>('signOwnTx', { kind: 'siteManifest', site, nonce: 0, gas: 300_000n, maxFeePerGas: 1n, maxPriorityFeePerGas: 1n }))
    assert.equal(tx.to, TEST_REGISTRY, 'the registry the owner signed for')
    assert.deepEqual(decodeFunctionData({ abi: datasetRegistryAbi, data: tx.data! }).args.slice(0, 2), [site, first[0]!.manifestCid])
    await restart()
    const [flush] = await host.call<{ site: string; manifestCid: string; rows: number }[]>('ingestFlush', { epochKey })
    assert.equal(flush!.rows, 11)
    await host.call('ingestConfirm', { site, manifestCid: flush!.manifestCid })
    const rows = await storage.rowsOf(await storage.manifestOf(flush!.manifestCid), testSite.dek)
    assert.deepEqual(rows.map((r) => r['page']), Array(11).fill(canary))
    assert.equal(new Set(rows.map((r) => r['visitor_id'])).size, 11)
    await restart()
    assert.deepEqual(await host.call('ingestFlush', { epochKey }), [], 'confirmed rows are not appended again')

    // Nothing the visitor sent is on disk in the clear: not the page, the IP or the user agent.
    const files = filesUnder(join(work, 'node'))
    assert.ok(files.some((f) => /events\.[0-9a-f]{32}\.wal$/.test(f)))
    for (const f of files) {
      const text = readFileSync(f).toString('latin1')
      for (const secret of [canary, '192.0.2.', 'Macintosh']) assert.ok(!text.includes(secret), `${secret} in ${f}`)
    }

    // The host cuts the log's first frame while the enclave is down: the sealed head pins it, so the ingest refuses the log.
    for (let v = 0; v < 2; v++) {
      const more = await openEventContext(site, key)
      await host.call('ingestEvent', { envelope: await sealEvent(more, 0, { n: 'pageview', u: `https://shop.example${canary}`, d: site }), ip: `192.0.2.${50 + v}`, userAgent: UA })
    }
    await restart(async () => {
      const wal = files.find((f) => /events\.[0-9a-f]{32}\.wal$/.test(f))!
      const bytes = readFileSync(wal)
      writeFileSync(wal, bytes.subarray(4 + bytes.readUInt32BE(0)))
    })
    await assert.rejects(ownerStats(), (e) => isW3aError(e, 'STATE_ROLLED_BACK'))
  })
})
