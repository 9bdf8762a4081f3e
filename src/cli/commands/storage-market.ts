import type { Hex } from 'viem'
import type { StorageOrderStatus } from '../../chain/portable.js'
import { W3aError } from '../../core/errors.js'
import { claimStorageEarnings, getStorageEarnings, listStorageNodesOf, listStorageOrdersOf } from '../../sdk/index.js'
import { ACCOUNT_OPTION, GATEWAY_OPTION, requireArg, type Command } from '../command.js'
import { clientFromOptions } from '../client-from-options.js'
import { table } from '../output.js'
import { datasetIdArg } from './dataset.js'
import { addressOption, amountText } from './market.js'
import { STORAGE_ORDER_OPTIONS, storageOrderHelp, storeFromOptions } from './storage-order.js'

// The read and claim side of the storage market (contracts/StorageMarket.sol). The storage node
// process itself is `w3a storage` (storage-node command).

const STATUSES: readonly StorageOrderStatus[] = ['active', 'ended']

export const storageOrdersCommand: Command = {
  path: ['storage', 'orders'],
  summary: 'List storage orders: dataset, nodes, eras paid for, escrow left',
  options: {
    dataset: { type: 'string', placeholder: 'ID', description: 'only the orders of this dataset' },
    node: { type: 'string', placeholder: 'ADDRESS', description: 'only the orders this storage node (worker key) holds now' },
    owner: { type: 'string', placeholder: 'ADDRESS', description: 'only the orders of this owner' },
    status: { type: 'string', placeholder: 'STATUS', description: 'active or ended' },
    ...GATEWAY_OPTION,
  },
  help: 'An order pays for the eras [start, end); `w3a storage orders` also prints the current era.',
  async run({ values, out }) {
    const status = values['status']
    if (status !== undefined && !STATUSES.includes(status as StorageOrderStatus)) throw new W3aError('INVALID_ARGUMENT', `--status must be one of ${STATUSES.join(', ')}, got "${String(status)}"`)
    const client = await clientFromOptions(values)
    const datasetId = typeof values['dataset'] === 'string' ? datasetIdArg(values['dataset']) : undefined
    const node = addressOption(values['node'], '--node')
    const owner = addressOption(values['owner'], '--owner')
    const r = await listStorageOrdersOf(client, {
      ...(datasetId ? { datasetId } : {}),
      ...(node ? { node } : {}),
      ...(owner ? { owner } : {}),
      ...(status ? { status: status as StorageOrderStatus } : {}),
    })
    const rows = r.orders.map((o) => ({ ...o, eras: `${o.startEra}-${o.endEra}`, nodes: `${o.nodes.length}/${o.replication}`, dataset: o.datasetId }))
    out.result(r, [`current era ${r.currentEra}`, table(rows, ['id', 'dataset', 'status', 'eras', 'nodes', 'sizeBytes', 'escrow'])].join('\n'))
  },
}

export const storageNodesCommand: Command = {
  path: ['storage', 'nodes'],
  summary: 'List registered storage nodes: operator, endpoint, capacity used, failed challenges, eligibility',
  options: { operator: { type: 'string', placeholder: 'ADDRESS', description: 'only the nodes of this operator' }, ...GATEWAY_OPTION },
  async run({ values, out }) {
    const client = await clientFromOptions(values)
    const operator = addressOption(values['operator'], '--operator')
    const nodes = await listStorageNodesOf(client, operator ? { operator } : {})
    const rows = nodes.map((n) => ({ ...n, used: `${n.usedBytes}/${n.capacityBytes}`, eligible: n.eligible ? 'yes' : 'no' }))
    out.result({ nodes }, table(rows, ['worker', 'operator', 'endpoint', 'used', 'orderCount', 'failures', 'eligible']))
  },
}

export const storageEarningsCommand: Command = {
  path: ['storage', 'earnings'],
  summary: 'Show what an account can claim on the storage market (node rewards, owners\u2019 unpaid shares)',
  options: {
    address: { type: 'string', placeholder: 'ADDRESS', description: 'whose earnings (default: the account given by --account / W3A_PRIVATE_KEY)' },
    ...ACCOUNT_OPTION,
    ...GATEWAY_OPTION,
  },
  help: 'Rewards accrue to a node\u2019s operator when an era of an order it proved is settled (the order\u2019s storage nodes settle each era themselves). Claim them with `w3a storage claim`.',
  async run({ values, out }) {
    const account = addressOption(values['address'], '--address')
    const client = await clientFromOptions(values, { needsAccount: account === undefined })
    const r = await getStorageEarnings(client, account ? { account } : {})
    out.result(r, `${r.account}\n  claimable  ${amountText(r.claimable)}`)
  },
}

export const storageClaimCommand: Command = {
  path: ['storage', 'claim'],
  summary: 'Transfer everything your account has earned on the storage market to it',
  options: { ...ACCOUNT_OPTION, ...GATEWAY_OPTION },
  async run({ values, out }) {
    const client = await clientFromOptions(values, { needsAccount: true })
    out.progress('claiming...')
    const r = await claimStorageEarnings(client)
    out.result(r, `claimed ${amountText(r.claimed)} to ${r.account}\n  tx  ${r.hash}`)
  },
}

export const datasetStoreCommand: Command = {
  path: ['dataset', 'store'],
  summary: 'Place a storage order for your dataset: storage nodes hold its blocks and prove it each era',
  args: [{ name: 'ID', description: 'dataset id' }],
  options: { ...Object.fromEntries(Object.entries(STORAGE_ORDER_OPTIONS).filter(([k]) => k !== 'store')), ...ACCOUNT_OPTION, ...GATEWAY_OPTION },
  help: [...storageOrderHelp(), 'Example: w3a dataset store 0xID --eras 200 --price-per-era 0.05 --account 0'].join('\n'),
  async run({ values, positionals, out }) {
    const id: Hex = datasetIdArg(requireArg(positionals, 0, this))
    const client = await clientFromOptions(values, { needsAccount: true })
    const o = (await storeFromOptions(client, values, { id }, out, true))!
    out.result(o, [`storage order ${o.orderId} for ${id}`, `  nodes   ${o.nodes.join(', ')}`, `  escrow  ${amountText(o.escrow)}`, `  tx      ${o.tx}`].join('\n'))
  },
}

export const STORAGE_MARKET_COMMANDS: Command[] = [datasetStoreCommand, storageOrdersCommand, storageNodesCommand, storageEarningsCommand, storageClaimCommand]
