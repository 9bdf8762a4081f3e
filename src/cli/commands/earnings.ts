import { claimEarnings, getEarnings } from '../../sdk/index.js'
import { ACCOUNT_OPTION, GATEWAY_OPTION, type Command } from '../command.js'
import { clientFromOptions } from '../client-from-options.js'
import { addressOption, amountText } from './market.js'

export const earningsCommand: Command = {
  path: ['earnings'],
  summary: "Show what an account can claim (owner shares, worker shares and fees, refunds) and its token balance",
  options: {
    address: { type: 'string', placeholder: 'ADDRESS', description: 'whose earnings (default: the account given by --account / W3A_PRIVATE_KEY)' },
    ...ACCOUNT_OPTION,
    ...GATEWAY_OPTION,
  },
  help: 'Claim them with `w3a claim`.',
  async run({ values, out }) {
    const account = addressOption(values['address'], '--address')
    const client = await clientFromOptions(values, { needsAccount: account === undefined })
    const r = await getEarnings(client, account ? { account } : {})
    out.result(r, [`${r.account}`, `  claimable  ${amountText(r.claimable)}`, `  balance    ${amountText(r.balance)}`].join('\n'))
  },
}

export const claimCommand: Command = {
  path: ['claim'],
  summary: 'Transfer everything your account has earned on the jobs contract to it',
  options: { ...ACCOUNT_OPTION, ...GATEWAY_OPTION },
  async run({ values, out }) {
    const client = await clientFromOptions(values, { needsAccount: true })
    out.progress('claiming...')
    const r = await claimEarnings(client)
    out.result(r, `claimed ${amountText(r.claimed)} to ${r.account}\n  tx  ${r.hash}`)
  },
}
