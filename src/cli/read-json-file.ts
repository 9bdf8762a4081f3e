import { readFileSync } from 'node:fs'
import { W3aError } from '../core/errors.js'

/** A JSON file named on the command line (collateral, policies): INPUT_UNREADABLE / INPUT_MALFORMED name it. */
export function readJsonFile(file: string): unknown {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (cause) {
    throw new W3aError('INPUT_UNREADABLE', `cannot read ${file}`, { cause })
  }
  try {
    return JSON.parse(text)
  } catch (cause) {
    throw new W3aError('INPUT_MALFORMED', `${file} is not JSON`, { cause })
  }
}
