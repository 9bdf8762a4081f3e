import { test } from 'node:test'
import assert from 'node:assert/strict'
import { bytesToHex, type Hex } from 'viem'
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'
import { isW3aError } from '../core/errors.js'
import { generateHpkeKeyPair } from '../crypto/hpke.js'
import type { EventRow } from './ingest.js'
import { answerStats, checkStatsRequest, openStatsAnswer, sealStatsAnswer, STATS_METRICS, type StatsAnswer, type StatsRequest } from './ingest-stats.js'

test('answerStats counts visitors, visits, page views and events per group as a row-by-row reference does, and drops groups under k', () => {
  let seed = 7
  const rand = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n)
  const rows = Array.from({ length: 5000 }, () => {
    const visitor = `v${rand(400)}`
    return { visitor, session: `${visitor}-s${rand(3)}`, name: rand(5) === 0 ? 'Signup' : 'pageview', page: `/p${rand(12) ** 2 % 40}`, country: ['GB', 'FR', 'US', 'NZ'][rand(4)]! } as unknown as EventRow
  })
  const base: Omit<StatsRequest, 'dimensions'> = { site: `0x${'1'.repeat(64)}`, owner: `0x${'2'.repeat(40)}`, salt: `0x${'3'.repeat(64)}`, metrics: [...STATS_METRICS], period: '1h', box: `0x${'4'.repeat(64)}`, issuedAt: 1, signature: '0x00' }
  for (const [dimensions, field] of [[[], undefined], [['event:page'], 'page'], [['visit:country'], 'country']] as const) {
    const k = 30
    const answer = answerStats({ ...base, dimensions: [...dimensions] }, rows, k)
    const byGroup = new Map<string, EventRow[]>()
    for (const r of rows) {
      const g = field ? String(r[field]) : ''
      byGroup.set(g, [...(byGroup.get(g) ?? []), r])
    }
    const expected = [...byGroup]
      .map(([g, rs]) => ({ dimensions: field ? [g] : [], metrics: [new Set(rs.map((r) => r.visitor)).size, new Set(rs.map((r) => r.session)).size, rs.filter((r) => r.name === 'pageview').length, rs.length] }))
      .filter((x) => x.metrics[0]! >= k)
    const sortKey = (x: { dimensions: string[]; metrics: number[] }) => `${String(1e6 - x.metrics[0]!).padStart(7, '0')}${x.dimensions[0] ?? ''}`
    assert.deepEqual([...answer.results].sort((a, b) => sortKey(a).localeCompare(sortKey(b))), expected.sort((a, b) => sortKey(a).localeCompare(sortKey(b))), `by ${field ?? 'nothing'}`)
    assert.equal(answer.meta.privacy.suppressed, byGroup.size - expected.length)
    assert.ok(field === undefined || answer.meta.privacy.suppressed > 0 || field === 'country', 'some page groups fall under k')
  }
})

test("a stats answer opens only for its request, sealed to its box key, signed by the site's ingest worker: a gateway can neither read, forge, change nor replay it", async () => {
  const worker = privateKeyToAccount(generatePrivateKey())
  const gateway = privateKeyToAccount(generatePrivateKey())
  const box = await generateHpkeKeyPair()
  const site = `0x${'ab'.repeat(32)}` as Hex
  const signature = `0x${'11'.repeat(65)}` as Hex
  const request = { site, box: bytesToHex(box.publicKey), signature }
  const answer: StatsAnswer = { site, results: [{ dimensions: ['/secret-page'], metrics: [12] }], meta: { metrics: ['visitors'], dimensions: ['event:page'], period: '1h', privacy: { k: 10, suppressed: 1, noise: null, epsilon: null } } }
  const p = { site, ingest: worker.address, requestSignature: signature, chainId: 31337, boxPrivateKey: box.privateKey }
  const sealed = await sealStatsAnswer(answer, request, { chainId: 31337, signer: worker })
  assert.ok(!JSON.stringify(sealed).includes('secret-page'), 'no figure or label in clear')
  assert.deepEqual(await openStatsAnswer(sealed, p), answer)

  const notSigned = (e: unknown) => isW3aError(e, 'SIGNATURE_INVALID')
  // Made up by the gateway (its own signature), another request's answer replayed, another site's.
  await assert.rejects(openStatsAnswer(await sealStatsAnswer(answer, request, { chainId: 31337, signer: gateway }), p), notSigned)
  await assert.rejects(openStatsAnswer(await sealStatsAnswer(answer, { ...request, signature: `0x${'22'.repeat(65)}` }, { chainId: 31337, signer: worker }), p), notSigned)
  await assert.rejects(openStatsAnswer(sealed, { ...p, site: `0x${'cd'.repeat(32)}` }), notSigned)
  await assert.rejects(openStatsAnswer(sealed, { ...p, chainId: 1 }), notSigned)
  // The worker's signature kept, other figures sealed in (anyone can seal to the box key).
  const other = await sealStatsAnswer({ ...answer, results: [{ dimensions: ['/secret-page'], metrics: [99] }] }, request, { chainId: 31337, signer: gateway })
  await assert.rejects(openStatsAnswer({ ...sealed, sealed: other.sealed }, p), notSigned)
  await assert.rejects(openStatsAnswer({ ...sealed, sealed: { enc: sealed.sealed.enc, ciphertext: 'not hex' as Hex } }, p), notSigned)
  // Sealed to another request's box: the signature holds, but only that box opens it.
  const elsewhere = await generateHpkeKeyPair()
  const toElsewhere = await sealStatsAnswer(answer, { ...request, box: bytesToHex(elsewhere.publicKey) }, { chainId: 31337, signer: worker })
  await assert.rejects(openStatsAnswer(toElsewhere, p), (e) => isW3aError(e, 'HPKE_OPEN_FAILED'))
})

test("a malformed stats request's error names the field", async () => {
  const request = { site: `0x${'1'.repeat(64)}`, owner: `0x${'2'.repeat(40)}`, salt: `0x${'3'.repeat(64)}`, metrics: ['visitors'], dimensions: [], period: '1h', box: `0x${'4'.repeat(64)}`, issuedAt: 1, signature: '0x00' }
  for (const [field, bad] of [['period', { period: '30d' }], ['metrics.0', { metrics: ['bounce_rate'] }], ['dimensions.0', { dimensions: ['event:props:x'] }], ['box', { box: '0x12' }]] as const) {
    await assert.rejects(checkStatsRequest({ ...request, ...bad }, { chainId: 1, nowS: 1 }), (e) => isW3aError(e, 'INVALID_ARGUMENT') && e.message.includes(`stats request: ${field}`), field)
  }
})
