/**
 * A verified, decrypted job result: the rows (table and chart), the privacy release the
 * worker signed with them, and the verification (worker, attestation, signature), which the
 * analyst can run again at any time: it trusts neither the gateway nor the worker's host.
 */
import { lazy, Suspense } from 'preact/compat'
import { useState } from 'preact/hooks'
import type { Address, Hex as HexString } from 'viem'
import { toCsv } from './csv.js'
import { useSession, type Sdk } from './session.js'
import { ActionButton, cellText, download, Hex, isNumeric, Table } from './ui.js'

const Chart = lazy(() => import('./chart.js'))

type RunResult = Awaited<ReturnType<Sdk['runQuery']>>
export type ShownResult = Pick<RunResult, 'jobId' | 'attestation' | 'columns' | 'rows' | 'privacy' | 'outputHash'> & { worker: Address; datasetId: HexString }

export function ResultView({ result: r }: { result: ShownResult }) {
  const { sdk, client } = useSession()
  const [checked, setChecked] = useState({ at: new Date(), times: 1 })
  const p = r.privacy
  const names = r.columns.map((c) => c.name)
  const chartable = r.rows.length > 1 && r.columns.some((_c, i) => i > 0 && r.rows.every((row) => isNumeric(row[i])))
  return (
    <section class="result" aria-labelledby={`result-${r.jobId}`} data-testid="result">
      <h3 id={`result-${r.jobId}`}>
        Result of job #{String(r.jobId)} <span class="verified">✓ verified</span>
      </h3>
      <Table label="Result rows" head={names} rows={r.rows.map((row) => row.map(cellText))} />
      {r.rows.length === 0 && <p class="muted">No row was released: every group was below the privacy threshold (k people, or too few for the noise). Ask coarser groups or spend more ε.</p>}
      {chartable && (
        <Suspense fallback={<p class="muted">Loading chart…</p>}>
          <Chart columns={names} rows={r.rows} />
        </Suspense>
      )}
      <div class="row">
        <button type="button" onClick={() => download(`w3a-job-${r.jobId}.csv`, toCsv(names, r.rows))}>
          Export CSV
        </button>
      </div>
      <div class="grid2">
        <div class="box" data-testid="privacy">
          <h4>Privacy check</h4>
          <dl class="facts">
            <dt>Mechanism</dt>
            <dd>{p.mechanism}</dd>
            <dt>ε spent</dt>
            <dd>{p.epsilonSpent}</dd>
            {p.delta !== null && (
              <>
                <dt>δ</dt>
                <dd>{p.delta}</dd>
              </>
            )}
            <dt>k (people per group, at least)</dt>
            <dd>{p.k}</dd>
            <dt>Rows suppressed</dt>
            <dd>{p.suppressed === null ? 'not disclosed under DP' : p.suppressed}</dd>
            <dt>Noise scale</dt>
            <dd>{Object.keys(p.noiseScale).length ? Object.entries(p.noiseScale).map(([k, v]) => `${k}: ${cellText(v)}`).join(', ') : 'none'}</dd>
            <dt>ε left (dataset / yours)</dt>
            <dd>
              {cellText(p.epsilonLeft)} / {p.analystEpsilonLeft === null ? '—' : cellText(p.analystEpsilonLeft)}
            </dd>
          </dl>
        </div>
        <div class="box" data-testid="verification" data-checks={checked.times}>
          <h4>Verification</h4>
          <dl class="facts">
            <dt>Worker</dt>
            <dd>
              <Hex value={r.worker} />
            </dd>
            <dt>TEE</dt>
            <dd>
              {r.attestation.teeType}
              {r.attestation.teeType === 'sim' && <span class="chip warn">simulated: dev only</span>}
            </dd>
            <dt>Measurement</dt>
            <dd>
              <Hex value={r.attestation.measurement} />
            </dd>
            <dt>TCB status</dt>
            <dd>{r.attestation.tcbStatus}</dd>
            <dt>Result signature</dt>
            <dd>recovers to the job's worker; output hash <Hex value={r.outputHash} /> as on chain</dd>
            <dt>Checked</dt>
            <dd data-testid="checked-at">
              {checked.at.toLocaleTimeString()}
              {checked.times > 1 ? ` (${checked.times} times)` : ''}
            </dd>
          </dl>
          <ActionButton label="Re-check" busyLabel="Checking…" run={() => sdk.verifyJob(client, { id: r.jobId })} onDone={() => setChecked((c) => ({ at: new Date(), times: c.times + 1 }))} />
        </div>
      </div>
    </section>
  )
}
