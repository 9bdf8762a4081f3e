import { createInterface } from 'node:readline/promises'
import type { Readable, Writable } from 'node:stream'
import { W3aError } from '../core/errors.js'

export type ConfirmParameters = {
  /** The question, ending with the choices, e.g. "Delete …? This cannot be undone [y/N]". */
  question: string
  /** `--yes`: confirmed without asking. */
  yes: boolean
  /** The flag that skips the question, named when asking is impossible. */
  yesFlag?: string
  input?: Readable & { isTTY?: boolean }
  /** Where the question goes (stderr: stdout stays the command's result). */
  output?: Writable
}

/**
 * Asks a yes/no question before something irreversible. Only "y" or "yes" confirm; anything
 * else (Enter included) declines. When nobody can answer (stdin is not a terminal) and `--yes`
 * was not given, refuses with CONFIRMATION_REQUIRED rather than wait on a pipe forever.
 */
export async function confirm(params: ConfirmParameters): Promise<boolean> {
  if (params.yes) return true
  const input = params.input ?? process.stdin
  if (input.isTTY !== true) {
    throw new W3aError('CONFIRMATION_REQUIRED', `not confirmed: standard input is not a terminal, so nobody can answer "${params.question}"`, {
      details: [`Pass ${params.yesFlag ?? '--yes'} to confirm.`],
    })
  }
  const rl = createInterface({ input, output: params.output ?? process.stderr, terminal: false })
  try {
    const answer = await rl.question(`${params.question} `)
    return /^(y|yes)$/i.test(answer.trim())
  } finally {
    rl.close()
  }
}
