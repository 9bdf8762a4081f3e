/**
 * The sandbox a per-unit function runs in: QuickJS compiled to WebAssembly, one fresh runtime
 * and context per call, so units cannot talk to each other (nothing a call leaves behind, in a
 * global, a prototype or a closure, survives it). No I/O exists inside: the QuickJS core has no
 * std/os modules, no fetch, no timers, no require, no console; `Date` is left out and
 * `Math.random` deleted, so the only input is the rows given (INTRINSICS: the language kept). Limits per call: memory
 * (`memoryBytes`, the unit's rows included), stack, and steps (the interrupt handler is polled
 * every few thousand bytecode operations; `steps` polls end the call), a count, not a clock, so
 * whether a call ends does not depend on the host's load.
 *
 * Every outcome is an answer, turned into the declared type by output-type.ts: a throw, a
 * promise, a string where a number was declared, and a call that hit a limit all count as the
 * type's default. A limit hit must not stop the job: the analyst's code decides on which rows it
 * loops, so a failed job would answer "does some unit match?" with certainty (a unit's own rows
 * can also fill the heap). No message from inside the sandbox ever leaves it.
 *
 * Plain WebAssembly and no Node built-ins: the same module can run on a respondent's device.
 */
import { newQuickJSWASMModuleFromVariant, type Intrinsics, type QuickJSContext, type QuickJSHandle, type QuickJSWASMModule } from 'quickjs-emscripten-core'
import { W3aError } from '../../core/errors.js'
import { MAX_FUNCTION_CHARS } from '../analysis-request.js'
import { coerceCategory, coerceNumber, defaultNumber, type UnitOutput, type UnitValue } from './output-type.js'

export type SandboxLimits = {
  /** Heap of one call (the unit's rows, parsed, count against it). */
  memoryBytes: number
  stackBytes: number
  /** Interrupt polls allowed per call (QuickJS polls about every 10,000 operations). */
  steps: number
}

export const DEFAULT_SANDBOX_LIMITS: SandboxLimits = { memoryBytes: 32 * 1024 * 1024, stackBytes: 512 * 1024, steps: 2_000 }
/** A row as the function sees it: column name → JSON value. */
export type UnitRow = Record<string, string | number | boolean | null>

/**
 * The language a function gets: objects, arrays, strings, numbers, Math, JSON, Map/Set, RegExp.
 * No Date (a clock), no Proxy, Promise, typed arrays or BigInt: less to set up per unit (a fresh
 * context costs about half as much) and less surface.
 */
const INTRINSICS: Intrinsics = { BaseObjects: true, JSON: true, MapSet: true, RegExp: true, RegExpCompiler: true, StringNormalize: true, Eval: true }

let module: Promise<QuickJSWASMModule> | undefined
function quickjs(): Promise<QuickJSWASMModule> {
  module ??= newQuickJSWASMModuleFromVariant(import('@jitl/quickjs-wasmfile-release-sync'))
  return module
}

/**
 * A WebAssembly instance QuickJS aborted in (it checks on freeing a runtime that nothing leaked,
 * which a stack overflow can break) is dead: the next call gets a new one.
 */
function discard(mod: QuickJSWASMModule): void {
  void module?.then((m) => {
    if (m === mod) module = undefined
  })
}

type Outcome = { kind: 'value'; handle: QuickJSHandle } | { kind: 'threw' } | { kind: 'limit' }

/**
 * One call in a fresh runtime: `rowsJson` parsed inside (before any analyst code runs, with
 * the untouched JSON.parse), then the source evaluated to a function and called on the rows.
 * `read` turns the result into a host value while the context is alive.
 */
function call<T>(mod: QuickJSWASMModule, source: string, rowsJson: string | undefined, limits: SandboxLimits, read: (ctx: QuickJSContext, o: Outcome) => T): T {
  const rt = mod.newRuntime()
  let steps = 0
  let interrupted = false
  rt.setMemoryLimit(limits.memoryBytes)
  rt.setMaxStackSize(limits.stackBytes)
  rt.setInterruptHandler(() => (interrupted ||= ++steps > limits.steps))
  const handles: QuickJSHandle[] = []
  const keep = (h: QuickJSHandle) => (handles.push(h), h)
  try {
    const ctx = rt.newContext({ intrinsics: INTRINSICS })
    try {
      const outcome = ((): Outcome => {
        const settle = (r: ReturnType<QuickJSContext['evalCode']>): QuickJSHandle | Outcome => {
          if (r.error === undefined) return keep(r.value)
          const limit = interrupted || isLimitError(ctx, r.error)
          r.error.dispose()
          return limit ? { kind: 'limit' } : { kind: 'threw' }
        }
        const prelude = settle(ctx.evalCode('"use strict"; delete Math.random; undefined', 'prelude.js'))
        if ('kind' in prelude) return prelude
        let rows: QuickJSHandle = ctx.undefined
        if (rowsJson !== undefined) {
          const json = keep(ctx.getProp(ctx.global, 'JSON'))
          const parsed = settle(ctx.callFunction(keep(ctx.getProp(json, 'parse')), json, keep(ctx.newString(rowsJson))))
          if ('kind' in parsed) return parsed
          rows = parsed
        }
        const fn = settle(ctx.evalCode(`(\n${source}\n)`, 'function.js', { strict: true }))
        if ('kind' in fn) return fn
        if (rowsJson === undefined) return { kind: 'value', handle: fn }
        const out = settle(ctx.callFunction(fn, ctx.undefined, rows))
        return 'kind' in out ? out : { kind: 'value', handle: out }
      })()
      try {
        const value = read(ctx, outcome)
        // Reading the answer may run analyst code (a getter): its limits hold there too.
        if (interrupted) throw new SandboxLimit()
        return value
      } catch (e) {
        if (interrupted || e instanceof SandboxLimit || isLimitCause((e as { cause?: unknown } | null)?.cause)) throw new SandboxLimit()
        // Reading the value ran analyst code (a getter) that threw: counts as a throw.
        return read(ctx, { kind: 'threw' })
      }
    } finally {
      for (const h of handles.reverse()) if (h.alive) h.dispose()
      ctx.dispose()
    }
  } finally {
    try {
      rt.dispose()
    } catch {
      // QuickJS aborted on freeing (a leak after a stack overflow): the instance is gone, and so is this call's answer.
      discard(mod)
      // eslint-disable-next-line no-unsafe-finally
      throw new SandboxLimit()
    }
  }
}

