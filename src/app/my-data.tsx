/**
 * My data (the owner): their datasets with status and price; the confidential view (policy,
 * grants, budget spent) read from a keeper end-to-end encrypted; grant, revoke, policy, list on
 * the market, delete with the keeper-signed receipt; earnings and claim.
 */
import { useState } from 'preact/hooks'
import type { Address, Hex as HexString } from 'viem'
import { useSession, type Sdk } from './session.js'
import { ActionButton, cellText, ErrorBox, Hex, Loading, NeedAccount, Table, useAsync } from './ui.js'
import { UploadForm } from './upload.js'

type Listing = Awaited<ReturnType<Sdk['listMarket']>>[number]
type Receipt = Awaited<ReturnType<Sdk['grantAccess']>>
type Deleted = Awaited<ReturnType<Sdk['deleteDataset']>>

export function MyDataView() {
  const { sdk, client, account, version } = useSession()
  const mine = useAsync(async () => (account ? sdk.listMarket(client, { owner: account.address, status: ['active', 'paused', 'unlisted'] }) : []), [client, account, version])
  // Deleted datasets leave the list; their receipts stay on screen.
  const [deleted, setDeleted] = useState<{ name: string; result: Deleted }[]>([])
  if (!account) return <NeedAccount what="manage your datasets" />
  return (
    <section aria-labelledby="data-h">
      <h1 id="data-h">My data</h1>
      <p class="lead">Your datasets are encrypted in this page before they leave it; keepers in attested TEEs hold their keys under your policy. Analysts never see rows, only aggregates your policy allows.</p>
      <Earnings />
      <UploadForm />
      <ErrorBox error={mine.error} />
      {mine.loading && !mine.data && <Loading what="your datasets" />}
      {mine.data?.length === 0 && <p class="empty">You have no dataset yet.</p>}
      <ul class="cards" aria-label="Your datasets">
        {deleted.map((d) => (
          <DeletedCard name={d.name} result={d.result} />
        ))}
        {mine.data?.map((d) => (
          <OwnedDataset listing={d} key={d.id} onDeleted={(result) => setDeleted((all) => [...all, { name: d.name, result }])} />
        ))}
      </ul>
    </section>
  )
}

function Earnings() {
  const { sdk, client, version, changed } = useSession()
  const e = useAsync(() => sdk.getEarnings(client), [client, version])
  return (
    <div class="box row" data-testid="earnings">
      <strong>Earnings</strong>
      {e.data ? (
        <span>
          {e.data.claimable.formatted} {e.data.claimable.symbol} to claim · balance {e.data.balance.formatted} {e.data.balance.symbol}
        </span>
      ) : (
        <ErrorBox error={e.error} />
      )}
      <ActionButton label="Claim" busyLabel="Claiming…" disabled={!e.data || e.data.claimable.amount === 0n} run={() => sdk.claimEarnings(client)} onDone={changed} />
    </div>
  )
}

function OwnedDataset({ listing: d, onDeleted }: { listing: Listing; onDeleted(r: Deleted): void }) {
  const { sdk, client, changed } = useSession()
  const [open, setOpen] = useState(false)
  const [receipt, setReceipt] = useState<{ what: string; r: unknown } | null>(null)
  const access = useAsync(async () => (open ? sdk.readDatasetAccess(client, { id: d.id }) : undefined), [open, receipt])
  const done = (what: string) => (r: unknown) => {
    setReceipt({ what, r })
    changed()
  }
  return (
    <li class="card wide" data-dataset={d.id}>
      <h2>
        {d.name} <span class={`status ${d.status}`}>{d.status}</span>
      </h2>
      <dl class="facts">
        <dt>Id</dt>
        <dd>
          <Hex value={d.id} />
        </dd>
        <dt>Rows</dt>
        <dd>{d.rows ?? '—'}</dd>
        <dt>Price</dt>
        <dd>
          {d.price.formatted} {d.price.symbol} / query
        </dd>
        <dt>Public policy</dt>
        <dd>{d.policySummary || <em>none</em>}</dd>
      </dl>
      <button type="button" aria-expanded={open} onClick={() => setOpen(!open)}>
        {open ? 'Hide' : 'Show'} policy, grants and budget
      </button>
      {open && (
        <div class="box">
          <ErrorBox error={access.error} title="Keeper" />
          {access.loading && <Loading what="your confidential view from a keeper" />}
          {access.data && <AccessView id={d.id} view={access.data} onDone={done('Revoke')} />}
        </div>
      )}
      <details>
        <summary>Set policy</summary>
        <PolicyForm listing={d} onDone={done('Policy')} />
      </details>
      <details open={d.status === 'unlisted'}>
        <summary>{d.status === 'unlisted' ? 'List on the market' : 'Price and public summary'}</summary>
        <ListForm listing={d} onDone={done('Listing')} />
      </details>
      <details>
        <summary>Grant access</summary>
        <GrantForm id={d.id} onDone={done('Grant')} />
      </details>
      <div class="row">
        <ActionButton
          label="Delete dataset"
          busyLabel="Deleting…"
          kind="danger"
          confirm={`Delete "${d.name}" for good? Its key is destroyed by the keepers; nobody can read it again.`}
          run={() => sdk.deleteDataset(client, { id: d.id })}
          onDone={(r) => {
            onDeleted(r)
            changed()
          }}
        />
      </div>
      {receipt && <ReceiptBox what={receipt.what} r={receipt.r} />}
    </li>
  )
}

