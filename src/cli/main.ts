import { parseCommandArgs, renderHelp, type Command } from './command.js'
import { createOutput, reportError } from './output.js'
import { pinGateway } from './client-from-options.js'
import { upCommand } from './commands/up.js'
import { deployCommand } from './commands/deploy.js'
import { gatewayCommand } from './commands/gateway.js'
import { statusCommand } from './commands/status.js'
import { networkAddCommand, networkLsCommand, networkRemoveCommand } from './commands/network.js'
import { workerCommand, workersLsCommand } from './commands/worker.js'
import { storageCommand } from './commands/storage.js'
import { attestVerifyCommand } from './commands/attest.js'
import { datasetGrantCommand, datasetRevokeCommand, datasetDeleteCommand, datasetPolicyCommand, datasetAccessCommand } from './commands/custody.js'
import { datasetUploadCommand, datasetLsCommand, datasetShowCommand, datasetDownloadCommand } from './commands/dataset.js'
import { marketLsCommand, marketListCommand, marketBuyCommand, marketCreditsCommand, marketRefundCommand, marketAccessCommand } from './commands/market.js'
import { earningsCommand, claimCommand } from './commands/earnings.js'
import { POOL_COMMANDS } from './commands/pool.js'
import { jobLsCommand, jobShowCommand, jobVerifyCommand, jobResultCommand, jobTimeoutCommand } from './commands/job.js'
import { queryCommand } from './commands/query.js'
import { campaignClaimCommand, campaignCreateCommand, campaignLsCommand, campaignResultCommand, campaignShowCommand } from './commands/campaign.js'
import { agentCommand } from './commands/agent.js'
import { STORAGE_MARKET_COMMANDS } from './commands/storage-market.js'
import { siteAddCommand, siteApiCommand, siteLsCommand, sitePolicyCommand, siteSnippetCommand, siteStatsCommand } from './commands/site.js'
import { siteFunnelCommand, siteFunnelsAddCommand, siteFunnelsLsCommand, siteFunnelsRmCommand, siteGoalsAddCommand, siteGoalsLsCommand, siteGoalsRmCommand } from './commands/site-goals.js'

export const COMMANDS: Command[] = [
  upCommand,
  deployCommand,
  gatewayCommand,
  statusCommand,
  networkAddCommand,
  networkLsCommand,
  networkRemoveCommand,
  datasetUploadCommand,
  datasetLsCommand,
  datasetShowCommand,
  datasetDownloadCommand,
  datasetGrantCommand,
  datasetRevokeCommand,
  datasetPolicyCommand,
  datasetAccessCommand,
  datasetDeleteCommand,
  marketLsCommand,
  marketListCommand,
  marketBuyCommand,
  marketRefundCommand,
  marketAccessCommand,
  marketCreditsCommand,
  ...POOL_COMMANDS,
  earningsCommand,
  claimCommand,
  queryCommand,
  jobLsCommand,
  jobShowCommand,
  jobVerifyCommand,
  jobResultCommand,
  jobTimeoutCommand,
  workerCommand,
  workersLsCommand,
  storageCommand,
  attestVerifyCommand,
  siteAddCommand,
  siteSnippetCommand,
  siteStatsCommand,
  siteGoalsAddCommand,
  siteGoalsLsCommand,
  siteGoalsRmCommand,
  siteFunnelsAddCommand,
  siteFunnelsLsCommand,
  siteFunnelsRmCommand,
  siteFunnelCommand,
  siteLsCommand,
  sitePolicyCommand,
  siteApiCommand,
  campaignCreateCommand,
  campaignLsCommand,
  campaignShowCommand,
  campaignResultCommand,
  campaignClaimCommand,
  agentCommand,
  ...STORAGE_MARKET_COMMANDS,
]

function topHelp(): string {
  const groups = COMMANDS.map((c) => `  w3a ${c.path.join(' ').padEnd(20)} ${c.summary}`)
  return [
    'w3a — Web3 Analytics: keep custody of your data, let analysts use it only through TEEs.',
    '',
    'Commands:',
    ...groups,
    '',
    'Run `w3a COMMAND --help` for a command\'s options. Every command takes --json.',
    'Docs: docs/getting-started.md',
  ].join('\n')
}

/** Finds the longest command path that prefixes argv. */
function findCommand(argv: string[]): { cmd: Command; rest: string[] } | undefined {
  let best: { cmd: Command; rest: string[] } | undefined
  for (const cmd of COMMANDS) {
    if (cmd.path.every((w, i) => argv[i] === w) && (!best || cmd.path.length > best.cmd.path.length)) {
      best = { cmd, rest: argv.slice(cmd.path.length) }
    }
  }
  return best
}

export async function main(argv: string[]): Promise<number> {
  const json = argv.includes('--json')
  if (argv.length === 0 || argv[0] === '--help' || argv[0] === '-h' || argv[0] === 'help') {
    process.stdout.write(topHelp() + '\n')
    return 0
  }
  if (argv[0] === '--version') {
    process.stdout.write('w3a 0.1.0\n')
    return 0
  }
  const found = findCommand(argv)
  if (!found) {
    const group = COMMANDS.filter((c) => c.path[0] === argv[0])
    if (group.length > 0 && !argv.slice(1).some((a) => !a.startsWith('-'))) {
      process.stdout.write(group.map((c) => `  w3a ${c.path.join(' ').padEnd(20)} ${c.summary}`).join('\n') + '\n')
      return argv.includes('--help') || argv.includes('-h') ? 0 : 2
    }
    process.stderr.write(`error [INVALID_ARGUMENT]: unknown command "${argv.filter((a) => !a.startsWith('-')).join(' ')}"\n\n${topHelp()}\n`)
    return 2
  }
  const { cmd, rest } = found
  const out = createOutput(json)
  try {
    const { values, positionals } = parseCommandArgs(cmd, rest)
    if (values['help']) {
      process.stdout.write(renderHelp(cmd) + '\n')
      return 0
    }
    const gateway = pinGateway(cmd, values)
    if (gateway?.note) out.note(gateway.note)
    await cmd.run.call(cmd, { values, positionals, out })
    return 0
  } catch (e) {
    return reportError(e, json)
  }
}
