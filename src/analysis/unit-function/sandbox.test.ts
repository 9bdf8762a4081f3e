import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { isW3aError } from '../../core/errors.js'
import { parseOutputSpec } from './output-type.js'
import { checkFunctionSource, openUnitFunction, type UnitRow } from './sandbox.js'

const rows: UnitRow[] = [
  { id: 'alice', gender: 'female', amount: 40 },
  { id: 'alice', gender: 'female', amount: 25 },
]
const num = parseOutputSpec('number:0:100')
const cat = parseOutputSpec('category:male,female')
const vec = parseOutputSpec('vector:3:0:1')

async function run(source: string, output = num, r: UnitRow[] = rows) {
  return (await openUnitFunction({ source, output })).run(r)
}

/** A call that hits a limit answers the type's default (0 clamped into [0, 100]), as a throw does. */
async function limitHit(source: string, output = num): Promise<void> {
  assert.deepEqual(await run(source, output), output.kind === 'vector' ? [0, 0, 0] : output.kind === 'category' ? -1 : 0, source)
}

describe('unit function sandbox', () => {
  it('runs a function on one unit\'s rows and types its answer', async () => {
    assert.equal(await run('(rows) => rows.reduce((s, r) => s + r.amount, 0)'), 65)
    assert.equal(await run('(rows) => rows[0].gender', cat), 1)
    assert.deepEqual(await run('(rows) => [rows.length / 4, 0.25, 1]', vec), [0.5, 0.25, 1])
    assert.equal(await run('function (rows) { return rows.length }'), 2)
  })

  it('out-of-type answers become the declared default, never the value', async () => {
    assert.equal(await run('(rows) => 1e9'), 100, 'clamped to hi')
    assert.equal(await run('(rows) => -5'), 0, 'clamped to lo')
    assert.equal(await run('(rows) => JSON.stringify(rows)'), 0, 'a string of the rows counts as 0')
    assert.equal(await run('(rows) => NaN'), 0)
    assert.equal(await run('(rows) => ({ valueOf: () => 7 })'), 0, 'an object is not a number')
    assert.equal(await run('(rows) => { throw new Error(rows[0].id) }'), 0, 'a throw is the default, its message stays inside')
    assert.equal(await run('(rows) => rows[0].id', cat), -1, 'a string not in the list counts in no category')
    assert.equal(await run('(rows) => ["female"]', cat), -1)
    assert.deepEqual(await run('(rows) => [1, 2]', vec), [0, 0, 0], 'wrong length: all defaults')
    assert.deepEqual(await run('(rows) => [rows[0].id, 7, -1]', vec), [0, 1, 0])
    assert.deepEqual(await run('(rows) => ({ length: 3, 0: 1, get 1() { throw new Error("x") }, 2: 0 })', vec), [1, 0, 0], 'a throwing getter: that entry counts as the default')
    assert.equal(await run('(rows) => 5', parseOutputSpec('number:10:20')), 10, 'the default 0 clamped into [10, 20] is 10')
  })

  it('has no I/O, no clock and no randomness', async () => {
    const probe = '() => [typeof fetch, typeof setTimeout, typeof setInterval, typeof require, typeof process, typeof Date, typeof Math.random, typeof console, typeof std, typeof os, typeof WebAssembly, typeof XMLHttpRequest, typeof performance, typeof Proxy, typeof Promise].join()'
    const seen = await (await openUnitFunction({ source: `(rows) => (${probe})() === "${Array(15).fill('undefined').join()}" ? "female" : "male"`, output: cat })).run(rows)
    assert.equal(seen, 1, 'every I/O, clock and randomness global is undefined')
  })

  it('units are isolated: nothing a call leaves behind is seen by the next', async () => {
    const f = await openUnitFunction({ source: '(rows) => { globalThis.n = (globalThis.n ?? 0) + 1; Object.prototype.seen = (Object.prototype.seen ?? 0) + 1; return n * 10 + ({}).seen }', output: num })
    assert.equal(await f.run(rows), 11)
    assert.equal(await f.run(rows), 11, 'a fresh global and fresh prototypes per unit')
    const closure = await openUnitFunction({ source: '(() => { let calls = 0; return (rows) => ++calls })()', output: num })
    assert.equal(await closure.run(rows), 1)
    assert.equal(await closure.run(rows), 1, 'a closure made at definition time is made again per unit')
  })

  it('an infinite loop, a memory bomb and a stack overflow end the call with the default answer, not the job', async () => {
    await limitHit('(rows) => { while (true) {} }')
    await limitHit('(rows) => { let s = JSON.stringify(rows); for (;;) s += s }')
    await limitHit('(rows) => { const a = []; for (;;) a.push(new Array(100000).fill(rows)) }')
    await limitHit('(rows) => { const f = (n) => f(n + 1) + 1; return f(0) }')
    // The sandbox is usable after each (a fresh WebAssembly instance if QuickJS aborted).
    assert.equal(await run('(rows) => rows.length'), 2)
    await limitHit('(rows) => { try { while (true) {} } catch { return 1 } }')
    await limitHit('(rows) => [1, 2, 3].map(() => { for (;;) {} })')
    await limitHit('(rows) => ({ length: 3, get 0() { for (;;) {} } })', vec) // a getter that loops while the answer is read
    await limitHit('(rows) => { for (;;) {} }', cat)
    // The rows count against the heap: a unit whose own rows do not fit answers the default too.
    const big = Array.from({ length: 40 }, () => ({ id: 'alice', note: 'x'.repeat(1 << 20) }))
    assert.equal(await run('(rows) => rows.length', num, big), 0)
    assert.equal(await run('(rows) => rows.length'), 2)
  })

  it('refuses a source that is not a function before any row is read', async () => {
    for (const bad of ['', '1 + 1', 'rows =>', '"female"', '(() => { for (;;) {} })()']) {
      await assert.rejects(checkFunctionSource(bad), (e: unknown) => isW3aError(e, 'QUERY_REFUSED'), bad)
    }
    await checkFunctionSource('(rows) => rows.length')
  })
})
