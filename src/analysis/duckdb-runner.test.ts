import assert from 'node:assert/strict'
import { rm } from 'node:fs/promises'
import { test } from 'node:test'
import { isW3aError } from '../core/errors.js'
import { openAnalysisRunner, QUERY_FAILED_MESSAGE } from './duckdb-runner.js'
import { makeDataset } from './fixture.test.js'

test('sandbox: after lock-down, file readers, COPY, SET, ATTACH, INSTALL fail even with the checker bypassed', async () => {
  const ds = await makeDataset()
  const runner = await openAnalysisRunner({ segmentFiles: ds.files, memoryLimit: '256MB', threads: 1 })
  try {
    assert.deepEqual((await runner.explainColumns()).map((c) => c.name), ['uid', 'email', 'region', 'device', 'plan', 'amount', 'visits'])
    const n = await runner.query('SELECT count(*) AS n FROM data')
    assert.equal(n.rows[0]![0], 2000n)
    // In place, the segments themselves stay readable (no wider than `data`); nothing else is.
    assert.equal((await runner.query(`SELECT count(*) FROM read_parquet('${ds.files[0]}')`)).rows[0]![0], 1000n)
    for (const raw of [
      "SELECT * FROM read_csv('/etc/passwd')",
      `SELECT * FROM read_parquet('${ds.dir}/*.parquet')`,
      "SELECT * FROM glob('/etc/*')",
      "COPY data TO '/tmp/w3a-leak.csv'",
      "ATTACH '/tmp/w3a-leak.db' AS leak",
      'SET enable_external_access = true',
      'SET lock_configuration = false',
      "SET allowed_directories = ['/']",
      "SET temp_directory = '/tmp'",
      'INSTALL httpfs',
      'LOAD httpfs',
    ]) {
      await assert.rejects(runner.query(raw), (e) => isW3aError(e, 'QUERY_REFUSED'), raw)
    }
  } finally {
    await runner.close()
    await rm(ds.dir, { recursive: true, force: true })
  }
})

test('sandbox, table load: after lock-down not even the segments are readable', async () => {
  const ds = await makeDataset()
  const runner = await openAnalysisRunner({ segmentFiles: ds.files, memoryLimit: '256MB', threads: 1, load: 'table' })
  try {
    assert.equal((await runner.query('SELECT count(*) AS n FROM data')).rows[0]![0], 2000n)
    await assert.rejects(runner.query(`SELECT * FROM read_parquet('${ds.files[0]}')`), (e) => isW3aError(e, 'QUERY_REFUSED'))
  } finally {
    await runner.close()
    await rm(ds.dir, { recursive: true, force: true })
  }
})

test('a query past its timeout is interrupted', async () => {
  const ds = await makeDataset()
  const runner = await openAnalysisRunner({ segmentFiles: ds.files })
  try {
    await assert.rejects(runner.query('SELECT count(*) FROM data a, data b, data c, data d', { timeoutMs: 200 }), (e) => isW3aError(e, 'QUERY_REFUSED') && /longer than/.test(e.message))
  } finally {
    await runner.close()
    await rm(ds.dir, { recursive: true, force: true })
  }
})

test('a query over the rows that fails ends one way, whatever failed: time, an error quoting a value', async () => {
  const ds = await makeDataset()
  const runner = await openAnalysisRunner({ segmentFiles: ds.files })
  try {
    const texts = new Set<string>()
    for (const [raw, timeoutMs] of [
      ['SELECT count(*) FROM data a, data b, data c, data d', 200],
      ["SELECT count(*) FROM data WHERE region = 5", 30_000], // DuckDB's text quotes a region
      ['SELECT sum(ln(visits - 3)) FROM data', 30_000], // the log of a negative
    ] as const) {
      await assert.rejects(runner.query(raw, { timeoutMs, code: 'QUERY_FAILED' }), (e) => {
        assert.ok(isW3aError(e, 'QUERY_FAILED'), String(e))
        assert.deepEqual(e.details, [])
        texts.add(e.shortMessage)
        return true
      }, raw)
    }
    assert.deepEqual([...texts], [QUERY_FAILED_MESSAGE])
    assert.doesNotMatch(QUERY_FAILED_MESSAGE, /north|south|east|tiny|logarithm/)
  } finally {
    await runner.close()
    await rm(ds.dir, { recursive: true, force: true })
  }
})
