import type { W3aClient } from '../client.js'

export type GetStatusReturnType = {
  network: string
  chain: { chainId: number; rpcUrl: string; blockNumber: string | null; reachable: boolean }
  contracts: Record<string, string>
  gateway: { uptimeSeconds: number }
  storage: { node: string; trustlessGateway: string }
}

export async function getStatus(client: W3aClient): Promise<GetStatusReturnType> {
  return client.gateway.getJson<GetStatusReturnType>('/api/v1/status')
}
