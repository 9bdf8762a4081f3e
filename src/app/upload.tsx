/**
 * Upload in the page (My data): a CSV or Parquet file is read, converted and sealed here (the
 * upload kit, its own chunk), with the schema, the privacy unit and each column's class and
 * bounds chosen in the form; safe defaults: DP on every answer, k = 10, identifiers only
 * counted. The dataset is registered unlisted, its policy sealed to the keepers; the owner
 * lists it from its card.
 */
import { useState } from 'preact/hooks'
import { useSession } from './session.js'
import { ErrorBox } from './ui.js'

type Kit = typeof import('./upload-kit.js')
type Table = ReturnType<Kit['readTableFile']>
type ColumnClass = 'identifier' | 'dimension' | 'measure'
type ColumnChoice = { type: string; cls: ColumnClass; lower: string; upper: string }

let kitPromise: Promise<Kit> | undefined
const loadKit = () => (kitPromise ??= import('./upload-kit.js'))

const STAGES: Record<string, string> = {
  read: 'Reading the file in this page',
  convert: 'Writing Parquet in this page',
  encrypt: 'Encrypting in this page',
  upload: 'Sending ciphertext to storage',
  register: 'Registering on chain',
  custody: 'Sealing the key to the keepers',
  policy: 'Sealing the policy to the keepers',
}
const STAGE_ORDER = Object.keys(STAGES)

/** A column that names people or their contact: only counted unless the owner says otherwise. */
const IDENTIFYING = /(^|_)(id|uid|email|e_mail|phone|name|ip|address)$/i

function defaultUnit(t: Table): string {
  return t.columns.find((c) => /^(user|person|customer|visitor|member|patient|client)_?id$/i.test(c.name))?.name ?? t.columns.find((c) => IDENTIFYING.test(c.name))?.name ?? ''
}

function defaultChoice(c: Table['columns'][number], unit: string): ColumnChoice {
  const numeric = c.min !== undefined && (c.type === 'BIGINT' || c.type === 'DOUBLE' || /INT|FLOAT|DECIMAL/.test(c.type))
  const cls: ColumnClass = c.name === unit || IDENTIFYING.test(c.name) ? 'identifier' : numeric ? 'measure' : 'dimension'
  // Bounds suggested from the data, widened to round numbers: the owner's own file, never shown to anyone else.
  const round = (v: number, up: boolean) => {
    if (v === 0) return 0
    const step = 10 ** Math.floor(Math.log10(Math.abs(v)))
    return (up ? Math.ceil(v / step) : Math.floor(v / step)) * step
  }
  return { type: c.type, cls, lower: numeric ? String(Math.min(0, round(c.min!, false))) : '', upper: numeric ? String(round(c.max!, true)) : '' }
}

