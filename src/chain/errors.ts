import {
  BaseError,
  ContractFunctionExecutionError,
  ContractFunctionRevertedError,
  ContractFunctionZeroDataError,
  HttpRequestError,
  InsufficientFundsError,
  TimeoutError,
  type Hex,
} from 'viem'
import { W3aError, isW3aError } from '../core/errors.js'

/**
 * TX_REVERTED with the decoded revert, so callers can match on `errorName` (e.g. 'DatasetExists')
 * instead of parsing the message.
 */
export class TxRevertedError extends W3aError {
  /** Solidity custom error name ('NotDatasetOwner'), 'Error' for require strings, 'Panic', or undefined. */
  readonly errorName: string | undefined
  readonly errorArgs: readonly unknown[]
  /** Revert reason string (require/revert("...") or the panic description). */
  readonly reason: string | undefined
  readonly functionName: string | undefined
  readonly contractAddress: Hex | undefined
  /** Set when the transaction was mined and reverted on chain (not caught by simulation). */
  readonly transactionHash: Hex | undefined

  constructor(p: {
    errorName?: string | undefined
    errorArgs?: readonly unknown[] | undefined
    reason?: string | undefined
    signature?: Hex | undefined
    functionName?: string | undefined
    contractAddress?: Hex | undefined
    transactionHash?: Hex | undefined
    cause?: unknown
  }) {
    const args = p.errorArgs ?? []
    const what =
      p.errorName === undefined
        ? p.reason !== undefined
          ? `"${p.reason}"`
          : p.signature !== undefined
            ? `unknown custom error ${p.signature}`
            : 'no reason given'
        : p.errorName === 'Error'
          ? `"${p.reason ?? ''}"`
          : p.errorName === 'Panic'
            ? `Panic (${p.reason ?? 'unknown panic code'})`
            : p.errorName
    const where = p.functionName !== undefined ? `${p.functionName}()` : p.transactionHash !== undefined ? `transaction ${p.transactionHash}` : 'transaction'
    const details: string[] = []
    if (p.errorName !== undefined && p.errorName !== 'Error' && p.errorName !== 'Panic') {
      details.push(`error: ${p.errorName}(${args.map(formatArg).join(', ')})`)
    }
    if (p.contractAddress !== undefined) details.push(`contract: ${p.contractAddress}`)
    if (p.transactionHash !== undefined) details.push(`transaction: ${p.transactionHash}`)
    super('TX_REVERTED', `${where} reverted: ${what}`, { details, cause: p.cause })
    this.errorName = p.errorName
    this.errorArgs = args
    this.reason = p.reason
    this.functionName = p.functionName
    this.contractAddress = p.contractAddress
    this.transactionHash = p.transactionHash
  }
}

export type ToChainErrorContext = {
  /** Named in CHAIN_UNREACHABLE when the error itself does not carry the URL. */
  rpcUrl?: string | undefined
}

const UNREACHABLE = /fetch failed|ECONNREFUSED|ECONNRESET|ENOTFOUND|EAI_AGAIN|EHOSTUNREACH|ETIMEDOUT|socket hang up|other side closed/i

/**
 * Maps anything thrown by viem (or fetch) to a W3aError with a stable code:
 * unreachable RPC → CHAIN_UNREACHABLE, revert → TX_REVERTED (naming the custom error),
 * call to an address without code → CONTRACTS_NOT_DEPLOYED, other chain failures → CHAIN_ERROR.
 * W3aErrors pass through unchanged.
 */
export function toChainError(e: unknown, context: ToChainErrorContext = {}): W3aError {
  if (isW3aError(e)) return e

  if (e instanceof BaseError) {
    const exec = e.walk((x) => x instanceof ContractFunctionExecutionError) as ContractFunctionExecutionError | null
    const revert = e.walk((x) => x instanceof ContractFunctionRevertedError)
    if (revert instanceof ContractFunctionRevertedError) {
      return new TxRevertedError({
        errorName: revert.data?.errorName,
        errorArgs: revert.data?.args,
        reason: revert.reason,
        signature: revert.signature,
        functionName: exec?.functionName,
        contractAddress: exec?.contractAddress,
        cause: e,
      })
    }

    if (e.walk((x) => x instanceof ContractFunctionZeroDataError) instanceof ContractFunctionZeroDataError) {
      const at = exec?.contractAddress ?? 'the configured address'
      return new W3aError('CONTRACTS_NOT_DEPLOYED', `no contract at ${at} answered ${exec?.functionName ?? 'the call'}()`, {
        details: ['the W3A contracts are not deployed on this chain, or the deployment addresses belong to another chain'],
        cause: e,
      })
    }

    const http = e.walk((x) => x instanceof HttpRequestError)
    const timeout = e.walk((x) => x instanceof TimeoutError)
    if (http instanceof HttpRequestError || timeout instanceof TimeoutError || UNREACHABLE.test(fullMessage(e))) {
      // Prefer the caller's spelling of the URL; viem's is normalised (trailing slash).
      const url = context.rpcUrl ?? (http instanceof HttpRequestError ? http.url : timeout instanceof TimeoutError ? timeoutUrl(timeout) : undefined)
      return unreachable(url, http instanceof HttpRequestError && http.status !== undefined ? `HTTP ${http.status}` : e.shortMessage, e)
    }

    if (e.walk((x) => x instanceof InsufficientFundsError) instanceof InsufficientFundsError) {
      return new W3aError('CHAIN_ERROR', 'the sending account has not enough native currency (ETH) to pay for gas', {
        details: [e.shortMessage],
        cause: e,
      })
    }
    return new W3aError('CHAIN_ERROR', e.shortMessage, { details: e.details ? [e.details] : [], cause: e })
  }

  if (UNREACHABLE.test(fullMessage(e))) return unreachable(context.rpcUrl, fullMessage(e), e)
  return new W3aError('INTERNAL', e instanceof Error ? e.message : String(e), { cause: e })
}

function unreachable(url: string | undefined, detail: string, cause: unknown): W3aError {
  return new W3aError('CHAIN_UNREACHABLE', `chain RPC at ${url ?? '(unknown URL)'} is not reachable; is \`w3a up\` running?`, {
    details: [detail],
    cause,
  })
}

function timeoutUrl(e: TimeoutError): string | undefined {
  // TimeoutError has no url field; viem puts "URL: ..." in its meta lines.
  return /URL: (\S+)/.exec(e.message)?.[1]
}

/** Message of an error and its causes, for errors thrown below viem (Node's fetch, sockets). */
function fullMessage(e: unknown): string {
  const parts: string[] = []
  let cur: unknown = e
  for (let i = 0; i < 8 && cur !== undefined && cur !== null; i++) {
    if (cur instanceof Error) {
      parts.push(cur.message)
      const code = (cur as { code?: unknown }).code
      if (typeof code === 'string') parts.push(code)
      cur = cur.cause
    } else {
      parts.push(String(cur))
      break
    }
  }
  return parts.join(' | ')
}

function formatArg(v: unknown): string {
  if (typeof v === 'bigint') return v.toString()
  if (typeof v === 'string') return v
  try {
    return JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? x.toString() : x))
  } catch {
    return String(v)
  }
}

/** Runs `fn` and rethrows whatever it throws as a W3aError (see toChainError). */
export async function withChainErrors<T>(fn: () => Promise<T>, context: ToChainErrorContext = {}): Promise<T> {
  try {
    return await fn()
  } catch (e) {
    throw toChainError(e, context)
  }
}
