import { join } from 'node:path'
import type { Address } from 'viem'
import { W3aError, isW3aError } from '../../core/errors.js'
import { parseConsentRules, consentRefusal } from '../../campaigns/consent.js'
import { openAgentState, readDeviceRows } from '../../campaigns/agent-store.js'
import { answerCampaign, listCampaigns } from '../../sdk/index.js'
import { ACCOUNT_OPTION, GATEWAY_OPTION, requireString, type Command } from '../command.js'
import { clientFromOptions } from '../client-from-options.js'
import { readJsonFile } from '../read-json-file.js'
import { addressOption } from './market.js'

export const agentCommand: Command = {
  path: ['agent'],
  summary: 'Answer federated campaigns from this device: your data stays here, only sealed answers leave',
  options: {
    data: { type: 'string', placeholder: 'DIR', description: 'folder with your own data (.json or .csv files); it never leaves this machine' },
    consent: { type: 'string', placeholder: 'FILE', description: 'your consent rules (JSON): purposes, maxEpsilon, functions, denyFunctions, minK, minReward' },
    payout: { type: 'string', placeholder: 'ADDRESS', description: 'where rewards are paid (default: the --account address; a fresh address links your answers to nothing)' },
    state: { type: 'string', placeholder: 'DIR', description: 'where the agent keeps its device secret and what it answered (default: DIR/.w3a-agent)' },
    once: { type: 'boolean', description: 'look at the open campaigns once, then exit (default: keep watching)' },
    interval: { type: 'string', placeholder: 'S', description: 'seconds between looks (default 30)' },
    ...ACCOUNT_OPTION,
    ...GATEWAY_OPTION,
  },
  help: [
    'Each open campaign is checked against your consent rules; one that passes has its function',
    'fetched (checked against its hash), run in the sandbox over your data, and only the typed',
    'answer is sealed to the campaign\'s attested aggregator. Each campaign is answered once.',
    'Example rules: { "purposes": ["demographics"], "maxEpsilon": 1 }',
  ].join('\n'),
  async run({ values, out }) {
    const dataDir = requireString(values, 'data', this)
    const rules = parseConsentRules(readJsonFile(requireString(values, 'consent', this)), `--consent ${String(values['consent'])}`)
    const client = await clientFromOptions(values, { needsAccount: false })
    const payout: Address | undefined = addressOption(values['payout'], '--payout') ?? client.account?.address
    if (!payout) throw new W3aError('INVALID_ARGUMENT', 'the agent needs a payout address', { details: ['Pass --payout ADDRESS, or --account N / W3A_PRIVATE_KEY to be paid there.'] })
    const state = openAgentState(typeof values['state'] === 'string' ? values['state'] : join(dataDir, '.w3a-agent'))
    const interval = Number(values['interval'] ?? '30')
    if (!(interval > 0)) throw new W3aError('INVALID_ARGUMENT', '--interval must be a positive number of seconds')
    const network = await client.network()
    const answered: { id: string; answer: unknown }[] = []
    const skipped: { id: string; reason: string }[] = []
    const look = async () => {
      const rows = readDeviceRows(dataDir)
      for (const c of await listCampaigns(client, { status: 'open' })) {
        const key = `${network.contracts.campaigns.toLowerCase()}:${c.id}`
        if (state.answered(key) || c.deadline <= BigInt(Math.floor(Date.now() / 1000))) continue
        const refusal = consentRefusal(rules, c)
        if (refusal) {
          skipped.push({ id: String(c.id), reason: refusal })
          out.progress(`campaign ${c.id}: skipped (${refusal})`)
          continue
        }
        try {
          const r = await answerCampaign(client, { id: c.id, rows, rules, deviceSecret: state.deviceSecret, payout })
          state.record(key, r.answer)
          answered.push({ id: String(c.id), answer: r.answer })
          out.progress(`campaign ${c.id}: answered (sealed to ${r.aggregator})`)
        } catch (e) {
          // Already answered from this device (e.g. its state folder was lost): it counted once.
          if (isW3aError(e, 'ANSWER_REFUSED') && /already answered/.test((e as Error).message)) state.record(key, null)
          skipped.push({ id: String(c.id), reason: (e as Error).message.split('\n')[0]! })
          out.progress(`campaign ${c.id}: not answered: ${(e as Error).message.split('\n')[0]}`)
        }
      }
    }
    await look()
    if (values['once'] === true) {
      out.result({ payout, answered, skipped }, `${answered.length} campaign(s) answered, ${skipped.length} skipped (payout ${payout})`)
      return
    }
    out.progress(`watching for campaigns every ${interval} s (Ctrl-C stops)`)
    for (;;) {
      await new Promise((r) => setTimeout(r, interval * 1000))
      await look().catch((e) => out.progress(`look failed: ${(e as Error).message.split('\n')[0]}`))
    }
  },
}
