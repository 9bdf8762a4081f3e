/**
 * The SQL checker: DuckDB parses the analyst's text (`json_serialize_sql`, the text bound as a
 * parameter) and we walk DuckDB's own parse tree against an allow-list. Only what is listed
 * here passes; every unknown node class, clause or function is a refusal (QUERY_REFUSED naming
 * the part). The SQL that runs is re-generated from the checked tree (`json_deserialize_sql`)
 * plus parts we assemble from identifiers we quote ourselves, never the analyst's text.
 *
 * Clean-room column classes (policy.columns; any column not declared is an identifier):
 * - identifiers (and the privacy unit): never output, never inside an expression; allowed only
 *   as `count(DISTINCT id)`.
 * - dimensions: grouping keys, filters, and inside aggregates. Under DP a grouping key may also be
 *   an expression over dimensions and constants, named by its alias in GROUP BY
 *   (`SELECT json_extract_string(props, '$.plan') AS plan, … GROUP BY plan`): a function of one
 *   row's dimensions partitions the rows as a WHERE could, the gate bounds each unit's groups and
 *   noises and thresholds them the same way, and the expression runs inside TRY (totality, below).
 *   Exact mode has no GROUP BY at all.
 * - measures: inside aggregates; in WHERE only as `measure <op> constant`, BETWEEN constants,
 *   IN constants or IS [NOT] NULL. That still lets an analyst difference two filters; the
 *   mitigation is DP noise on every release and the ε each query spends (docs/analysis.md).
 *
 * Exact mode (no DP, only where the owner opted in) answers about the whole dataset only: no
 * WHERE, no GROUP BY, no HAVING, and every output one aggregate of a bare measure (count(*),
 * count(DISTINCT unit)): nothing that selects or transforms values inside or around an
 * aggregate, since a condition or a non-linear transform there picks out one person. (With
 * groups, one below k either is dropped, and the whole total minus the released groups is that
 * person, or withholds the answer, and whether it did tells that such a person exists.)
 * Quantile levels must lie in policy.quantileRange (level 0 or 1 is a min or max in disguise).
 *
 * Totality: whether a query fails must not depend on the rows. The only row-level expressions
 * left are WHERE's (under DP); the canonical SQL evaluates WHERE inside DuckDB's TRY (an error
 * on a row makes the condition NULL, the row is not selected) and every CAST as TRY_CAST.
 */
import { W3aError } from '../core/errors.js'
import type { CustodyPolicy } from '../custody/policy.js'
import { MAX_SQL_CHARS } from './analysis-request.js'
import { sqlIdent } from '../storage/duckdb-sandbox.js'

export type ColumnClass = 'identifier' | 'dimension' | 'measure'
export type Node = Record<string, any> // eslint-disable-line @typescript-eslint/no-explicit-any

/** What the DP gate needs to know about one aggregate output column. */
export type DpAggregate =
  | { kind: 'count' } // count(*)
  | { kind: 'count-column'; column: string } // count(measure): non-null rows
  | { kind: 'sum'; column: string }
  | { kind: 'avg'; column: string }
  | { kind: 'quantile'; column: string; level: number } // median, quantile_cont, approx_quantile: the exponential mechanism
  | { kind: 'units' } // count(DISTINCT privacyUnit)

export type OutputColumn = { index: number; role: 'group' | 'aggregate'; column?: string; dp?: DpAggregate }

export type CheckedQuery = {
  outputs: OutputColumn[]
  /** Schema names of the GROUP BY columns (or, for an expression key, its alias), in order. */
  groupKeys: string[]
  /** An expression key's (TRY-wrapped) select item, by its alias; plain column keys are absent. */
  groupExpressions: Record<string, Node>
  /** Canonical SQL (no LIMIT/OFFSET) that adds `__w3a_units` = count(DISTINCT privacy unit). */
  sql: string
  /** LIMIT/OFFSET, applied by the gate after suppression so they cannot pick out small groups. */
  limit: number | null
  offset: number
  /** The checked parse tree (for DP SQL assembly). */
  node: Node
}

export type CheckOptions = {
  columns: readonly string[]
  privacyUnit: string
  policy: CustodyPolicy
  /** With DP only plain count/sum/avg outputs, no HAVING, ORDER BY on group keys only. */
  dp: boolean
}

