import type { Hex } from 'viem'
import { W3aError } from '../../core/errors.js'
import { storeDataset, STORAGE_ORDER_DEFAULTS, type StoreDatasetReturnType, type W3aClient } from '../../sdk/index.js'
import type { CommandContext, OptionSpec } from '../command.js'
import type { Output } from '../output.js'
import { tokenOption } from './market.js'

// The storage order flags shared by `w3a dataset upload --store` and `w3a dataset store`.

export const STORAGE_ORDER_OPTIONS: Record<string, OptionSpec> = {
  store: { type: 'boolean', description: 'also place a storage order: storage nodes of distinct operators hold the blocks and prove it each era' },
  replication: { type: 'string', placeholder: 'N', description: `storage nodes of distinct operators (default ${STORAGE_ORDER_DEFAULTS.replication})` },
  eras: { type: 'string', placeholder: 'N', description: `eras paid for (default ${STORAGE_ORDER_DEFAULTS.eras}; \`w3a storage orders\` shows the current era)` },
  'price-per-era': { type: 'string', placeholder: 'TOKENS', description: 'tokens per era, shared by the nodes that proved the order (default 0.1); eras × price is escrowed' },
}

/** Help lines; `flag`: the command places the order only with --store (the upload). */
export function storageOrderHelp(flag = false): string[] {
  return [
    `${flag ? 'With --store, the upload also places' : 'Places'} a storage order (--replication, --eras, --price-per-era): eras × price is`,
    'escrowed in the StorageMarket and the order is assigned to storage nodes of distinct operators; it fails',
    '(NotEnoughStorageNodes) when fewer such nodes have room, and the dataset stays as it was.',
    ...(flag ? ['Off by default: a network without storage nodes (a bare `w3a up`) could not place it; `w3a dataset store ID` does it later.'] : []),
  ]
}

function positiveInt(raw: string | boolean | undefined, flag: string): number | undefined {
  if (raw === undefined) return undefined
  const n = Number(raw)
  if (typeof raw !== 'string' || !Number.isInteger(n) || n < 1) throw new W3aError('INVALID_ARGUMENT', `${flag} must be a positive integer, got "${String(raw)}"`)
  return n
}

/** Places the order when `--store` is given (or `always`); undefined otherwise. */
export async function storeFromOptions(
  client: W3aClient,
  values: CommandContext['values'],
  dataset: { id: Hex; manifestCid?: string; sizeBytes?: bigint },
  out: Output,
  always = false,
): Promise<StoreDatasetReturnType | undefined> {
  const replication = positiveInt(values['replication'], '--replication')
  const eras = positiveInt(values['eras'], '--eras')
  const pricePerEra = await tokenOption(client, values['price-per-era'], '--price-per-era')
  if (!always && values['store'] !== true) {
    if (replication !== undefined || eras !== undefined || pricePerEra !== undefined) {
      throw new W3aError('INVALID_ARGUMENT', '--replication, --eras and --price-per-era describe a storage order: add --store')
    }
    return undefined
  }
  out.progress('placing the storage order...')
  return storeDataset(client, {
    ...dataset,
    ...(replication === undefined ? {} : { replication }),
    ...(eras === undefined ? {} : { eras }),
    ...(pricePerEra === undefined ? {} : { pricePerEra }),
  })
}