function ReceiptBox({ what, r }: { what: string; r: unknown }) {
  const rec = (r as { receipt?: Receipt['receipt']; keeper?: Address; tx?: string } | undefined) ?? {}
  return (
    <div class="box ok" role="status" data-testid="receipt">
      <strong>{what} done.</strong>
      {rec.receipt && (
        <>
          {' '}
          Keeper <Hex value={rec.keeper ?? ''} /> signed the receipt:
          <pre class="receipt">{JSON.stringify(rec.receipt, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v), 2)}</pre>
        </>
      )}
    </div>
  )
}

function DeletedCard({ name, result }: { name: string; result: Deleted }) {
  return (
    <li class="card wide" data-testid="deleted">
      <h2>
        {name} <span class="status deleted">deleted</span>
      </h2>
      <p>
        Storage dropped {result.storage.blocks} block(s), {result.storage.bytes} bytes.
      </p>
      {!result.alreadyDeleted && <ReceiptBox what="Delete" r={result} />}
    </li>
  )
}

type AccessData = Awaited<ReturnType<Sdk['readDatasetAccess']>>

function AccessView({ id, view, onDone }: { id: HexString; view: AccessData; onDone(r: unknown): void }) {
  const { sdk, client } = useSession()
  const p = view.policy
  return (
    <div data-testid="access">
      <dl class="facts">
        <dt>k</dt>
        <dd>{p.k}</dd>
        <dt>ε budget</dt>
        <dd>
          {cellText(view.budget.spent)} spent of {p.epsilonBudget} ({p.analystEpsilonBudget ?? '—'} per analyst)
        </dd>
        <dt>Columns</dt>
        <dd>{p.columns ? `dimensions ${p.columns.dimensions.join(', ') || '—'}; measures ${p.columns.measures.join(', ') || '—'}` : 'all identifiers (default)'}</dd>
        <dt>Exact answers</dt>
        <dd>{p.allowExact ? `allowed (${p.exactQueries} per analyst)` : 'no (DP only)'}</dd>
        <dt>Open access</dt>
        <dd>{p.openAccess ? 'yes' : 'grants only'}</dd>
        <dt>State</dt>
        <dd>
          as of inbox entry {String(view.asOf.processed)}, root <Hex value={view.asOf.stateRoot} />
        </dd>
      </dl>
      <h4>Grants</h4>
      {view.grants.length === 0 ? (
        <p class="muted">No grant.</p>
      ) : (
        <Table
          label="Grants"
          head={['Analyst', 'Uses left', 'Expires', '']}
          rows={view.grants.map((g) => [
            <Hex value={g.grantee} />,
            g.usesLeft ?? 'unlimited',
            g.expiresAt === 0n ? 'never' : new Date(Number(g.expiresAt) * 1000).toLocaleDateString(),
            <ActionButton label="Revoke" run={() => sdk.revokeAccess(client, { id, grantee: g.grantee })} onDone={onDone} />,
          ])}
        />
      )}
      {view.budget.perAnalyst.length > 0 && (
        <Table label="Budget spent per analyst" head={['Analyst', 'ε spent']} rows={view.budget.perAnalyst.map((a) => [<Hex value={a.analyst} />, cellText(a.spent)])} />
      )}
    </div>
  )
}

function list(s: string): string[] {
  return s
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean)
}