/** Parses with DuckDB; `parse(sql)` returns json_serialize_sql's text for the bound sql. */
export type SqlParser = { serialize(sql: string): Promise<string>; deserialize(json: string): Promise<string> }

export const UNITS_ALIAS = '__w3a_units'

const AGGREGATES = new Set([
  'count', 'count_star', 'sum', 'avg', 'mean', 'stddev', 'stddev_samp', 'stddev_pop', 'var_samp', 'var_pop', 'variance',
  'approx_quantile', 'quantile_cont', 'median', 'approx_count_distinct',
])
const MINMAX = new Set(['min', 'max'])
const QUANTILES = new Set(['approx_quantile', 'quantile_cont'])
// Scalar functions allowed inside expressions over dimensions/measures and around aggregates.
const SCALARS = new Set([
  '+', '-', '*', '/', '//', '%', 'abs', 'round', 'floor', 'ceil', 'ceiling', 'sqrt', 'ln', 'log10', 'exp', 'power', 'pow',
  'coalesce', 'least', 'greatest', 'lower', 'upper', 'year', 'month', 'day', 'dayofweek', 'hour', 'date_trunc', 'date_part',
  '~~', '!~~', '~~*', '!~~*', 'nullif', 'json_extract_string',
])
const COMPARISONS = new Set([
  'COMPARE_EQUAL', 'COMPARE_NOTEQUAL', 'COMPARE_LESSTHAN', 'COMPARE_GREATERTHAN', 'COMPARE_LESSTHANOREQUALTO',
  'COMPARE_GREATERTHANOREQUALTO', 'COMPARE_DISTINCT_FROM', 'COMPARE_NOT_DISTINCT_FROM',
])
const SELECT_KEYS = new Set([
  'type', 'modifiers', 'cte_map', 'select_list', 'from_table', 'where_clause', 'group_expressions', 'group_sets',
  'aggregate_handling', 'having', 'sample', 'qualify',
])

// Node classes refused wherever they appear, named by unknown().
const NOT_EXPRESSIONS = new Set(['STAR', 'SUBQUERY', 'WINDOW', 'PARAMETER', 'LAMBDA', 'COLLATE', 'POSITIONAL_REFERENCE'])

export function refuse(part: string, why?: string): never {
  throw new W3aError('QUERY_REFUSED', `Query refused: ${part}`, why ? { details: [why] } : {})
}

/** Column class by (case-insensitive) name; undeclared columns are identifiers. */
export function classify(policy: CustodyPolicy, privacyUnit: string, name: string): ColumnClass {
  const n = name.toLowerCase()
  if (n === privacyUnit.toLowerCase()) return 'identifier'
  const cols = policy.columns
  if (cols?.identifiers.some((c) => c.toLowerCase() === n)) return 'identifier'
  if (cols?.dimensions.some((c) => c.toLowerCase() === n)) return 'dimension'
  if (cols?.measures.some((c) => c.toLowerCase() === n)) return 'measure'
  return 'identifier'
}

export async function checkSql(parser: SqlParser, sql: string, opts: CheckOptions): Promise<CheckedQuery> {
  if (typeof sql !== 'string' || sql.length === 0 || sql.length > MAX_SQL_CHARS) refuse('query text', `Empty or longer than ${MAX_SQL_CHARS.toLocaleString('en')} characters`)
  let parsed: Node
  try {
    parsed = JSON.parse(await parser.serialize(sql)) as Node
  } catch {
    refuse('the query cannot be parsed as SQL')
  }
  if (parsed.error !== false) refuse('not a single SELECT statement', String(parsed.error_message ?? 'parse error').slice(0, 200))
  const statements = parsed.statements as Node[] | undefined
  if (!Array.isArray(statements) || statements.length !== 1) refuse('multiple statements', 'Send exactly one SELECT')
  const st = statements[0]!
  if (Array.isArray(st.named_param_map) && st.named_param_map.length > 0) refuse('query parameters')
  const node = st.node as Node
  return new Checker(opts).check(node, parser)
}

type Ctx = 'where' | 'agg-arg' | 'outer'

class Checker {
  private readonly byLower = new Map<string, string>()
  private tableAlias = 'data'
  private groupKeys: string[] = []
  private aliases = new Set<string>()

  constructor(private readonly opts: CheckOptions) {
    for (const c of opts.columns) this.byLower.set(c.toLowerCase(), c)
  }

