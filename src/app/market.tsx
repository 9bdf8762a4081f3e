/**
 * Market (the analyst): the datasets on sale with schema, price and public policy; buying
 * credits; a SQL editor with the schema beside it; the verified result as a table and a chart,
 * with its privacy release and the worker's attestation; the job history.
 */
import { useState } from 'preact/hooks'
import type { Hex as HexString } from 'viem'
import { useSession, type Sdk } from './session.js'
import { ActionButton, ErrorBox, Hex, Loading, Table, useAsync } from './ui.js'
import { ResultView, type ShownResult } from './result.js'

type Listing = Awaited<ReturnType<Sdk['listMarket']>>[number]

export function MarketView() {
  const { read, client, version } = useSession()
  const market = useAsync(() => read.listMarket(client), [client, version])
  const [selected, setSelected] = useState<HexString | null>(null)
  const chosen = market.data?.find((d) => d.id === selected)
  return (
    <section aria-labelledby="market-h">
      <h1 id="market-h">Market</h1>
      <p class="lead">Datasets you can query. You buy credits (one per query); your SQL runs inside an attested TEE worker and you get back only an aggregate that passed the owner's privacy policy, signed by the worker.</p>
      <ErrorBox error={market.error} title="Cannot read the market" />
      {market.loading && !market.data && <Loading what="datasets" />}
      {market.data?.length === 0 && <p class="empty">No dataset is on the market yet. An owner lists one under <a href="#/data">My data</a>.</p>}
      <ul class="cards" aria-label="Datasets on the market">
        {market.data?.map((d) => (
          <DatasetCard listing={d} selected={d.id === selected} onQuery={() => setSelected(d.id)} />
        ))}
      </ul>
      {chosen && <QueryPanel listing={chosen} key={chosen.id} />}
      <JobHistory />
    </section>
  )
}

function DatasetCard({ listing: d, selected, onQuery }: { listing: Listing; selected: boolean; onQuery(): void }) {
  // Read-only (no account yet), the full SDK may not be loaded: only the listing shows then.
  const { full: sdk, client, account, version, changed } = useSession()
  const credits = useAsync(async () => (account && sdk ? sdk.getCredits(client, { id: d.id }) : undefined), [client, account, d.id, version])
  const [count, setCount] = useState('1')
  const n = /^[1-9]\d{0,5}$/.test(count) ? BigInt(count) : 0n
  return (
    <li class={`card${selected ? ' selected' : ''}`} data-dataset={d.id}>
      <h2>{d.name}</h2>
      <dl class="facts">
        <dt>Price</dt>
        <dd data-testid="price">
          {d.price.formatted} {d.price.symbol} / query
        </dd>
        <dt>Rows</dt>
        <dd>{d.rows ?? '—'}</dd>
        <dt>Status</dt>
        <dd>{d.status}</dd>
        <dt>Owner</dt>
        <dd>
          <Hex value={d.owner} />
        </dd>
        <dt>Id</dt>
        <dd>
          <Hex value={d.id} />
        </dd>
      </dl>
      {d.columns && (
        <p class="schema" aria-label="Columns">
          {d.columns.map((c) => (
            <span class="chip" title={c.type}>
              {c.name} <small>{c.type}</small>
            </span>
          ))}
        </p>
      )}
      <p class="policy">
        <strong>Public policy:</strong> {d.policySummary || <em>none published</em>}
      </p>
      {account && sdk ? (
        <div class="row">
          <span data-testid="credits">{credits.data ? `${credits.data.credits} credit(s)` : '…'}</span>
          <label>
            Credits <input type="number" min={1} value={count} size={4} onInput={(e) => setCount((e.target as HTMLInputElement).value)} />
          </label>
          <ActionButton label="Buy credits" busyLabel="Buying…" disabled={n === 0n} run={() => sdk.buyCredits(client, { id: d.id, credits: n })} onDone={changed} />
          <button type="button" class="primary" onClick={onQuery} aria-expanded={selected}>
            Query
          </button>
        </div>
      ) : (
        <p class="muted">Pick an account (top right) to buy credits and query.</p>
      )}
    </li>
  )
}

const STAGES: Record<string, string> = {
  submit: 'Sealing your query to a worker and submitting the job…',
  wait: 'Running inside the TEE worker…',
  verify: "Verifying the worker's signature and attestation…",
  decrypt: 'Decrypting the result in this page…',
}

