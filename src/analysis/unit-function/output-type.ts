/**
 * The declared type of a per-unit function's answer, and the rule that turns whatever the
 * function returned into a value of that type. The rule depends on the returned value alone and
 * never fails: a bad answer becomes a fixed default, so nothing about a unit's rows can reach
 * the analyst through an error or through an answer outside the type.
 *
 *   number:LO:HI        a finite number, clamped to [LO, HI]; anything else counts as 0 clamped to [LO, HI]
 *   category:A,B,…      one of the listed strings (exact match); anything else counts in no category
 *   vector:N:LO:HI      an array of N finite numbers, each clamped to [LO, HI]; a wrong length or a
 *                       non-array counts as N zeros clamped to [LO, HI], a bad entry as one such zero
 *
 * Bounds are public (they are in the sealed analysis the job commits to), so the privacy gate
 * knows each answer's sensitivity without looking at the data.
 */
import { z } from 'zod'
import { W3aError } from '../../core/errors.js'

export const MAX_VECTOR_LENGTH = 16
export const MAX_CATEGORIES = 64
export const MAX_CATEGORY_CHARS = 64
const MAX_MAGNITUDE = 1e12

const bound = z.number().refine(Number.isFinite, 'must be finite').refine((x) => Math.abs(x) <= MAX_MAGNITUDE, `magnitude must be ≤ ${MAX_MAGNITUDE}`)
const ordered = (o: { lo: number; hi: number }) => o.lo <= o.hi

export const UnitOutputSchema = z.union([
  z.strictObject({ kind: z.literal('number'), lo: bound, hi: bound }).refine(ordered, 'lo must be ≤ hi'),
  z.strictObject({
    kind: z.literal('category'),
    values: z
      .array(z.string().min(1).max(MAX_CATEGORY_CHARS))
      .min(2)
      .max(MAX_CATEGORIES)
      .refine((v) => new Set(v).size === v.length, 'categories must be distinct'),
  }),
  z.strictObject({ kind: z.literal('vector'), length: z.number().int().min(1).max(MAX_VECTOR_LENGTH), lo: bound, hi: bound }).refine(ordered, 'lo must be ≤ hi'),
])
export type UnitOutput = z.infer<typeof UnitOutputSchema>

/** A unit's answer after the rule: a number, a category index (-1: none), or a vector. */
export type UnitValue = number | number[]

const NUMBER = /^-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?$/

/** `number:0:100`, `category:male,female`, `vector:3:0:1` → a UnitOutput (INVALID_ARGUMENT naming the problem). */
export function parseOutputSpec(spec: string): UnitOutput {
  const bad = (why: string): never => {
    throw new W3aError('INVALID_ARGUMENT', `--output "${spec}": ${why}`, { details: ['Forms: number:LO:HI, category:A,B,…, vector:N:LO:HI (N ≤ 16)'] })
  }
  const [kind, ...rest] = spec.split(':')
  const num = (s: string | undefined, what: string): number => (s !== undefined && NUMBER.test(s.trim()) ? Number(s) : bad(`${what} is not a number`))
  let value: unknown
  if (kind === 'number' && rest.length === 2) value = { kind, lo: num(rest[0], 'LO'), hi: num(rest[1], 'HI') }
  else if (kind === 'category' && rest.length === 1) value = { kind, values: rest[0]!.split(',').map((s) => s.trim()) }
  else if (kind === 'vector' && rest.length === 3) value = { kind, length: num(rest[0], 'N'), lo: num(rest[1], 'LO'), hi: num(rest[2], 'HI') }
  else bad('not one of the forms')
  return parseUnitOutput(value)
}

export function parseUnitOutput(value: unknown): UnitOutput {
  const r = UnitOutputSchema.safeParse(value)
  if (!r.success) throw new W3aError('INVALID_ARGUMENT', 'The declared output type is not valid', { details: r.error.issues.map((i) => `${i.path.join('.') || 'output'}: ${i.message}`) })
  return r.data
}

export function formatOutputSpec(o: UnitOutput): string {
  if (o.kind === 'number') return `number:${o.lo}:${o.hi}`
  if (o.kind === 'category') return `category:${o.values.join(',')}`
  return `vector:${o.length}:${o.lo}:${o.hi}`
}

/** The value a bad number counts as: 0 clamped to the declared range. */
export function defaultNumber(o: { lo: number; hi: number }): number {
  return clamp(0, o)
}

export function clamp(x: number, o: { lo: number; hi: number }): number {
  return Math.min(o.hi, Math.max(o.lo, x))
}

/** A returned number under the rule (not a finite number → the default). */
export function coerceNumber(x: unknown, o: { lo: number; hi: number }): number {
  return typeof x === 'number' && Number.isFinite(x) ? clamp(x, o) : defaultNumber(o)
}

/** A returned category under the rule: its index, or -1 (counted in none). */
export function coerceCategory(x: unknown, o: { values: readonly string[] }): number {
  return typeof x === 'string' ? o.values.indexOf(x) : -1
}

/** The largest |value| one answer can have: the per-unit sensitivity of a sum. */
export function magnitude(o: { lo: number; hi: number }): number {
  return Math.max(Math.abs(o.lo), Math.abs(o.hi))
}
