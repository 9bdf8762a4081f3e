import { http, type HttpTransport } from 'viem'

/**
 * The HTTP transport every chain client of W3A uses (chain/clients.ts, network-pin.ts). One retry
 * only: an unreachable RPC should fail fast with CHAIN_UNREACHABLE, not after ~10 s. Portable, and
 * small on purpose: the dashboard's first screen bundles it.
 */
export function rpcTransport(rpcUrl: string, timeout = 10_000): HttpTransport {
  return http(rpcUrl, { retryCount: 1, retryDelay: 100, timeout })
}