  async check(node: Node, parser: SqlParser): Promise<CheckedQuery> {
    if (node?.type !== 'SELECT_NODE') refuse(`${String(node?.type ?? 'statement').replace('_NODE', '')} (set operations such as UNION/INTERSECT/EXCEPT, VALUES and recursive queries)`)
    for (const [k, v] of Object.entries(node)) if (!SELECT_KEYS.has(k) && v !== null && !(Array.isArray(v) && v.length === 0)) refuse(`clause ${k}`)
    if ((node.cte_map?.map ?? []).length > 0) refuse('WITH (common table expressions)')
    if (node.sample !== null || node.from_table?.sample) refuse('SAMPLE')
    if (node.qualify !== null) refuse('QUALIFY')
    if (node.aggregate_handling !== 'STANDARD_HANDLING') refuse('GROUP BY ALL')
    this.checkFrom(node.from_table)

    // GROUP BY: bare dimension columns only, one plain grouping set (no ROLLUP/CUBE/GROUPING SETS).
    const groups = (node.group_expressions ?? []) as Node[]
    if (groups.length > 0 && !this.opts.dp) refuse('GROUP BY in an exact query', 'Exact answers cover the whole dataset: a group below k, withheld or not, would tell about one person. Group with differential privacy (the default)')
    const list = (node.select_list ?? []) as Node[]
    const expressionKeys = new Map<string, number>()
    for (const g of groups) {
      if (g.class !== 'COLUMN_REF') refuse('GROUP BY expression', 'Group by plain dimension columns, or name an expression of dimensions in SELECT … AS name and group by that name')
      const named = this.selectAlias(g, list)
      if (named !== undefined) {
        // An expression of dimensions and constants only (no aggregate, identifier or measure).
        this.dimensionExpr(list[named]!)
        const alias = String(list[named]!.alias)
        if (this.groupKeys.some((k) => k.toLowerCase() === alias.toLowerCase())) refuse(`GROUP BY ${alias} twice`)
        expressionKeys.set(alias.toLowerCase(), named)
        this.groupKeys.push(alias)
        continue
      }
      const col = this.column(g)
      if (this.cls(col) !== 'dimension') refuse(`GROUP BY ${col}`, `"${col}" is ${this.article(col)}, not a dimension`)
      this.groupKeys.push(col)
    }
    const sets = (node.group_sets ?? []) as number[][]
    const plain = groups.length === 0 ? sets.length === 0 : sets.length === 1 && sets[0]!.length === groups.length && sets[0]!.every((x, i) => x === i)
    if (!plain) refuse('GROUPING SETS / ROLLUP / CUBE')

    // SELECT list: each item a grouping key or an aggregate expression.
    if (list.length === 0) refuse('empty select list')
    const outputs: OutputColumn[] = []
    list.forEach((item, index) => {
      const alias = String(item.alias ?? '')
      if (alias.toLowerCase().startsWith('__w3a')) refuse(`alias ${alias}`, 'Names starting with __w3a are reserved')
      if (alias !== '' && this.byLower.has(alias.toLowerCase()) && !(item.class === 'COLUMN_REF' && this.column(item).toLowerCase() === alias.toLowerCase())) {
        refuse(`alias ${alias}`, 'An alias may not reuse the name of a column of data')
      }
      if (alias !== '') this.aliases.add(alias.toLowerCase())
      if (item.class === 'STAR') refuse('SELECT *', 'Name the aggregates you want')
      if (alias !== '' && expressionKeys.get(alias.toLowerCase()) === index) {
        outputs.push({ index, role: 'group', column: alias })
        return
      }
      if (item.class === 'COLUMN_REF') {
        const col = this.column(item)
        if (this.cls(col) === 'identifier') refuse(`identifier column ${col} in the output`)
        if (!this.isGroupKey(col)) refuse(`column ${col} in the output is not a GROUP BY key`, 'This would return rows of individuals')
        outputs.push({ index, role: 'group', column: col })
        return
      }
      if (this.opts.dp) {
        outputs.push({ index, role: 'aggregate', dp: this.dpAggregate(item) })
        return
      }
      this.exactAggregate(item, index)
      outputs.push({ index, role: 'aggregate' })
    })

    if (node.where_clause !== null) {
      if (!this.opts.dp) refuse('WHERE in an exact query', 'Exact answers cover the whole dataset: two filters would difference one person out. Filter with differential privacy (the default)')
      this.where(node.where_clause)
    }
    if (node.having !== null) refuse('HAVING', 'Filter the result on your side')

    let limit: number | null = null
    let offset = 0
    const modifiers: Node[] = []
    for (const m of (node.modifiers ?? []) as Node[]) {
      if (m.type === 'ORDER_MODIFIER') {
        for (const o of m.orders as Node[]) this.orderTerm(o.expression, list.length)
        modifiers.push(m)
      } else if (m.type === 'LIMIT_MODIFIER') {
        limit = m.limit === null ? null : this.constantInt(m.limit, 'LIMIT')
        offset = m.offset === null ? 0 : this.constantInt(m.offset, 'OFFSET')
      } else if (m.type === 'DISTINCT_MODIFIER') refuse('SELECT DISTINCT', 'Use GROUP BY')
      else refuse(String(m.type).replace('_MODIFIER', ''))
    }

    // Every cast becomes TRY_CAST (NULL, not an error, on a value that does not convert): whether
    // a query fails must not depend on the data, or a failure would tell which values exist.
    tryCasts(node)
    if (node.where_clause !== null) node.where_clause = { class: 'OPERATOR', type: 'OPERATOR_TRY', alias: '', query_location: 0, children: [node.where_clause] }
    // An expression key is evaluated on every row, as WHERE is: inside TRY (an error makes it NULL).
    const groupExpressions: Record<string, Node> = {}
    for (const [, index] of expressionKeys) {
      const item = node.select_list[index] as Node
      const wrapped = { class: 'OPERATOR', type: 'OPERATOR_TRY', alias: item.alias, query_location: 0, children: [{ ...item, alias: '' }] }
      node.select_list[index] = wrapped
      groupExpressions[String(item.alias)] = wrapped
    }
    // Canonical SQL: the checked tree without LIMIT, plus count(DISTINCT unit) AS __w3a_units.
    const tree = structuredClone(node)
    zeroLocations(tree)
    tree.modifiers = modifiers.map((m) => structuredClone(m))
    zeroLocations(tree.modifiers)
    tree.select_list.push(fn('count', [colRef(this.unitColumn())], { distinct: true, alias: UNITS_ALIAS }))
    const sql = await deserialize(parser, tree)
    return { outputs, groupKeys: this.groupKeys, groupExpressions, sql, limit, offset, node }
  }