export function UploadForm() {
  const { sdk, client, changed } = useSession()
  const [file, setFile] = useState<{ name: string; table: Table } | null>(null)
  const [readError, setReadError] = useState<unknown>(undefined)
  const [name, setName] = useState('')
  const [unit, setUnit] = useState('')
  const [choices, setChoices] = useState<Record<string, ColumnChoice>>({})
  const [policy, setPolicy] = useState({ k: '10', epsilonBudget: '3', analystEpsilonBudget: '1', openAccess: true })
  const [progress, setProgress] = useState<{ stage: string; done: number; total: number } | null>(null)
  const [error, setError] = useState<unknown>(undefined)
  const [done, setDone] = useState<{ id: string; rows: number; name: string } | null>(null)

  const pick = async (e: Event) => {
    const input = e.target as HTMLInputElement
    const f = input.files?.[0]
    setFile(null)
    setReadError(undefined)
    setDone(null)
    if (!f) return
    try {
      const kit = await loadKit()
      const table = kit.readTableFile(f.name, new Uint8Array(await f.arrayBuffer()))
      const u = defaultUnit(table)
      setFile({ name: f.name, table })
      setName(f.name.replace(/\.[^.]+$/, '').replace(/[^\w.-]+/g, '-'))
      setUnit(u)
      setChoices(Object.fromEntries(table.columns.map((c) => [c.name, defaultChoice(c, u)])))
    } catch (err) {
      setReadError(err)
    }
  }

  const upload = async () => {
    if (!file) return
    setError(undefined)
    setDone(null)
    const kit = await loadKit()
    try {
      const measures = Object.entries(choices).filter(([, c]) => c.cls === 'measure')
      for (const [col, c] of measures) {
        if (c.lower.trim() === '' || c.upper.trim() === '' || !(Number(c.lower) < Number(c.upper))) {
          throw Object.assign(new Error(`Measure "${col}" needs bounds with lower < upper (each person's values are clamped to them before noise)`), { code: 'INVALID_ARGUMENT' })
        }
      }
      setProgress({ stage: 'convert', done: 0, total: 1 })
      await new Promise((r) => setTimeout(r, 0)) // let the bar paint before the conversion holds the thread
      const segments = file.table.segments(Object.fromEntries(Object.entries(choices).map(([col, c]) => [col, c.type])))
      const r = await kit.uploadParquet(client, {
        name,
        segments,
        columns: file.table.columns.map((c) => ({ name: c.name, type: choices[c.name]?.type ?? c.type })),
        ...(unit ? { privacyUnit: unit } : {}),
        onProgress: (p) => setProgress(p),
      })
      setProgress({ stage: 'policy', done: 0, total: 1 })
      // The dataset exists from here on: a failure below must not invite a second upload.
      setFile(null)
      changed()
      await sdk.setDatasetPolicy(client, {
        id: r.id,
        policy: {
          k: Number(policy.k),
          epsilonBudget: Number(policy.epsilonBudget),
          analystEpsilonBudget: Number(policy.analystEpsilonBudget),
          openAccess: policy.openAccess,
          columns: {
            identifiers: Object.entries(choices).filter(([, c]) => c.cls === 'identifier').map(([col]) => col),
            dimensions: Object.entries(choices).filter(([, c]) => c.cls === 'dimension').map(([col]) => col),
            measures: measures.map(([col]) => col),
          },
          bounds: Object.fromEntries(measures.map(([col, c]) => [col, [Number(c.lower), Number(c.upper)] as [number, number]])),
        },
      }).catch((e: unknown) => {
        throw Object.assign(new Error(`“${name}” is uploaded (unlisted), but its policy was not set: set it under “Set policy” on its card. ${(e as Error).message ?? e}`), {
          code: (e as { code?: string }).code,
          details: (e as { details?: string[] }).details ?? [],
        })
      })
      setDone({ id: r.id, rows: r.rows, name })
      changed()
    } catch (err) {
      setError(err)
    } finally {
      setProgress(null)
    }
  }

  const set = (col: string, patch: Partial<ColumnChoice>) => setChoices((all) => ({ ...all, [col]: { ...all[col]!, ...patch } }))
  const stageIndex = progress ? STAGE_ORDER.indexOf(progress.stage) : 0
  // One bar over the stages, each stage's segments filling its part.
  const fraction = progress ? (stageIndex - 1 + (progress.total ? progress.done / progress.total : 0)) / (STAGE_ORDER.length - 1) : 0

  return (
    <section class="box" aria-labelledby="upload-h" data-testid="upload">
      <h2 id="upload-h">Add a dataset</h2>
      <p class="muted">The file is read, converted to Parquet and encrypted in this page; storage receives only ciphertext. CSV with a header row, or Parquet.</p>
      <form class="form wide" onSubmit={(e) => e.preventDefault()} aria-label="Upload a dataset">
        <label>
          CSV or Parquet file <input type="file" accept=".csv,.parquet,text/csv" onChange={pick} disabled={!!progress} />
        </label>
        <ErrorBox error={readError} title="Cannot read the file" />
        {file && (
          <>
            <p data-testid="upload-summary">
              {file.table.format.toUpperCase()}: {file.table.rows} rows, {file.table.columns.length} columns.
            </p>
            <label>
              Dataset name <input value={name} onInput={(e) => setName((e.target as HTMLInputElement).value)} required />
            </label>
            <label>
              Privacy unit (the column that identifies one person)
              <select value={unit} onChange={(e) => setUnit((e.target as HTMLSelectElement).value)}>
                <option value="">none: each row is its own person</option>
                {file.table.columns.map((c) => (
                  <option value={c.name}>{c.name}</option>
                ))}
              </select>
            </label>
            <div class="table-wrap" role="region" aria-label="Columns to upload" tabIndex={0}>
              <table>
                <thead>
                  <tr>
                    <th scope="col">Column</th>
                    <th scope="col">Type</th>
                    <th scope="col">Analysts may</th>
                    <th scope="col">Bounds (measures)</th>
                  </tr>
                </thead>
                <tbody>
                  {file.table.columns.map((c) => {
                    const ch = choices[c.name]!
                    return (
                      <tr data-column={c.name}>
                        <th scope="row">{c.name}</th>
                        <td>
                          <select aria-label={`Type of ${c.name}`} value={ch.type} disabled={c.fits.length < 2} onChange={(e) => set(c.name, { type: (e.target as HTMLSelectElement).value })}>
                            {c.fits.map((t) => (
                              <option value={t}>{t}</option>
                            ))}
                          </select>
                        </td>
                        <td>
                          <select aria-label={`Class of ${c.name}`} value={ch.cls} onChange={(e) => set(c.name, { cls: (e.target as HTMLSelectElement).value as ColumnClass })}>
                            <option value="identifier">only count it (identifier)</option>
                            <option value="dimension">group and filter by it (dimension)</option>
                            <option value="measure">sum / average it (measure)</option>
                          </select>
                        </td>
                        <td>
                          {ch.cls === 'measure' && (
                            <span class="row">
                              <input aria-label={`Lower bound of ${c.name}`} inputMode="decimal" size={6} value={ch.lower} onInput={(e) => set(c.name, { lower: (e.target as HTMLInputElement).value })} />
                              –
                              <input aria-label={`Upper bound of ${c.name}`} inputMode="decimal" size={6} value={ch.upper} onInput={(e) => set(c.name, { upper: (e.target as HTMLInputElement).value })} />
                            </span>
                          )}
                        </td>
                      </tr>
                    )
                  })}
                </tbody>
              </table>
            </div>
            <fieldset class="row">
              <legend>Privacy (every answer is differentially private)</legend>
              <label>
                k (people per released group) <input type="number" min={2} size={4} value={policy.k} onInput={(e) => setPolicy({ ...policy, k: (e.target as HTMLInputElement).value })} />
              </label>
              <label>
                ε budget, all analysts <input type="number" step="0.1" size={4} value={policy.epsilonBudget} onInput={(e) => setPolicy({ ...policy, epsilonBudget: (e.target as HTMLInputElement).value })} />
              </label>
              <label>
                ε per analyst <input type="number" step="0.1" size={4} value={policy.analystEpsilonBudget} onInput={(e) => setPolicy({ ...policy, analystEpsilonBudget: (e.target as HTMLInputElement).value })} />
              </label>
              <label class="check">
                <input type="checkbox" checked={policy.openAccess} onChange={(e) => setPolicy({ ...policy, openAccess: (e.target as HTMLInputElement).checked })} /> Open access (any buyer, no grant needed)
              </label>
            </fieldset>
            <div class="row">
              <button type="button" class="primary" disabled={!!progress || !name.trim()} aria-busy={!!progress} onClick={() => void upload()}>
                {progress ? 'Uploading…' : 'Encrypt and upload'}
              </button>
            </div>
          </>
        )}
        {progress && (
          <div role="status" aria-live="polite">
            <label>
              {STAGES[progress.stage] ?? progress.stage}
              {progress.total > 1 ? ` (segment ${Math.min(progress.done + 1, progress.total)} of ${progress.total})` : ''}…
              <progress value={Math.max(0.02, fraction)} max={1} data-testid="upload-progress" />
            </label>
          </div>
        )}
        <ErrorBox error={error} title="Upload" />
        {done && (
          <p class="box ok" role="status" data-testid="uploaded">
            <strong>“{done.name}” uploaded</strong>: {done.rows} rows, encrypted, its policy with the keepers. It is unlisted: set a price and list it on the market from its card below.
          </p>
        )}
      </form>
    </section>
  )
}
