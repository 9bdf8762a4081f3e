// Shared fixture of the attack suite (no tests here): one dataset with a planted person and the
// same dataset without them, and the two policies the attacks run under.
//
// 200 ordinary people (two rows each) in four big cities; the planted person is the only one in
// the city 'Atlantis' (a category the DP group-by must hide), the only one aged 0 (so ln(age),
// sqrt(age - 10) and an overflowing product fail only on their row), the only one whose
// unit_name is not a date part ('bogus': date_trunc(unit_name, …) fails only on their row), the
// only one who signed up in 1999, and the only one with an amount above 500: 987.654.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { W3aError } from '../../core/errors.js'
import { parsePolicy, type CustodyPolicy } from '../../custody/policy.js'
import { failureDetail, failureOfError } from '../job-failure.js'
import { withSandboxedDuckDb } from '../../storage/duckdb-sandbox.js'

export const PLANTED = { uid: 1000, city: 'Atlantis', age: 0, unitName: 'bogus', signup: '1999-12-31', amount: 987.654 } as const

/** Text that must never reach an analyst who did not write it in their query. */
export const SECRETS = ['Atlantis', 'bogus', '1999-12-31', '987.654', '987.65'] as const

const ORDINARY = `
  SELECT i % 200 AS uid,
    ['Paris', 'Lyon', 'Nice', 'Brest'][1 + (i % 200) % 4] AS city,
    CASE WHEN (i % 200) % 2 = 0 THEN 'f' ELSE 'm' END AS sex,
    (20 + (i % 200) % 50)::INTEGER AS age,
    CASE WHEN (i % 200) % 3 = 0 THEN 'year' ELSE 'month' END AS unit_name,
    (DATE '2020-01-01' + ((i % 200) % 365)::INTEGER) AS signup,
    round(((i * 37) % 500) + 0.25, 2)::DOUBLE AS amount,
    (1 + i % 9)::BIGINT AS qty
  FROM range(400) t(i)`

const PLANTED_ROW = `SELECT ${PLANTED.uid} AS uid, '${PLANTED.city}' AS city, 'f' AS sex, ${PLANTED.age}::INTEGER AS age, '${PLANTED.unitName}' AS unit_name,
  DATE '${PLANTED.signup}' AS signup, ${PLANTED.amount}::DOUBLE AS amount, 4::BIGINT AS qty`

export type PlantedData = { dir: string; withPerson: string[]; without: string[]; close(): Promise<void> }

/** Two datasets as Parquet segments: with the planted person, and without them. */
export async function makePlantedData(): Promise<PlantedData> {
  const dir = await mkdtemp(join(tmpdir(), 'w3a-attacks-'))
  const withPerson = [join(dir, 'with.parquet')]
  const without = [join(dir, 'without.parquet')]
  await withSandboxedDuckDb({ dirs: [dir] }, async (c) => {
    await c.run(`COPY (${ORDINARY} UNION ALL ${PLANTED_ROW}) TO '${withPerson[0]}' (FORMAT parquet)`)
    await c.run(`COPY (${ORDINARY}) TO '${without[0]}' (FORMAT parquet)`)
  })
  return { dir, withPerson, without, close: () => rm(dir, { recursive: true, force: true }) }
}

const COLUMNS = { identifiers: [], dimensions: ['city', 'sex', 'age', 'unit_name', 'signup'], measures: ['amount', 'qty'] }
const BOUNDS = { amount: [0, 1000] as [number, number], qty: [0, 10] as [number, number] }

/** What a new dataset gets: DP at the default ε per query, the owner's bounds, no exact answers. */
export const DEFAULT_MODE: CustodyPolicy = parsePolicy({ k: 5, columns: COLUMNS, bounds: BOUNDS })

/** The same with exact answers opted in (the attacks then ask with ε = 0). */
export const EXACT_MODE: CustodyPolicy = parsePolicy({ k: 5, columns: COLUMNS, bounds: BOUNDS, allowExact: true })

/**
 * What an analyst learns from one job, as text: how many rows it answered, or the failure and
 * the text the worker would seal to them. Two datasets giving different texts is an oracle.
 */
export async function jobOutcome(run: () => Promise<{ rows: unknown[][] }>): Promise<string> {
  try {
    return `answer with ${(await run()).rows.length} row(s)`
  } catch (e) {
    if (!(e instanceof W3aError)) throw e
    const reason = failureOfError(e)
    return `${reason}: ${failureDetail(reason, e)}`
  }
}
