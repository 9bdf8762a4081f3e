import type { Hex } from 'viem'
import { W3aError } from '../../../core/errors.js'
import { parsePrivacyParams } from '../../../analysis/analysis-request.js'
import { checkQueryPublic } from '../../../analysis/public-check.js'
import { openSqlParser } from '../../../analysis/sql-parser.js'
import type { W3aClient } from '../../client.js'
import { getDatasetInfo } from '../getDatasetInfo.js'
import type { SubmitQueryParameters } from './submitQuery.js'

export type CheckQueryParameters = Pick<SubmitQueryParameters, 'id' | 'epsilon' | 'bounds' | 'contribution'> & { sql: string }

export type CheckQueryReturnType =
  | { checked: true; dp: boolean; groupKeys: string[] }
  /** The gateway does not hold the manifest, so the schema is unknown: nothing was checked. */
  | { checked: false; reason: string }

/**
 * Node only (DuckDB): runs the worker's SQL checker and DP planner on this machine, against the
 * dataset's public schema and privacy unit, before anything is paid for. Throws the worker's own
 * QUERY_REFUSED (or INVALID_ARGUMENT / ANALYSIS_MALFORMED) for a query the worker would refuse
 * under any owner policy; no transaction is sent. The owner's policy itself is confidential, so
 * a query that passes may still be refused for a column's class, min/max or the ε budget
 * (analysis/public-check.ts). Reads the gateway only.
 */
export async function checkQuery(client: W3aClient, params: CheckQueryParameters): Promise<CheckQueryReturnType> {
  const privacy = parsePrivacyParams({
    // No ε named: the policy's default, which is never 0 (exact), so check it as a DP query.
    epsilon: params.epsilon ?? 1,
    ...(params.bounds ? { bounds: params.bounds } : {}),
    ...(params.contribution ? { contribution: params.contribution } : {}),
  })
  const { manifest } = await getDatasetInfo(client, { id: params.id as Hex })
  if (manifest === null) return { checked: false, reason: 'the gateway does not hold the dataset manifest, so its schema is unknown here' }
  const parser = await openSqlParser()
  try {
    const r = await checkQueryPublic({ parser, columns: manifest.schema.columns, privacyUnit: manifest.privacyUnit, sql: params.sql, privacy })
    return { checked: true, dp: r.dp, groupKeys: r.checked.groupKeys }
  } catch (e) {
    if (!(e instanceof W3aError)) throw e
    throw new W3aError(e.code, e.shortMessage, { details: [...e.details, 'Checked on this machine: nothing was sent, no credit or ε was used.'], cause: e })
  } finally {
    parser.close()
  }
}
