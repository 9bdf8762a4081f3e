/** A bar chart of a result (first column as labels, every numeric column as a series), with uPlot. */
import { useEffect, useRef } from 'preact/hooks'
import uPlot from 'uplot'
import { cellText, isNumeric } from './ui.js'

const COLORS = ['#3b82f6', '#f59e0b', '#10b981', '#ef4444', '#8b5cf6']

export default function Chart({ columns, rows }: { columns: string[]; rows: unknown[][] }) {
  const el = useRef<HTMLDivElement>(null)
  useEffect(() => {
    const host = el.current
    if (!host) return
    const numeric = columns.map((_, i) => i).filter((i) => i > 0 && rows.every((r) => isNumeric(r[i])))
    const labels = rows.map((r) => cellText(r[0]))
    const data: uPlot.AlignedData = [rows.map((_, i) => i), ...numeric.map((i) => rows.map((r) => Number(r[i])))]
    const bars = uPlot.paths.bars!({ size: [0.6, 60] })
    const width = Math.max(280, Math.min(host.clientWidth || 600, 900))
    const plot = new uPlot(
      {
        width,
        height: 260,
        // Bars from zero, each label centred in its slot.
        scales: { x: { time: false, range: [-0.5, rows.length - 0.5] }, y: { range: (_u, min, max) => [Math.min(0, min), max * 1.05] } },
        axes: [{ values: (_u, ticks) => ticks.map((t) => (Number.isInteger(t) ? (labels[t] ?? '') : '')), stroke: 'currentColor' }, { stroke: 'currentColor' }],
        series: [{ label: columns[0] ?? 'x' }, ...numeric.map((i, n) => ({ label: columns[i], stroke: COLORS[n % COLORS.length], fill: `${COLORS[n % COLORS.length]}88`, paths: bars }))],
      },
      data,
      host,
    )
    return () => plot.destroy()
  }, [columns, rows])
  return <div class="chart" ref={el} role="img" aria-label={`Bar chart of ${columns.slice(1).join(', ')} by ${columns[0]}`} />
}

