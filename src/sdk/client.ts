import type { LocalAccount } from 'viem'
import { NetworkInfoSchema, type NetworkInfo } from '../core/network-info.js'
import { W3aError } from '../core/errors.js'
import { createGatewayClient, type GatewayClient } from './gateway-client.js'
import { checkPinnedNetwork, type PinnedNetwork } from '../core/network-pin.js'

/** What every SDK action takes: a gateway, and the account it acts for (when it acts for one). */
export type W3aClient = {
  gateway: GatewayClient
  account: LocalAccount | undefined
  /** The network description, fetched once from the gateway. */
  network(): Promise<NetworkInfo>
}

export type CreateW3aClientParameters = {
  gatewayUrl: string
  account?: LocalAccount
  /**
   * The network this client trusts (network-pin.ts). With it, the gateway's description is
   * checked against the pin, and the contracts' code on chain, before first use; without it
   * the client takes the gateway's word (tests, or a gateway the user runs).
   */
  network?: PinnedNetwork
}

export function createW3aClient(params: CreateW3aClientParameters): W3aClient {
  const gateway = createGatewayClient({ url: params.gatewayUrl })
  const pin = params.network
  let network: Promise<NetworkInfo> | undefined
  return {
    gateway,
    account: params.account,
    network() {
      network ??= gateway.getJson<unknown>('/api/v1/network').then((raw) => {
        const parsed = NetworkInfoSchema.safeParse(raw)
        if (!parsed.success) {
          const issue = parsed.error.issues[0]
          throw new W3aError('GATEWAY_ERROR', `gateway at ${gateway.url} sent a malformed network description${issue ? ` (${issue.path.join('.') || 'top level'}: ${issue.message})` : ''}`)
        }
        return pin ? checkPinnedNetwork({ pin, info: parsed.data, gatewayUrl: gateway.url }) : parsed.data
      })
      network.catch(() => (network = undefined)) // retry after a failure
      return network
    },
  }
}

export function requireAccount(client: W3aClient, action: string): LocalAccount {
  if (!client.account) {
    throw new W3aError('ACCOUNT_MISSING', `${action} acts for an account, and none was given`, {
      details: ['Pass --account N (a dev account index) or set W3A_PRIVATE_KEY.'],
    })
  }
  return client.account
}
