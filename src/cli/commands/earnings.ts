import { formatUnits } from 'viem'
import { claimEarnings, claimPoolRoyalties, getEarnings, getPoolRoyalties } from '../../sdk/index.js'
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
  help: 'Pool contributors also see their share per pool. Claim it all with `w3a claim`.',
  async run({ values, out }) {
    const account = addressOption(values['address'], '--address')
    const client = await clientFromOptions(values, { needsAccount: account === undefined })
    const r = await getEarnings(client, account ? { account } : {})
    // A contributor's share per pool: claimed so far, and what its verified pool results still owe it.
    const royalties = await getPoolRoyalties(client, { account: r.account })
    const unit = (n: bigint) => `${formatUnits(n, 18)} ${r.claimable.symbol}`
    const pools = royalties.pools.map((p) => `  pool ${p.pool}  claimed ${unit(p.claimed)}  to claim ${unit(p.unclaimed)}`)
    if (royalties.unreachable.length > 0) pools.push(`  (the workers of pool jobs ${royalties.unreachable.join(', ')} are offline: their royalties show once they are back)`)
    const json = { ...r, pools: royalties.pools.map((p) => ({ pool: p.pool, claimed: p.claimed.toString(), unclaimed: p.unclaimed.toString() })) }
    out.result(json, [`${r.account}`, `  claimable  ${amountText(r.claimable)}`, `  balance    ${amountText(r.balance)}`, ...pools].join('\n'))
  },
}

export const claimCommand: Command = {
  path: ['claim'],
  summary: 'Transfer everything your account has earned on the jobs contract to it',
  options: { ...ACCOUNT_OPTION, ...GATEWAY_OPTION },
  async run({ values, out }) {
    const client = await clientFromOptions(values, { needsAccount: true })
    out.progress('claiming...')
    // Pool royalties first (they accrue to the earnings), then everything in one transfer.
    const royalties = await claimPoolRoyalties(client)
    if (royalties.jobs.length > 0) out.progress(`took royalties of ${royalties.jobs.length} pool job(s)`)
    const r = await claimEarnings(client)
    out.result(r, `claimed ${amountText(r.claimed)} to ${r.account}\n  tx  ${r.hash}`)
  },
}