  private checkFrom(from: Node | null): void {
    if (!from || from.type === 'EMPTY') refuse('SELECT without FROM data')
    if (from.type === 'JOIN') refuse('JOIN (more than one table in FROM)')
    if (from.type === 'SUBQUERY') refuse('subquery in FROM')
    if (from.type === 'TABLE_FUNCTION') refuse(`table function ${String(from.function?.function_name ?? '')} in FROM`)
    if (from.type !== 'BASE_TABLE') refuse(`FROM ${String(from.type)}`)
    if (String(from.table_name).toLowerCase() !== 'data') refuse(`table ${String(from.table_name)}`, 'The only table is data')
    if (!['', 'main'].includes(String(from.schema_name)) || String(from.catalog_name) !== '') refuse('schema or catalog in FROM')
    if ((from.column_name_alias ?? []).length > 0 || from.at_clause) refuse('column aliases or AT clause on data')
    if (from.alias) this.tableAlias = String(from.alias)
  }

  /** The schema name of a column reference (qualified only by data or its alias). */
  private column(ref: Node): string {
    const parts = ref.column_names as string[]
    if (!Array.isArray(parts) || parts.length < 1 || parts.length > 2) refuse('qualified column name')
    if (parts.length === 2 && ![this.tableAlias.toLowerCase(), 'data'].includes(parts[0]!.toLowerCase())) refuse(`column ${parts.join('.')}`)
    const name = parts[parts.length - 1]!
    const col = this.byLower.get(name.toLowerCase())
    if (col === undefined) refuse(`unknown column ${name}`)
    return col
  }