function QueryPanel({ listing }: { listing: Listing }) {
  const { sdk, client, changed } = useSession()
  const info = useAsync(() => sdk.getDatasetInfo(client, { id: listing.id }), [listing.id])
  const unit = info.data?.manifest?.privacyUnit
  const [sql, setSql] = useState<string | null>(null)
  const [epsilon, setEpsilon] = useState('')
  const [stage, setStage] = useState('')
  const [result, setResult] = useState<ShownResult | null>(null)
  const text = sql ?? `SELECT count(DISTINCT ${unit ?? 'user_id'}) AS people, count(*) AS n FROM data`
  const run = async () => {
    setResult(null)
    try {
      const eps = epsilon.trim() === '' ? undefined : Number(epsilon)
      const r = await sdk.runQuery(client, { id: listing.id, sql: text, ...(eps === undefined ? {} : { epsilon: eps }), onProgress: (s, detail) => setStage(`${STAGES[s] ?? s}${detail ? ` (${detail})` : ''}`) })
      return r
    } finally {
      setStage('')
      changed() // a refused or failed job also used a credit and is in the history
    }
  }
  return (
    <section class="panel" aria-labelledby="query-h">
      <h2 id="query-h">Query “{listing.name}”</h2>
      <div class="editor">
        <div class="sql">
          <label for="sql">SQL over the table <code>data</code> (one aggregate SELECT)</label>
          <textarea id="sql" rows={6} spellcheck={false} value={text} onInput={(e) => setSql((e.target as HTMLTextAreaElement).value)} />
          <div class="row">
            <label>
              ε (blank: the owner's default) <input type="number" step="0.05" min="0" value={epsilon} size={5} onInput={(e) => setEpsilon((e.target as HTMLInputElement).value)} />
            </label>
            <ActionButton
              label="Run query"
              busyLabel="Running…"
              kind="primary"
              run={run}
              onDone={(r) => setResult({ ...r, datasetId: listing.id })}
            />
          </div>
          {stage && (
            <p class="muted" role="status" aria-live="polite">
              {stage}
            </p>
          )}
        </div>
        <aside class="schema-side" aria-label="Schema">
          <h3>Schema</h3>
          {info.data?.manifest ? (
            <ul>
              {info.data.manifest.schema.columns.map((c) => (
                <li>
                  <code>{c.name}</code> <small>{c.type}</small>
                  {c.name === unit && <span class="chip">privacy unit</span>}
                </li>
              ))}
            </ul>
          ) : (
            <Loading what="schema" />
          )}
          <p class="muted">Identifiers can only be counted; group by dimensions; aggregate measures. What the owner declared is confidential: the worker says what it refuses.</p>
        </aside>
      </div>
      {result && <ResultView result={result} />}
    </section>
  )
}

function JobHistory() {
  const { full: sdk, client, account, version } = useSession()
  const jobs = useAsync(async () => (account && sdk ? sdk.listJobs(client, { analyst: account.address }) : []), [client, account, version])
  const [opened, setOpened] = useState<ShownResult | null>(null)
  if (!account || !sdk) return null
  const open = async (id: bigint, datasetId: HexString): Promise<ShownResult> => {
    const v = await sdk.verifyJob(client, { id })
    const o = await sdk.openJobResult(client, { envelope: v.envelope })
    if (o.status === 'failed') throw Object.assign(new Error(`job ${id} failed: ${o.reason}`), { code: 'JOB_FAILED', details: o.detail ? o.detail.split('\n') : [] })
    return { jobId: id, worker: v.worker.address, attestation: v.attestation, columns: o.output.columns, rows: o.output.rows, privacy: o.output.privacy, outputHash: v.job.outputHash, datasetId }
  }
  return (
    <section aria-labelledby="jobs-h">
      <h2 id="jobs-h">Your jobs</h2>
      <ErrorBox error={jobs.error} />
      {jobs.data?.length === 0 && <p class="empty">No job yet.</p>}
      {jobs.data && jobs.data.length > 0 && (
        <Table
          label="Job list"
          head={['Job', 'Dataset', 'Status', 'Worker', 'ε', '']}
          rows={[...jobs.data].reverse().map((j) => [
            `#${j.id}`,
            <Hex value={j.datasetId} />,
            <span class={`status ${j.status}`}>{j.status}</span>,
            <Hex value={j.worker} />,
            j.epsilonMicros === 0n ? 'exact' : String(Number(j.epsilonMicros) / 1e6),
            j.status === 'completed' || j.status === 'failed' ? <ActionButton label="Open" run={() => open(j.id, j.datasetId)} onDone={setOpened} /> : '',
          ])}
        />
      )}
      {opened && <ResultView result={opened} key={String(opened.jobId)} />}
    </section>
  )
}
