import { erc20Abi, type Address, type Hash } from 'viem'
import type { WriteClients } from './clients.js'
import { TxRevertedError, toChainError } from './errors.js'
import { rpcUrlOf } from './write.js'
import { approveToken } from './actions/approveToken.js'

export type SimulateWithApproveParameters<simulation> = {
  /** The ERC-20 the spender pulls, or how to read it (read only when an approval is needed). */
  token: Address | (() => Promise<Address>)
  /** The contract that checks the allowance (market, jobs, registry). */
  spender: Address
  /** Allowance to approve; default the `needed` argument of the InsufficientAllowance revert. */
  amount?: bigint
  /** Default true; false leaves the InsufficientAllowance revert to the caller. */
  autoApprove?: boolean | undefined
  /** The simulation of the write that pulls the tokens (run again after the approval). */
  simulate: () => Promise<simulation>
}

export type SimulateWithApproveReturnType<simulation> = {
  simulation: simulation
  /** The approval transaction, when one was needed. */
  approveHash?: Hash
}

/**
 * Simulates a write that pulls tokens; when it reverts with InsufficientAllowance(allowance,
 * needed), approves `spender` and simulates again. The W3A contracts check the allowance after
 * every other condition, so a write that would fail for another reason sends no approval.
 */
export async function simulateWithApprove<simulation>(
  clients: WriteClients,
  params: SimulateWithApproveParameters<simulation>,
): Promise<SimulateWithApproveReturnType<simulation>> {
  const { publicClient, walletClient } = clients
  try {
    return { simulation: await params.simulate() }
  } catch (e) {
    const err = toChainError(e, { rpcUrl: rpcUrlOf(publicClient) })
    if (!(err instanceof TxRevertedError && err.errorName === 'InsufficientAllowance' && params.autoApprove !== false)) throw err
    const needed = params.amount ?? err.errorArgs[1]
    if (typeof needed !== 'bigint') throw err
    const token = typeof params.token === 'function' ? await params.token() : params.token
    const allowance = await publicClient.readContract({
      address: token,
      abi: erc20Abi,
      functionName: 'allowance',
      args: [walletClient.account.address, params.spender],
    })
    // Already approved enough: the revert is not about the allowance we can fix.
    if (allowance >= needed) throw err
    const approveHash = (await approveToken(clients, { token, spender: params.spender, amount: needed })).hash
    return { simulation: await params.simulate(), approveHash }
  }
}
