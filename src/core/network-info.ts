// zod's mini build (same package): the dashboard's first screen parses this, and zod/mini's
// functions tree-shake where the classic chainable API bundles whole.
import * as z from 'zod/mini'

const address = z.string().check(z.regex(/^0x[0-9a-fA-F]{40}$/, 'an EVM address')) as unknown as z.ZodMiniType<`0x${string}`>

/** What a gateway tells clients about its network: enough to verify and to send transactions. */
export const NetworkInfoSchema = z.object({
  name: z.string(),
  chainId: z.int().check(z.positive()),
  // http(s) only: a gateway naming a javascript: or file: URL is refused, not handed to fetch or a wallet.
  rpcUrl: z.url({ protocol: /^https?$/ }),
  contracts: z.object({ token: address, datasetRegistry: address, workerRegistry: address, custodyInbox: address, market: address, jobs: address, campaigns: address, storageMarket: address }),
  /** Dev networks accept the simulated TEE; production networks never do (DESIGN §2). */
  dev: z.boolean(),
})
export type NetworkInfo = z.infer<typeof NetworkInfoSchema>