  /**
   * The select item a GROUP BY name refers to when it is no column of data but an alias (only with
   * DP: exact mode has no GROUP BY); undefined for a column name. The item must not be an aggregate.
   */
  private selectAlias(g: Node, list: Node[]): number | undefined {
    const parts = g.column_names as string[]
    if (!Array.isArray(parts) || parts.length !== 1 || this.byLower.has(String(parts[0]).toLowerCase())) return undefined
    const name = String(parts[0]).toLowerCase()
    const index = list.findIndex((item) => String(item.alias ?? '').toLowerCase() === name)
    if (index < 0) return undefined
    if (!this.opts.dp) refuse('GROUP BY an expression in an exact query')
    const item = list[index]!
    if (item.class === 'FUNCTION' && (AGGREGATES.has(String(item.function_name).toLowerCase()) || MINMAX.has(String(item.function_name).toLowerCase()))) refuse(`GROUP BY ${String(item.alias)}, an aggregate`)
    return index
  }

  private cls(col: string): ColumnClass {
    return classify(this.opts.policy, this.opts.privacyUnit, col)
  }

  private article(col: string): string {
    return this.cls(col) === 'identifier' ? 'an identifier' : 'a measure'
  }

  private isGroupKey(col: string): boolean {
    return this.groupKeys.includes(col)
  }

  private unitColumn(): string {
    const col = this.byLower.get(this.opts.privacyUnit.toLowerCase())
    if (col === undefined) throw new W3aError('PRIVACY_UNIT_MISSING', 'The privacy unit is not a column of data')
    return col
  }

  /** An expression inside an aggregate's argument: dimensions, measures, constants, scalars. */
  private aggArg(e: Node): void {
    switch (e.class) {
      case 'CONSTANT':
        this.constant(e)
        return
      case 'COLUMN_REF': {
        const col = this.column(e)
        if (this.cls(col) === 'identifier') refuse(`identifier column ${col} inside an expression`, 'Identifiers are allowed only as count(DISTINCT id)')
        return
      }
      case 'FUNCTION': {
        const name = this.fnName(e)
        if (AGGREGATES.has(name) || MINMAX.has(name)) refuse(`nested aggregate ${name}`)
        for (const c of this.children(e, name)) this.aggArg(c)
        return
      }
      case 'CAST':
      case 'COMPARISON':
      case 'CONJUNCTION':
      case 'OPERATOR':
      case 'BETWEEN':
      case 'CASE':
        for (const c of this.generic(e)) this.aggArg(c)
        return
      default:
        this.unknown(e)
    }
  }

  /** An exact-mode output: one aggregate over a bare measure (or count(*), count(DISTINCT unit)). */
  private exactAggregate(e: Node, index: number): void {
    if (NOT_EXPRESSIONS.has(e.class)) this.unknown(e)
    if (e.class !== 'FUNCTION') refuse(`output column ${index + 1} is not an aggregate`, 'Exact answers are plain aggregates: no expression around or inside them')
    const name = this.fnName(e)
    if (!AGGREGATES.has(name) && !MINMAX.has(name)) refuse(`output column ${index + 1} is not an aggregate`, 'Exact answers are plain aggregates: no expression around or inside them')
    if (name === 'approx_count_distinct') refuse(name, 'Distinct counts of values tell which values exist')
    this.aggregate(e, name)
    if (name === 'count_star') return
    const arg = (e.children as Node[])[0]!
    if (arg.class !== 'COLUMN_REF') refuse(`${name} over an expression in an exact query`, 'Aggregate a bare measure column: conditions and transforms inside an aggregate pick out single rows')
    const col = this.column(arg)
    if (this.cls(col) === 'identifier') return // aggregate() allowed only count(DISTINCT unit-or-id)
    if (this.cls(col) !== 'measure') refuse(`${name}(${col}) in an exact query`, `"${col}" is not a measure`)
    if (e.distinct === true) refuse(`${name}(DISTINCT ${col})`, 'Distinct counts of values tell which values exist')
  }

  private aggregate(e: Node, name: string): void {
    if (e.filter !== null && e.filter !== undefined) refuse(`FILTER clause on ${name}`, 'Use WHERE')
    if ((e.order_bys?.orders ?? []).length > 0) refuse(`ORDER BY inside ${name}`)
    if (e.export_state) refuse(`EXPORT_STATE on ${name}`)
    const args = e.children as Node[]
    if (name === 'count_star') return
    if (args.length === 0) refuse(`${name}() without an argument`)
    const first = args[0]!
    if (first.class === 'COLUMN_REF' && this.cls(this.column(first)) === 'identifier') {
      if (name === 'count' && e.distinct === true && args.length === 1) return
      refuse(`${name} on identifier column ${this.column(first)}`, 'Identifiers are allowed only as count(DISTINCT id)')
    }
    if (MINMAX.has(name) && !this.opts.policy.allowMinMax) refuse(`${name}`, 'The dataset policy does not allow min/max')
    if (QUANTILES.has(name)) {
      if (args.length !== 2 || args[1]!.class !== 'CONSTANT') refuse(`${name} needs a constant quantile`)
      this.constant(args[1]!)
      this.quantileLevel(name, constantNumber(args[1]!))
    } else if (args.length !== 1) refuse(`${name} with ${args.length} arguments`)
    if (name === 'median') this.quantileLevel(name, 0.5)
    this.aggArg(first)
  }

