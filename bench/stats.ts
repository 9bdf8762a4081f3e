/**
 * bench:stats: the Stats API's latency for 30-day queries over W3A_BENCH_STATS_EVENTS events
 * (default 10,000,000) as the worker answers them (sealed segments opened, checked DP query under
 * the site policy, the worker's 1 GB and 30 s unless W3A_BENCH_STATS_MEMORY says otherwise),
 * against plain DuckDB on the same plaintext in the same run (bench/stats-latency.ts). Answers
 * must agree within DP tolerance (exit 1 otherwise).
 *
 *   W3A_BENCH_STATS_EVENTS=3000000 npm run bench:stats
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { benchStatsLatency } from './stats-latency.js'

const EVENTS = Number(process.env.W3A_BENCH_STATS_EVENTS ?? 10_000_000)
const MEMORY = process.env.W3A_BENCH_STATS_MEMORY
const load = () => loadavg().map((x) => x.toFixed(2)).join(' ')

const work = await mkdtemp(join(tmpdir(), 'w3a-bench-stats-'))
process.once('SIGINT', () => void rm(work, { recursive: true, force: true }).finally(() => process.exit(130)))
try {
  console.log(`Stats API, 30-day queries over ${EVENTS.toLocaleString('en')} events, worker memory ${MEMORY ?? '1 GB (the worker\'s)'} (load ${load()}):`)
  const results = await benchStatsLatency(work, EVENTS, MEMORY)
  for (const t of results) {
    console.log(`  ${t.name.padEnd(28)} worker (open sealed segments + checked DP query) ${(t.worker / 1000).toFixed(2)} s, plain DuckDB ${(t.plain / 1000).toFixed(2)} s (×${(t.worker / t.plain).toFixed(1)}); ${t.note}; answers ${t.agree ? 'agree' : 'DISAGREE'}`)
  }
  console.log(`load after: ${load()}`)
  const answered = results.every((t) => t.agree)
  if (!answered) process.exitCode = 1
  // Judged: the slowest query's ratio; a query the worker failed (over its limits) or answered wrong has none.
  const worst = Math.max(...results.map((t) => t.worker / t.plain))
  console.log(`ratio (Stats API worker / plain DuckDB, slowest query): ${answered ? worst.toFixed(2) : `none (${results.filter((t) => !t.agree).length} of ${results.length} queries failed or disagree)`} (target: every query answered within the worker's limits, 1 GB and 30 s, answers within DP tolerance)`)
} finally {
  await rm(work, { recursive: true, force: true })
}
