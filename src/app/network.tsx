/**
 * Network (the operator): registered workers with TEE type, measurement, TCB status (from
 * verifying each worker's registered quote in this page), stake, heartbeat and jobs done; the
 * keepers' published state roots for the current epoch; the operator's earnings and claim.
 */
import { useSession, type Client, type Sdk } from './session.js'
import { ActionButton, ErrorBox, Hex, Loading, Table, useAsync } from './ui.js'

type Worker = Awaited<ReturnType<Sdk['listWorkers']>>[number]

async function loadNetwork(sdk: Sdk, client: Client) {
  const { network, publicClient } = await sdk.chainReader(client)
  const registry = network.contracts.workerRegistry
  const [workers, epoch, jobs, token] = await Promise.all([
    sdk.listWorkers(publicClient, { registry }),
    sdk.getCurrentEpoch(publicClient, { registry }),
    sdk.listJobs(client, {}),
    sdk.getTokenInfo(client),
  ])
  const roots = await sdk.getStateRoots(publicClient, { registry, epoch })
  const policy = await sdk.networkTeePolicy(publicClient, registry)
  // Each worker's quote, verified here (not taken from the worker's word): TCB status comes from it.
  const tcb = await Promise.all(
    workers.map((w) =>
      sdk
        .fetchRegisteredQuote(w)
        .then((q) => sdk.verifyWorkerQuote(q, policy, { worker: w.address, hpkePublicKey: hexBytes(w.hpkePublicKey), chainId: network.chainId, registry, registeredAt: w.registeredAt }))
        .then(
          (v) => v.tcbStatus,
          (e: unknown) => `not verified: ${(e as { code?: string }).code ?? (e as Error).message}`,
        ),
    ),
  )
  const done = new Map<string, number>()
  for (const j of jobs) if (j.status === 'completed') done.set(j.worker.toLowerCase(), (done.get(j.worker.toLowerCase()) ?? 0) + 1)
  return { workers, epoch, roots, tcb, done, token, jobs: jobs.length }
}

function hexBytes(h: string): Uint8Array {
  const s = h.slice(2)
  return Uint8Array.from({ length: s.length / 2 }, (_, i) => parseInt(s.slice(2 * i, 2 * i + 2), 16))
}

function ago(unix: number): string {
  const s = Math.max(0, Math.round(Date.now() / 1000 - unix))
  return s < 120 ? `${s} s ago` : s < 7200 ? `${Math.round(s / 60)} min ago` : `${Math.round(s / 3600)} h ago`
}

export function NetworkView() {
  const { sdk, client, account, version, changed } = useSession()
  const n = useAsync(() => loadNetwork(sdk, client), [client, version])
  const earnings = useAsync(async () => (account ? sdk.getEarnings(client) : undefined), [client, account, version])
  const fmt = (v: bigint) => (n.data ? `${sdk.formatTokens(v, n.data.token.decimals)} ${n.data.token.symbol}` : String(v))
  return (
    <section aria-labelledby="net-h">
      <h1 id="net-h">Network</h1>
      <p class="lead">The TEE workers that run analyses and the keepers that hold custody state. Each attestation below is verified in this page.</p>
      <ErrorBox error={n.error} />
      {n.loading && !n.data && <Loading what="workers" />}
      {n.data && (
        <>
          <h2>Workers</h2>
          <Table
            label="Workers"
            head={['Worker', 'Roles', 'TEE', 'Measurement', 'TCB status', 'Stake', 'Heartbeat', 'Status', 'Jobs done']}
            rows={n.data.workers.map((w: Worker, i) => [
              <Hex value={w.address} />,
              w.roles.join(', '),
              w.teeType === 'sim' ? <span class="chip warn">sim</span> : w.teeType,
              <Hex value={w.measurement} />,
              <span data-testid="tcb">{n.data!.tcb[i]}</span>,
              fmt(w.stake),
              ago(w.lastHeartbeat),
              <span class={`status ${w.status}`}>{w.status}</span>,
              n.data!.done.get(w.address.toLowerCase()) ?? 0,
            ])}
          />
          <h2>Keepers · epoch {String(n.data.epoch)}</h2>
          {n.data.roots.length === 0 ? (
            <p class="muted">No state root published in this epoch yet.</p>
          ) : (
            <Table
              label="State roots"
              head={['Keeper', 'Inbox entries', 'State root', 'Published']}
              rows={n.data.roots.map((r) => [<Hex value={r.keeper} />, String(r.inboxCount), <Hex value={r.root} n={10} />, ago(r.timestamp)])}
            />
          )}
          <p class="muted">{n.data.jobs} job(s) on this network.</p>
        </>
      )}
      {account && (
        <div class="box row" data-testid="operator-earnings">
          <strong>Your earnings</strong>
          {earnings.data && (
            <span>
              {earnings.data.claimable.formatted} {earnings.data.claimable.symbol} to claim
            </span>
          )}
          <ActionButton label="Claim" disabled={!earnings.data || earnings.data.claimable.amount === 0n} run={() => sdk.claimEarnings(client)} onDone={changed} />
        </div>
      )}
    </section>
  )
}
