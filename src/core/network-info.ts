import { z } from 'zod'

const address = z.string().regex(/^0x[0-9a-fA-F]{40}$/, 'an EVM address') as unknown as z.ZodType<`0x${string}`>

/** What a gateway tells clients about its network: enough to verify and to send transactions. */
export const NetworkInfoSchema = z.object({
  name: z.string(),
  chainId: z.number().int().positive(),
  rpcUrl: z.string().url(),
  contracts: z.object({ token: address, datasetRegistry: address, workerRegistry: address, custodyInbox: address, market: address, jobs: address, campaigns: address, storageMarket: address }),
  /** Dev networks accept the simulated TEE; production networks never do (DESIGN §2). */
  dev: z.boolean(),
})
export type NetworkInfo = z.infer<typeof NetworkInfoSchema>
