/**
 * The network a client trusts, fixed the first time it is configured (`w3a network add`, or
 * `w3a up` for its own devnet): chain id, every contract address and the hash of each
 * contract's deployed code. A gateway only relays; it does not get to say which registry an
 * owner registers with or which keepers get a dataset key. Before first use the client
 * compares the gateway's network description with the pin and checks the contracts' code on
 * chain; any difference stops it (NETWORK_MISMATCH, naming the field).
 *
 * Portable (viem only): the browser entry takes the same pins.
 */
import { createClient, keccak256, type Hex } from 'viem'
import { getChainId, getCode } from 'viem/actions'
import { W3aError } from './errors.js'
import { rpcTransport } from './rpc-transport.js'
import type { NetworkInfo } from './network-info.js'

export type ContractName = keyof NetworkInfo['contracts']

export const CONTRACT_NAMES: readonly ContractName[] = ['token', 'datasetRegistry', 'workerRegistry', 'custodyInbox', 'market', 'jobs']

export type PinnedNetwork = {
  name: string
  chainId: number
  contracts: NetworkInfo['contracts']
  /** keccak256 of each contract's runtime code (`eth_getCode`) when pinned. */
  codeHashes: Record<ContractName, Hex>
  /** Whether the network accepts the simulated TEE and public dev keys. */
  dev: boolean
  /** The gateway it was pinned from (the CLI finds a pin by it). */
  gatewayUrl: string
  /** A chain RPC of the user's own choosing; default: the gateway's, checked against the pin. */
  rpcUrl?: string
  pinnedAt: string
}

/** The RPC a pinned client sends to: the pin's own, else the one the gateway names. */
function rpcOf(pin: Pick<PinnedNetwork, 'rpcUrl'> | undefined, info: NetworkInfo): string {
  return pin?.rpcUrl ?? info.rpcUrl
}

async function readChain(rpcUrl: string, contracts: NetworkInfo['contracts']): Promise<{ chainId: number; codeHashes: Record<ContractName, Hex> }> {
  // A bare client and the two actions it needs (not a public client): the dashboard's first screen bundles this.
  const client = createClient({ transport: rpcTransport(rpcUrl) })
  try {
    const [chainId, ...codes] = await Promise.all([getChainId(client), ...CONTRACT_NAMES.map((n) => getCode(client, { address: contracts[n] }))])
    const codeHashes = Object.fromEntries(CONTRACT_NAMES.map((n, i) => [n, keccak256(codes[i] ?? '0x')])) as Record<ContractName, Hex>
    return { chainId, codeHashes }
  } catch (cause) {
    throw new W3aError('CHAIN_UNREACHABLE', `the chain RPC at ${rpcUrl} does not answer`, { cause })
  }
}

const EMPTY_CODE_HASH = keccak256('0x')

/**
 * Pins what a gateway describes now, after reading the chain: every contract must have code.
 * Trust on first use: check the printed chain id and addresses against the network's own
 * published values (or pass `rpcUrl`, a chain node you trust).
 */
export async function pinNetwork(params: { name: string; gatewayUrl: string; info: NetworkInfo; rpcUrl?: string; now?: Date }): Promise<PinnedNetwork> {
  const { info } = params
  const rpcUrl = rpcOf(params.rpcUrl ? { rpcUrl: params.rpcUrl } : undefined, info)
  const chain = await readChain(rpcUrl, info.contracts)
  if (chain.chainId !== info.chainId) {
    throw mismatch(params.name, params.gatewayUrl, 'chainId', String(info.chainId), `the chain at ${rpcUrl} is chain ${chain.chainId}`)
  }
  const empty = CONTRACT_NAMES.filter((n) => chain.codeHashes[n] === EMPTY_CODE_HASH)
  if (empty.length > 0) {
    throw new W3aError('CONTRACTS_NOT_DEPLOYED', `the gateway at ${params.gatewayUrl} names contracts with no code on chain ${chain.chainId}: ${empty.join(', ')}`, {
      details: ['Nothing was pinned. Check the gateway URL (and --rpc).'],
    })
  }
  return {
    name: params.name,
    chainId: info.chainId,
    contracts: { ...info.contracts },
    codeHashes: chain.codeHashes,
    dev: info.dev,
    gatewayUrl: params.gatewayUrl.replace(/\/+$/, ''),
    ...(params.rpcUrl ? { rpcUrl: params.rpcUrl } : {}),
    pinnedAt: (params.now ?? new Date()).toISOString(),
  }
}

function mismatch(name: string, gatewayUrl: string, field: string, pinned: string, got: string): W3aError {
  return new W3aError('NETWORK_MISMATCH', `the gateway at ${gatewayUrl} does not serve pinned network "${name}": ${field} is ${pinned} in the pin, but ${got}`, {
    details: [
      'Nothing was sent. A gateway that names another chain or other contracts could send your keys to keepers of its choosing.',
      `If the network was really redeployed, pin it again: w3a network remove ${name} && w3a network add ${name} --gateway ${gatewayUrl}`,
      'Otherwise use another gateway.',
    ],
  })
}

/**
 * The network description a pinned client uses: the gateway's, after checking that it names
 * the pinned chain, contracts and dev flag, and that the chain holds the pinned code at those
 * addresses. The RPC is the pin's own when it has one.
 */
export async function checkPinnedNetwork(params: { pin: PinnedNetwork; info: NetworkInfo; gatewayUrl: string }): Promise<NetworkInfo> {
  const { pin, info, gatewayUrl } = params
  const fail = (field: string, pinned: string, got: string) => mismatch(pin.name, gatewayUrl, field, pinned, got)
  if (info.chainId !== pin.chainId) throw fail('chainId', String(pin.chainId), `the gateway says ${info.chainId}`)
  for (const n of CONTRACT_NAMES) {
    if (info.contracts[n].toLowerCase() !== pin.contracts[n].toLowerCase()) {
      throw fail(`contracts.${n}`, pin.contracts[n], `the gateway says ${info.contracts[n]}`)
    }
  }
  if (info.dev !== pin.dev) throw fail('dev', String(pin.dev), `the gateway says ${info.dev}`)
  const rpcUrl = rpcOf(pin, info)
  const chain = await readChain(rpcUrl, pin.contracts)
  if (chain.chainId !== pin.chainId) throw fail('chainId', String(pin.chainId), `the chain RPC at ${rpcUrl} is chain ${chain.chainId}`)
  for (const n of CONTRACT_NAMES) {
    if (chain.codeHashes[n] !== pin.codeHashes[n]) {
      throw fail(`code of contracts.${n}`, pin.codeHashes[n], `the code at ${pin.contracts[n]} on ${rpcUrl} hashes to ${chain.codeHashes[n]}`)
    }
  }
  return { ...info, rpcUrl, contracts: { ...pin.contracts } }
}
