/** Small shared pieces of the dashboard: async state, errors, tables, buttons. */
import type { ComponentChildren } from 'preact'
import { useCallback, useEffect, useRef, useState } from 'preact/hooks'

export type Async<T> = { data: T | undefined; error: unknown; loading: boolean; reload(): void }

/** Runs `load` when `deps` change (and on reload()); keeps the last data while reloading. */
export function useAsync<T>(load: () => Promise<T>, deps: unknown[]): Async<T> {
  const [state, setState] = useState<{ data: T | undefined; error: unknown; loading: boolean }>({ data: undefined, error: undefined, loading: true })
  const [tick, setTick] = useState(0)
  const run = useRef(0)
  useEffect(() => {
    const mine = ++run.current
    setState((s) => ({ ...s, loading: true }))
    load().then(
      (data) => mine === run.current && setState({ data, error: undefined, loading: false }),
      (error: unknown) => mine === run.current && setState({ data: undefined, error, loading: false }),
    )
  }, [...deps, tick])
  const reload = useCallback(() => setTick((t) => t + 1), [])
  return { ...state, reload }
}

type ErrorLike = { code?: string; shortMessage?: string; message?: string; details?: string[] }

/** A W3aError (or any error) as the message, its code and what to do: read by screen readers. */
export function ErrorBox({ error, title }: { error: unknown; title?: string }) {
  if (error === undefined || error === null) return null
  const e = (typeof error === 'object' ? error : { message: String(error) }) as ErrorLike
  return (
    <div class="error" role="alert">
      <strong>{title ?? 'Refused'}{e.code ? ` (${e.code})` : ''}:</strong> {e.shortMessage ?? e.message}
      {e.details && e.details.length > 0 && (
        <ul>
          {e.details.map((d) => (
            <li>{d}</li>
          ))}
        </ul>
      )}
    </div>
  )
}

/** What a view says before an account is picked. */
export function NeedAccount({ what }: { what: string }) {
  return (
    <p class="empty" role="note">
      Pick an account in the top bar (a browser wallet, or a dev account on the devnet) to {what}.
    </p>
  )
}

export function Loading({ what }: { what: string }) {
  return (
    <p class="muted" role="status" aria-live="polite">
      Loading {what}…
    </p>
  )
}

export function short(hex: string, n = 6): string {
  return hex.length > 2 + 2 * n ? `${hex.slice(0, 2 + n)}…${hex.slice(-4)}` : hex
}

/** A hash or address shortened on screen, whole in the title and for copy. */
export function Hex({ value, n }: { value: string; n?: number }) {
  return (
    <code class="hex" title={value}>
      {short(value, n)}
    </code>
  )
}

export function cellText(v: unknown): string {
  if (v === null || v === undefined) return '—'
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : v.toFixed(Math.abs(v) < 1 ? 4 : 2)
  return String(v)
}

export function Table({ caption, head, rows, label }: { caption?: string; head: ComponentChildren[]; rows: ComponentChildren[][]; label?: string }) {
  return (
    <div class="table-wrap" tabIndex={0} role="region" aria-label={label ?? caption ?? 'table'}>
      <table>
        {caption && <caption>{caption}</caption>}
        <thead>
          <tr>
            {head.map((h) => (
              <th scope="col">{h}</th>
            ))}
          </tr>
        </thead>
        <tbody>
          {rows.map((r) => (
            <tr>
              {r.map((c) => (
                <td>{c}</td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  )
}

/**
 * A button that runs an async action: disabled while it runs, its progress in a live region,
 * its error shown under it. `onDone` gets the result.
 */
export function ActionButton<T>(p: { label: string; run: () => Promise<T>; onDone?: (r: T) => void; busyLabel?: string; kind?: 'primary' | 'danger' | 'plain'; disabled?: boolean; confirm?: string }) {
  const [busy, setBusy] = useState(false)
  const [error, setError] = useState<unknown>(undefined)
  const click = async () => {
    if (p.confirm && !window.confirm(p.confirm)) return
    setBusy(true)
    setError(undefined)
    try {
      const r = await p.run()
      p.onDone?.(r)
    } catch (e) {
      setError(e)
    } finally {
      setBusy(false)
    }
  }
  return (
    <span class="action">
      <button type="button" class={p.kind ?? 'plain'} disabled={busy || p.disabled} aria-busy={busy} onClick={click}>
        {busy ? (p.busyLabel ?? `${p.label}…`) : p.label}
      </button>
      <ErrorBox error={error} />
    </span>
  )
}

/** Text as a file download (CSV export, receipts). */
export function download(name: string, text: string, type = 'text/csv'): void {
  const url = URL.createObjectURL(new Blob([text], { type }))
  const a = document.createElement('a')
  a.href = url
  a.download = name
  a.click()
  setTimeout(() => URL.revokeObjectURL(url), 1000)
}

/** Numbers, and the decimal strings big integers come as (counts are BIGINT in DuckDB). */
export function isNumeric(v: unknown): boolean {
  return typeof v === 'number' || (typeof v === 'string' && /^-?\d+(\.\d+)?$/.test(v))
}
