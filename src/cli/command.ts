import { parseArgs } from 'node:util'
import { W3aError } from '../core/errors.js'
import type { Output } from './output.js'

export type OptionSpec = { type: 'string' | 'boolean'; description: string; short?: string; placeholder?: string }

export type CommandContext = {
  values: Record<string, string | boolean | undefined>
  positionals: string[]
  out: Output
}

export type Command = {
  /** Words after `w3a`, e.g. ['dataset', 'upload']. */
  path: string[]
  summary: string
  /** Positional arguments, in order. */
  args?: { name: string; description: string; optional?: boolean }[]
  options?: Record<string, OptionSpec>
  /** Longer help text: what it does, an example. */
  help?: string
  run(ctx: CommandContext): Promise<void>
}

/** Options every command takes. */
export const GLOBAL_OPTIONS: Record<string, OptionSpec> = {
  json: { type: 'boolean', description: 'print machine-readable JSON on stdout (progress still goes to stderr)' },
  help: { type: 'boolean', short: 'h', description: 'show this help' },
}

/** How a command finds its gateway (order in gateway-url.ts). */
export const GATEWAY_OPTION: Record<string, OptionSpec> = {
  gateway: { type: 'string', placeholder: 'URL', description: "gateway URL (default: $W3A_GATEWAY, else the running `w3a up`'s, else http://127.0.0.1:8787)" },
  'data-dir': { type: 'string', placeholder: 'DIR', description: 'data dir of the running `w3a up` whose gateway to use, and whose networks.json holds the pinned networks (default: $W3A_DATA_DIR or .w3a)' },
  network: { type: 'string', placeholder: 'NAME', description: 'pinned network to use (`w3a network ls`); its gateway unless --gateway is given' },
}

export const ACCOUNT_OPTION: Record<string, OptionSpec> = {
  account: { type: 'string', placeholder: 'N', description: 'dev account index (dev networks only); otherwise $W3A_PRIVATE_KEY is used' },
}

export function allOptions(cmd: Command): Record<string, OptionSpec> {
  return { ...(cmd.options ?? {}), ...GLOBAL_OPTIONS }
}

export function parseCommandArgs(cmd: Command, argv: string[]): { values: CommandContext['values']; positionals: string[] } {
  const options = Object.fromEntries(
    Object.entries(allOptions(cmd)).map(([k, o]) => [k, { type: o.type, ...(o.short ? { short: o.short } : {}) }]),
  )
  try {
    const { values, positionals } = parseArgs({ args: argv, options, allowPositionals: true, strict: true })
    return { values: values as CommandContext['values'], positionals }
  } catch (e) {
    throw new W3aError('INVALID_ARGUMENT', (e as Error).message.replace(/\. To specify a positional.*$/s, ''), {
      details: [`Run \`w3a ${cmd.path.join(' ')} --help\` for usage.`],
    })
  }
}

export function usageLine(cmd: Command): string {
  const args = (cmd.args ?? []).map((a) => (a.optional ? `[${a.name}]` : a.name)).join(' ')
  return `w3a ${cmd.path.join(' ')}${args ? ' ' + args : ''} [options]`
}

export function renderHelp(cmd: Command): string {
  const lines = [`${cmd.summary}`, '', `Usage: ${usageLine(cmd)}`]
  if (cmd.args?.length) {
    lines.push('', 'Arguments:')
    for (const a of cmd.args) lines.push(`  ${a.name.padEnd(22)} ${a.description}`)
  }
  lines.push('', 'Options:')
  for (const [name, o] of Object.entries(allOptions(cmd))) {
    const flag = `${o.short ? `-${o.short}, ` : ''}--${name}${o.type === 'string' ? ` ${o.placeholder ?? 'VALUE'}` : ''}`
    lines.push(`  ${flag.padEnd(22)} ${o.description}`)
  }
  if (cmd.help) lines.push('', cmd.help)
  return lines.join('\n')
}

export function requireString(values: CommandContext['values'], name: string, cmd: Command): string {
  const v = values[name]
  if (typeof v !== 'string' || v === '') {
    throw new W3aError('INVALID_ARGUMENT', `--${name} is required`, { details: [`Usage: ${usageLine(cmd)}`] })
  }
  return v
}

export function requireArg(positionals: string[], index: number, cmd: Command): string {
  const spec = cmd.args?.[index]
  const v = positionals[index]
  if (v === undefined) {
    throw new W3aError('INVALID_ARGUMENT', `missing ${spec?.name ?? 'argument'}`, { details: [`Usage: ${usageLine(cmd)}`] })
  }
  return v
}
