// Reads the shell commands a document tells its reader to run, in order, so a test can run
// them on a fresh devnet and the docs cannot drift from what the CLI does.
//
// Grammar (kept small on purpose; docs/contributing.md says the same to doc writers):
// - ```sh blocks hold commands, and so do plain ``` blocks with `$ ` lines. In a block where
//   some line starts with `$ `, only those lines are commands and the lines after each are its
//   expected output (a transcript); elsewhere every line is a command. `\` continues a line, and so does an open quote.
// - A ```ts (or ```js) block right after `<!-- file: NAME -->` is written to NAME first.
// - `# …` after a command is a comment.
// - `<!-- fresh devnet -->` starts the commands after it on a new, empty devnet.

export type DocStep =
  | { kind: 'run'; command: string; line: number; expected: string[] }
  | { kind: 'file'; name: string; content: string; line: number }
  | { kind: 'fresh'; line: number }

const FENCE = /^```(\w*)\s*$/
const FILE_MARK = /^<!--\s*file:\s*(\S+)\s*-->\s*$/
const FRESH_MARK = /^<!--\s*fresh devnet\s*-->\s*$/

/** Steps of one markdown document, in reading order. */
export function docSteps(markdown: string): DocStep[] {
  const lines = markdown.split('\n')
  const steps: DocStep[] = []
  let pendingFile: string | undefined
  for (let i = 0; i < lines.length; i++) {
    if (FRESH_MARK.test(lines[i]!)) {
      steps.push({ kind: 'fresh', line: i + 1 })
      continue
    }
    const mark = FILE_MARK.exec(lines[i]!)
    if (mark) {
      pendingFile = mark[1]
      continue
    }
    const open = FENCE.exec(lines[i]!)
    if (!open) {
      if (lines[i]!.trim() !== '') pendingFile = undefined
      continue
    }
    const start = i + 1
    let end = start
    while (end < lines.length && !/^```\s*$/.test(lines[end]!)) end++
    const body = lines.slice(start, end)
    const lang = open[1] ?? ''
    if (pendingFile && (lang === 'ts' || lang === 'js')) {
      steps.push({ kind: 'file', name: pendingFile, content: body.join('\n') + '\n', line: start })
    } else if (lang === 'sh' || (lang === '' && body.some((l) => l.startsWith('$ ')))) {
      steps.push(...shellSteps(body, start + 1))
    }
    pendingFile = undefined
    i = end
  }
  return steps
}

function shellSteps(body: string[], firstLine: number): DocStep[] {
  const transcript = body.some((l) => l.startsWith('$ '))
  const steps: DocStep[] = []
  let i = 0
  while (i < body.length) {
    const raw = body[i]!
    if (transcript && !raw.startsWith('$ ')) {
      const last = steps.at(-1)
      if (last?.kind === 'run' && raw.trim() !== '') last.expected.push(raw)
      i++
      continue
    }
    const line = firstLine + i
    let text = transcript ? raw.slice(2) : raw
    // Continue while the line ends in `\` or a quote is still open.
    while ((/\\\s*$/.test(text) || openQuote(text)) && i + 1 < body.length) {
      i++
      text = /\\\s*$/.test(text) ? text.replace(/\\\s*$/, ' ') + body[i]!.trimStart() : `${text}\n${body[i]!}`
    }
    i++
    const command = stripComment(text).trim()
    if (command !== '') steps.push({ kind: 'run', command, line, expected: [] })
  }
  return steps
}

/** The quote character left open at the end of `text`, if any. */
function openQuote(text: string): string | undefined {
  let q: string | undefined
  for (const c of text) {
    if (q) {
      if (c === q) q = undefined
    } else if (c === '"' || c === "'") q = c
  }
  return q
}

function stripComment(text: string): string {
  let q: string | undefined
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!
    if (q) {
      if (c === q) q = undefined
    } else if (c === '"' || c === "'") q = c
    else if (c === '#' && (i === 0 || /\s/.test(text[i - 1]!))) return text.slice(0, i)
  }
  return text
}