class SandboxLimit extends Error {}

/** Out of memory (or a string past QuickJS's maximum), stack overflow, or our interrupt: QuickJS raises them as InternalError. */
function isLimitError(ctx: QuickJSContext, error: QuickJSHandle): boolean {
  try {
    return isLimitCause(ctx.dump(error))
  } catch {
    return true // not even readable: memory is gone
  }
}

function isLimitCause(e: unknown): boolean {
  const x = e as { name?: unknown; message?: unknown } | null
  return x !== null && typeof x === 'object' && x.name === 'InternalError' && ['out of memory', 'stack overflow', 'interrupted', 'string too long'].includes(String(x.message))
}

/**
 * Checks a function's source before any row is read: it must evaluate (in an empty sandbox, with
 * the same limits) to a function. QUERY_REFUSED with the sandbox's text otherwise: it quotes the
 * analyst's own source only.
 */
export async function checkFunctionSource(source: string, limits: SandboxLimits = DEFAULT_SANDBOX_LIMITS): Promise<void> {
  if (typeof source !== 'string' || source.trim() === '') throw new W3aError('QUERY_REFUSED', 'The function source is empty')
  if (source.length > MAX_FUNCTION_CHARS) throw new W3aError('QUERY_REFUSED', `The function source is longer than ${MAX_FUNCTION_CHARS} characters`)
  const mod = await quickjs()
  let problem: string | undefined
  try {
    problem = call(mod, source, undefined, limits, (ctx, o) => {
      if (o.kind === 'limit') throw new SandboxLimit()
      if (o.kind === 'threw') return 'it does not evaluate (a syntax error, or it throws when defined)'
      return ctx.typeof(o.handle) === 'function' ? undefined : `it evaluates to a ${ctx.typeof(o.handle)}, not a function`
    })
  } catch (e) {
    if (!(e instanceof SandboxLimit)) throw e
    problem = 'evaluating it exceeded the sandbox limits'
  }
  if (problem !== undefined) {
    throw new W3aError('QUERY_REFUSED', `The function is not usable: ${problem}`, { details: ['Write one expression that is a function of the unit\'s rows, e.g. (rows) => rows.length'] })
  }
}

export type UnitFunction = {
  /** One unit's rows → its answer under the declared type (the type's default when a limit is hit). */
  run(rows: readonly UnitRow[]): Promise<UnitValue>
}

/** A function ready to run per unit (the source is evaluated afresh in every call). */
export async function openUnitFunction(p: { source: string; output: UnitOutput; limits?: Partial<SandboxLimits> }): Promise<UnitFunction> {
  const limits = { ...DEFAULT_SANDBOX_LIMITS, ...p.limits }
  await checkFunctionSource(p.source, limits)
  const o = p.output
  const fallback = (): UnitValue => (o.kind === 'number' ? defaultNumber(o) : o.kind === 'category' ? -1 : Array.from({ length: o.length }, () => defaultNumber(o)))
  return {
    async run(rows) {
      const json = JSON.stringify(rows)
      const mod = await quickjs()
      try {
        return call(mod, p.source, json, limits, (ctx, r) => {
          if (r.kind === 'limit') throw new SandboxLimit()
          if (r.kind === 'threw') return fallback()
          const h = r.handle
          const type = ctx.typeof(h)
          if (o.kind === 'number') return coerceNumber(type === 'number' ? ctx.getNumber(h) : undefined, o)
          if (o.kind === 'category') return coerceCategory(type === 'string' ? ctx.getString(h) : undefined, o)
          if (type !== 'object' || ctx.getLength(h) !== o.length) return fallback()
          return Array.from({ length: o.length }, (_, i) => {
            const x = ctx.getProp(h, i)
            try {
              return coerceNumber(ctx.typeof(x) === 'number' ? ctx.getNumber(x) : undefined, o)
            } finally {
              x.dispose()
            }
          })
        })
      } catch (e) {
        // A limit hit is an answer like a throw: whether the job ends must not depend on the rows.
        if (e instanceof SandboxLimit) return fallback()
        throw e
      }
    },
  }
}
