/**
 * RFC 4180 CSV of a result: a cell with a comma, quote or line break is quoted. A text cell that
 * a spreadsheet would run as a formula (it starts with =, +, -, @, a tab or a carriage return)
 * gets a leading apostrophe: a site's labels are whatever its visitors' browsers sent, and opening
 * the download must not run them. Numbers are written as they are.
 */
export function toCsv(columns: string[], rows: unknown[][]): string {
  const cell = (v: unknown) => {
    const text = v === null || v === undefined ? '' : String(v)
    const s = typeof v !== 'number' && typeof v !== 'bigint' && /^[=+\-@\t\r]/.test(text) ? `'${text}` : text
    return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s
  }
  return [columns.map(cell).join(','), ...rows.map((r) => r.map(cell).join(','))].join('\r\n') + '\r\n'
}
