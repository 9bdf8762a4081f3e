/** A chart of rows (first column as labels, every numeric column as a series) with uPlot: bars, or lines for a time series. */
import { useEffect, useRef } from 'preact/hooks'
import uPlot from 'uplot'
import { cellText, isNumeric } from './ui.js'

const COLORS = ['#3b82f6', '#f59e0b', '#10b981', '#ef4444', '#8b5cf6']

export default function Chart({ columns, rows, line = false, label }: { columns: string[]; rows: unknown[][]; line?: boolean; label?: string }) {
  const el = useRef<HTMLDivElement>(null)
  useEffect(() => {
    const host = el.current
    if (!host) return
    const numeric = columns.map((_, i) => i).filter((i) => i > 0 && rows.every((r) => isNumeric(r[i])))
    const labels = rows.map((r) => cellText(r[0]))
    const data: uPlot.AlignedData = [rows.map((_, i) => i), ...numeric.map((i) => rows.map((r) => Number(r[i])))]
    const paths = line ? undefined : uPlot.paths.bars!({ size: [0.6, 60] })
    const width = Math.max(280, Math.min(host.clientWidth || 600, 900))
    const plot = new uPlot(
      {
        width,
        height: 260,
        // From zero, each label centred in its slot; a time series labels about eight of its points.
        scales: { x: { time: false, range: line ? [0, Math.max(1, rows.length - 1)] : [-0.5, rows.length - 0.5] }, y: { range: (_u, min, max) => [Math.min(0, min), max * 1.05] } },
        axes: [{ values: (_u, ticks) => ticks.map((t) => (Number.isInteger(t) && t % Math.max(1, Math.ceil(rows.length / 8)) === 0 ? (labels[t] ?? '') : '')), stroke: 'currentColor' }, { stroke: 'currentColor' }],
        series: [{ label: columns[0] ?? 'x' }, ...numeric.map((i, n) => ({ label: columns[i], stroke: COLORS[n % COLORS.length], width: line ? 2 : 1, ...(line ? {} : { fill: `${COLORS[n % COLORS.length]}88`, paths }) }))],
      },
      data,
      host,
    )
    return () => plot.destroy()
  }, [columns, rows, line])
  return <div class="chart" ref={el} role="img" aria-label={label ?? `${line ? 'Line' : 'Bar'} chart of ${columns.slice(1).join(', ')} by ${columns[0]}`} />
}