  /** A quantile level outside the policy's range is a min or max in disguise. */
  private quantileLevel(name: string, x: number): void {
    const [lo, hi] = this.opts.policy.quantileRange
    if (!(x >= lo && x <= hi)) refuse(`${name} at level ${Number.isNaN(x) ? 'that is not a number' : String(x)}`, `The dataset policy allows quantile levels from ${lo} to ${hi}`)
  }

  private dpAggregate(e: Node): DpAggregate {
    if (NOT_EXPRESSIONS.has(e.class)) this.unknown(e)
    if (e.class !== 'FUNCTION') refuse('expression output with differential privacy', 'Output plain count/sum/avg aggregates')
    const name = this.fnName(e)
    if (!['count', 'count_star', 'sum', 'avg', 'mean', ...QUANTILES, 'median'].includes(name)) refuse(`${name} with differential privacy`, 'Only count, sum, avg and quantiles have a DP mechanism')
    this.aggregate(e, name)
    if (name === 'count_star') return { kind: 'count' }
    const arg = (e.children as Node[])[0]!
    if (arg.class !== 'COLUMN_REF') refuse(`${name} over an expression with differential privacy`, 'Aggregate a plain measure column')
    const col = this.column(arg)
    const c = this.cls(col)
    if (name === 'count' && e.distinct === true) {
      if (c === 'identifier' && col.toLowerCase() === this.opts.privacyUnit.toLowerCase()) return { kind: 'units' }
      refuse(`count(DISTINCT ${col}) with differential privacy`, 'Only count(DISTINCT privacy unit) gets noise')
    }
    if (e.distinct === true) refuse(`${name}(DISTINCT …) with differential privacy`)
    if (c !== 'measure') refuse(`${name}(${col}) with differential privacy`, `"${col}" is not a measure`)
    if (name === 'median') return { kind: 'quantile', column: col, level: 0.5 }
    if (QUANTILES.has(name)) return { kind: 'quantile', column: col, level: constantNumber((e.children as Node[])[1]!) }
    return name === 'count' ? { kind: 'count-column', column: col } : name === 'sum' ? { kind: 'sum', column: col } : { kind: 'avg', column: col }
  }

  /** WHERE: boolean logic over dimension expressions; measures only against constants. */
  private where(e: Node): void {
    switch (e.class) {
      case 'CONJUNCTION':
        for (const c of e.children as Node[]) this.where(c)
        return
      case 'OPERATOR':
        if (e.type === 'OPERATOR_NOT') return this.where((e.children as Node[])[0]!)
        if (['COMPARE_IN', 'COMPARE_NOT_IN', 'OPERATOR_IS_NULL', 'OPERATOR_IS_NOT_NULL'].includes(e.type)) {
          const [first, ...rest] = e.children as Node[]
          this.filterOperand(first!)
          for (const r of rest) this.constantExpr(r, 'IN list')
          return
        }
        refuse(`operator ${String(e.type)} in WHERE`)
      case 'COMPARISON': {
        if (!COMPARISONS.has(e.type)) refuse(`comparison ${String(e.type)}`)
        const lc = isConstantTree(e.left)
        const rc = isConstantTree(e.right)
        if (lc) this.constantExpr(e.left, 'comparison')
        else this.filterOperand(e.left, rc)
        if (rc) this.constantExpr(e.right, 'comparison')
        else this.filterOperand(e.right, lc)
        return
      }
      case 'BETWEEN':
        this.filterOperand(e.input, true)
        this.constantExpr(e.lower, 'BETWEEN')
        this.constantExpr(e.upper, 'BETWEEN')
        return
      default:
        this.dimensionExpr(e)
    }
  }