function PolicyForm({ listing, onDone }: { listing: Listing; onDone(r: unknown): void }) {
  const { sdk, client } = useSession()
  const [f, setF] = useState({ dimensions: '', measures: '', k: '10', epsilonBudget: '3', analystEpsilonBudget: '1', openAccess: true })
  const set = (k: keyof typeof f) => (e: Event) => {
    const t = e.target as HTMLInputElement
    setF({ ...f, [k]: t.type === 'checkbox' ? t.checked : t.value })
  }
  const submit = () => {
    const measures = list(f.measures).map((m) => {
      const [name, lo, hi] = m.split(':')
      if (!name || lo === undefined || hi === undefined) throw Object.assign(new Error(`measure "${m}" is not COLUMN:LOWER:UPPER (e.g. amount:0:1000)`), { code: 'INVALID_ARGUMENT' })
      return { name, bounds: [Number(lo), Number(hi)] as [number, number] }
    })
    return sdk.setDatasetPolicy(client, {
      id: listing.id,
      policy: {
        k: Number(f.k),
        epsilonBudget: Number(f.epsilonBudget),
        analystEpsilonBudget: Number(f.analystEpsilonBudget),
        openAccess: f.openAccess,
        columns: { identifiers: [], dimensions: list(f.dimensions), measures: measures.map((m) => m.name) },
        bounds: Object.fromEntries(measures.map((m) => [m.name, m.bounds])),
      },
    })
  }
  const cols = listing.columns?.map((c) => c.name).join(', ')
  return (
    <form class="form" onSubmit={(e) => e.preventDefault()} aria-label={`Policy of ${listing.name}`}>
      {cols && <p class="muted">Columns: {cols}. Undeclared columns stay identifiers (only counted).</p>}
      <label>
        Dimensions (group and filter by) <input value={f.dimensions} onInput={set('dimensions')} placeholder="city,device" />
      </label>
      <label>
        Measures with bounds <input value={f.measures} onInput={set('measures')} placeholder="amount:0:1000" />
      </label>
      <label>
        k (people per released group) <input type="number" min={2} value={f.k} onInput={set('k')} />
      </label>
      <label>
        ε budget (all analysts) <input type="number" step="0.1" value={f.epsilonBudget} onInput={set('epsilonBudget')} />
      </label>
      <label>
        ε per analyst <input type="number" step="0.1" value={f.analystEpsilonBudget} onInput={set('analystEpsilonBudget')} />
      </label>
      <label class="check">
        <input type="checkbox" checked={f.openAccess} onChange={set('openAccess')} /> Open access (any buyer, no grant needed)
      </label>
      <ActionButton label="Set policy" busyLabel="Sealing to the keepers…" kind="primary" run={submit} onDone={onDone} />
    </form>
  )
}

function ListForm({ listing, onDone }: { listing: Listing; onDone(r: unknown): void }) {
  const { sdk, client } = useSession()
  const [price, setPrice] = useState(listing.price.amount === 0n ? '1' : listing.price.formatted)
  const [summary, setSummary] = useState(listing.policySummary)
  const run = async () => {
    const token = await sdk.getTokenInfo(client)
    return sdk.listOnMarket(client, { id: listing.id, price: sdk.parseUnits(price, token.decimals), summary })
  }
  return (
    <form class="form" onSubmit={(e) => e.preventDefault()} aria-label={`Listing of ${listing.name}`}>
      <label>
        Price per query ({listing.price.symbol}) <input inputMode="decimal" value={price} onInput={(e) => setPrice((e.target as HTMLInputElement).value)} />
      </label>
      <label>
        Public policy summary (what buyers read) <input value={summary} onInput={(e) => setSummary((e.target as HTMLInputElement).value)} placeholder="k=10; ε budget 3, 1 per analyst; open access" />
      </label>
      <ActionButton label={listing.status === 'unlisted' ? 'List on the market' : 'Update'} busyLabel="Sending…" kind="primary" run={run} onDone={onDone} />
    </form>
  )
}

function GrantForm({ id, onDone }: { id: HexString; onDone(r: unknown): void }) {
  const { sdk, client } = useSession()
  const [grantee, setGrantee] = useState('')
  const [uses, setUses] = useState('')
  const run = () => sdk.grantAccess(client, { id, grantee: grantee.trim() as Address, ...(uses ? { uses: Number(uses) } : {}) })
  return (
    <form class="form" onSubmit={(e) => e.preventDefault()} aria-label="Grant access">
      <label>
        Analyst address <input value={grantee} onInput={(e) => setGrantee((e.target as HTMLInputElement).value)} placeholder="0x…" />
      </label>
      <label>
        Uses (blank: unlimited) <input type="number" min={1} value={uses} onInput={(e) => setUses((e.target as HTMLInputElement).value)} />
      </label>
      <ActionButton label="Grant" busyLabel="Sealing to the keepers…" kind="primary" run={run} onDone={onDone} />
    </form>
  )
}
