import { test } from 'node:test'
import assert from 'node:assert/strict'
import type { EventRow } from './ingest.js'
import { answerStats, STATS_METRICS, type StatsRequest } from './ingest-stats.js'

test('answerStats counts visitors, visits, page views and events per group as a row-by-row reference does, and drops groups under k', () => {
  let seed = 7
  const rand = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n)
  const rows = Array.from({ length: 5000 }, () => {
    const visitor = `v${rand(400)}`
    return { visitor, session: `${visitor}-s${rand(3)}`, name: rand(5) === 0 ? 'Signup' : 'pageview', page: `/p${rand(12) ** 2 % 40}`, country: ['GB', 'FR', 'US', 'NZ'][rand(4)]! } as unknown as EventRow
  })
  const base: Omit<StatsRequest, 'dimensions'> = { site: `0x${'1'.repeat(64)}`, owner: `0x${'2'.repeat(40)}`, salt: `0x${'3'.repeat(64)}`, metrics: [...STATS_METRICS], period: '1h', issuedAt: 1, signature: '0x00' }
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
