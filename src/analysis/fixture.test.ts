// Shared test fixture (no tests here): a generated dataset and a seeded RNG (tests only).
import { mkdtemp, rm } from 'node:fs/promises'
import { after, before } from 'node:test'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parsePolicy } from '../custody/policy.js'
import { withSandboxedDuckDb } from '../storage/duckdb-sandbox.js'
import type { Rng } from './dp-noise.js'
import { openSqlParser, type SqlParserHandle } from './sql-parser.js'

/** 2,000 rows, 150 privacy units (uid), dimensions region/device/plan, measures amount/visits. */
export const DATASET_SQL = `
  SELECT uid, 'user' || uid || '@example.com' AS email, region, device, plan, amount, visits FROM (
    SELECT (i * 7919) % 150 AS uid, i,
      CASE WHEN (i * 7919) % 150 < 3 THEN 'tiny' WHEN ((i * 7919) % 150) % 3 = 0 THEN 'north' WHEN ((i * 7919) % 150) % 3 = 1 THEN 'south' ELSE 'east' END AS region,
      CASE WHEN i % 5 = 0 THEN 'mobile' WHEN i % 5 < 3 THEN 'desktop' ELSE 'tablet' END AS device,
      CASE WHEN (i * 7919) % 150 % 7 = 0 THEN 'pro' WHEN (i * 7919) % 150 = 11 THEN 'rare' ELSE 'free' END AS plan,
      round(((i * 37) % 1000) / 10.0 + ((i * 7919) % 150) / 3.0, 2)::DOUBLE AS amount,
      ((i * 13) % 17)::INTEGER AS visits
    FROM range(2000) t(i))`

export async function makeDataset(): Promise<{ dir: string; files: string[] }> {
  const dir = await mkdtemp(join(tmpdir(), 'w3a-analysis-test-'))
  const files = [join(dir, 'segment-00000.parquet'), join(dir, 'segment-00001.parquet')]
  await withSandboxedDuckDb({ dirs: [dir] }, async (c) => {
    await c.run(`CREATE TABLE t AS ${DATASET_SQL}`)
    await c.run(`COPY (SELECT * FROM t LIMIT 1000 OFFSET 0) TO '${files[0]}' (FORMAT parquet)`)
    await c.run(`COPY (SELECT * FROM t LIMIT 1000 OFFSET 1000) TO '${files[1]}' (FORMAT parquet)`)
  })
  return { dir, files }
}

/** The dataset and a DuckDB parser for a test file's tests: made before them, removed after (read the fields inside tests). */
export function datasetAndParser(): { ds: { dir: string; files: string[] }; parser: SqlParserHandle } {
  const shared = {} as { ds: { dir: string; files: string[] }; parser: SqlParserHandle }
  before(async () => {
    shared.ds = await makeDataset()
    shared.parser = await openSqlParser()
  })
  after(async () => {
    shared.parser.close()
    await rm(shared.ds.dir, { recursive: true, force: true })
  })
  return shared
}

/** DP by default (the measures' public bounds), exact answers opted in: both modes run on it. */
export const POLICY = parsePolicy({
  k: 5,
  epsilonBudget: 10,
  analystEpsilonBudget: 10,
  allowExact: true,
  columns: { identifiers: ['uid', 'email'], dimensions: ['region', 'device', 'plan'], measures: ['amount', 'visits'] },
  bounds: { amount: [0, 200], visits: [0, 20] },
})

/** splitmix64, fixed seed: deterministic, for tests only. */
export function seededRng(seed: bigint): Rng {
  let s = seed & 0xffffffffffffffffn
  const next32 = () => {
    s = (s + 0x9e3779b97f4a7c15n) & 0xffffffffffffffffn
    let z = s
    z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & 0xffffffffffffffffn
    z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & 0xffffffffffffffffn
    return Number((z ^ (z >> 31n)) >> 32n)
  }
  return {
    randomInt(n) {
      const limit = 2 ** 32 - (2 ** 32 % n)
      for (;;) {
        const x = next32()
        if (x < limit) return x % n
      }
    },
  }
}