  /** One side of a filter: a bare measure (only against constants) or a dimension expression. */
  private filterOperand(e: Node, againstConstant = true): void {
    if (e.class === 'COLUMN_REF') {
      const col = this.column(e)
      const c = this.cls(col)
      if (c === 'identifier') refuse(`identifier column ${col} in WHERE`, 'Filtering on an identifier would select individuals')
      if (c === 'measure' && !againstConstant) refuse(`measure ${col} compared with a column`, 'Compare measures only with constants')
      return
    }
    this.dimensionExpr(e)
  }

  /** An expression over dimensions and constants only. */
  private dimensionExpr(e: Node): void {
    switch (e.class) {
      case 'CONSTANT':
        this.constant(e)
        return
      case 'COLUMN_REF': {
        const col = this.column(e)
        const c = this.cls(col)
        if (c === 'identifier') refuse(`identifier column ${col} in WHERE`, 'Filtering on an identifier would select individuals')
        if (c === 'measure') refuse(`measure ${col} inside a WHERE expression`, 'Compare a bare measure with a constant')
        return
      }
      case 'FUNCTION': {
        const name = this.fnName(e)
        if (AGGREGATES.has(name) || MINMAX.has(name)) refuse(`aggregate ${name} in WHERE`)
        for (const c of this.children(e, name)) this.dimensionExpr(c)
        return
      }
      case 'CAST':
      case 'COMPARISON':
      case 'CONJUNCTION':
      case 'OPERATOR':
      case 'BETWEEN':
      case 'CASE':
        if (e.class === 'COMPARISON' || e.class === 'CONJUNCTION' || e.class === 'BETWEEN') return this.where(e)
        for (const c of this.generic(e)) this.dimensionExpr(c)
        return
      default:
        this.unknown(e)
    }
  }

  private orderTerm(e: Node, outputs: number): void {
    if (e.class === 'CONSTANT') {
      const i = this.constantInt(e, 'ORDER BY position')
      if (i < 1 || i > outputs) refuse('ORDER BY position out of range')
      if (this.opts.dp) refuse('ORDER BY position with differential privacy', 'Order by group key names')
      return
    }
    if (e.class === 'COLUMN_REF' && (e.column_names as string[]).length === 1 && this.aliases.has(String(e.column_names[0]).toLowerCase()) && !this.byLower.has(String(e.column_names[0]).toLowerCase())) {
      if (this.opts.dp) refuse('ORDER BY an output alias with differential privacy', 'Order by group keys')
      return
    }
    // Expressions in ORDER BY would be evaluated on released values and could fail on them.
    if (e.class !== 'COLUMN_REF' || !this.isGroupKey(this.column(e))) refuse(this.opts.dp ? 'ORDER BY an aggregate with differential privacy' : 'ORDER BY an expression', this.opts.dp ? 'Order by group keys' : 'Order by group keys, output names or positions')
  }

  private fnName(e: Node): string {
    if (e.schema || e.catalog) refuse(`qualified function ${String(e.schema)}.${String(e.function_name)}`)
    const name = String(e.function_name).toLowerCase()
    if (!AGGREGATES.has(name) && !MINMAX.has(name) && !SCALARS.has(name)) refuse(`function ${String(e.function_name)}`, 'Not on the allow-list')
    if (e.distinct === true && !AGGREGATES.has(name)) refuse(`DISTINCT on ${name}`)
    return name
  }

  private children(e: Node, name: string): Node[] {
    if (e.filter || (e.order_bys?.orders ?? []).length > 0 || e.export_state) refuse(`modifiers on ${name}`)
    return e.children as Node[]
  }

  /** Children of the structural node classes. */
  private generic(e: Node): Node[] {
    switch (e.class) {
      case 'CAST':
        return [e.child]
      case 'COMPARISON':
        if (!COMPARISONS.has(e.type)) refuse(`comparison ${String(e.type)}`)
        return [e.left, e.right]
      case 'CONJUNCTION':
        return e.children
      case 'OPERATOR':
        if (!['OPERATOR_NOT', 'COMPARE_IN', 'COMPARE_NOT_IN', 'OPERATOR_IS_NULL', 'OPERATOR_IS_NOT_NULL'].includes(e.type)) refuse(`operator ${String(e.type)}`)
        return e.children
      case 'BETWEEN':
        return [e.input, e.lower, e.upper]
      case 'CASE':
        return [...(e.case_checks as Node[]).flatMap((c) => [c.when_expr, c.then_expr]), e.else_expr]
      default:
        return this.unknown(e)
    }
  }

  private constant(e: Node): void {
    const v = e.value
    if (e.type !== 'VALUE_CONSTANT' || typeof v !== 'object' || v === null) refuse('constant')
    if (typeof v.value === 'number' && Number.isInteger(v.value) && !Number.isSafeInteger(v.value)) refuse('integer constant beyond 2^53')
    if (typeof v.value === 'object' && v.value !== null) refuse(`constant of type ${String(v.type?.id)}`)
  }

  private constantExpr(e: Node, where: string): void {
    if (!isConstantTree(e)) refuse(`non-constant ${where}`)
    this.dimensionExpr(e)
  }

  private constantInt(e: Node, what: string): number {
    if (e.class !== 'CONSTANT') refuse(`${what} must be a constant integer`)
    this.constant(e)
    const v = e.value.value
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) refuse(`${what} must be a non-negative integer`)
    return v
  }

  private unknown(e: Node): never {
    const what: Record<string, string> = {
      STAR: '* (all columns)', SUBQUERY: 'subquery', WINDOW: `window function ${String(e.function_name ?? '')}`, PARAMETER: 'query parameter',
      LAMBDA: 'lambda', COLLATE: 'COLLATE', POSITIONAL_REFERENCE: 'positional reference',
    }
    refuse(what[String(e.class)] ?? `expression ${String(e.class)}`)
  }
}

/** A numeric constant's value (DuckDB writes a DECIMAL as its scaled integer); NaN otherwise. */
function constantNumber(e: Node): number {
  const v = e.value
  if (typeof v?.value !== 'number') return NaN
  return v.type?.id === 'DECIMAL' ? v.value / 10 ** Number(v.type.type_info?.scale ?? 0) : ['INTEGER', 'BIGINT', 'DOUBLE', 'FLOAT', 'SMALLINT', 'TINYINT'].includes(String(v.type?.id)) ? v.value : NaN
}

function isConstantTree(e: Node): boolean {
  if (e === null || typeof e !== 'object') return true
  if (e.class === 'COLUMN_REF' || e.class === 'SUBQUERY' || e.class === 'STAR' || e.class === 'WINDOW' || e.class === 'PARAMETER') return false
  return Object.values(e).every((v) => (Array.isArray(v) ? v.every(isConstantTree) : typeof v === 'object' && v !== null ? isConstantTree(v) : true))
}

/** DuckDB writes "no location" as 2^64-1, which JSON.parse rounds; json_deserialize_sql then rejects it. */
/** Calls `visit` on every object in a parse tree (JSON), depth first, parents before children. */
export function eachNode(n: unknown, visit: (o: Node) => void): void {
  if (Array.isArray(n)) n.forEach((c) => eachNode(c, visit))
  else if (n !== null && typeof n === 'object') {
    visit(n as Node)
    Object.values(n).forEach((c) => eachNode(c, visit))
  }
}

export function zeroLocations(n: unknown): void {
  eachNode(n, (o) => {
    if ('query_location' in o) o.query_location = 0
  })
}

export function colRef(name: string, alias = ''): Node {
  return { class: 'COLUMN_REF', type: 'COLUMN_REF', alias, query_location: 0, column_names: [name] }
}

export function fn(name: string, children: Node[], o: { distinct?: boolean; alias?: string } = {}): Node {
  return {
    class: 'FUNCTION', type: 'FUNCTION', alias: o.alias ?? '', query_location: 0, function_name: name, schema: '', children, filter: null,
    order_bys: { type: 'ORDER_MODIFIER', orders: [] }, distinct: o.distinct ?? false, is_operator: false, export_state: false, catalog: '',
  }
}

/** SQL text for a checked (or self-built) SELECT node. */
/** Marks every CAST in a parse tree as TRY_CAST, in place. */
function tryCasts(n: unknown): void {
  eachNode(n, (o) => {
    if (o.class === 'CAST') o.try_cast = true
  })
}

export async function deserialize(parser: SqlParser, node: Node): Promise<string> {
  const text = await parser.deserialize(JSON.stringify({ error: false, statements: [{ node, named_param_map: [] }] }))
  if (typeof text !== 'string' || text.length === 0) throw new W3aError('INTERNAL', 'DuckDB could not re-generate the checked query')
  return text
}

/** For SQL we assemble around the checked parts. */
export const q = sqlIdent
