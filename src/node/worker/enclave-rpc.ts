import type { ChildProcess } from 'node:child_process'
import { W3aError, type W3aErrorCode } from '../../core/errors.js'

/**
 * Request/response over Node's IPC channel between a worker host and its enclave process
 * (the `sim` TEE runs the enclave side in a process of its own). Only typed, named calls
 * cross it: the host can ask the enclave to do its documented jobs, never to hand out keys.
 */
export type RpcRequest = { id: number; method: string; params: unknown }
export type RpcResponse = { id: number; result?: unknown; error?: { code: string; message: string; details: string[] } }

export type EnclaveCaller = { call<T>(method: string, params?: unknown): Promise<T>; close(): void }

/** Host side: calls methods on the enclave child. */
export function createEnclaveCaller(child: ChildProcess): EnclaveCaller {
  let nextId = 1
  const pending = new Map<number, { resolve(v: unknown): void; reject(e: unknown): void }>()
  child.on('message', (msg: RpcResponse) => {
    const p = pending.get(msg.id)
    if (!p) return
    pending.delete(msg.id)
    if (msg.error) p.reject(new W3aError(msg.error.code as W3aErrorCode, msg.error.message, { details: msg.error.details }))
    else p.resolve(msg.result)
  })
  child.on('exit', (code) => {
    for (const p of pending.values()) p.reject(new W3aError('INTERNAL', `enclave process exited (${code})`))
    pending.clear()
  })
  return {
    call<T>(method: string, params?: unknown) {
      return new Promise<T>((resolve, reject) => {
        const id = nextId++
        pending.set(id, { resolve: resolve as (v: unknown) => void, reject })
        child.send({ id, method, params } satisfies RpcRequest)
      })
    },
    close() {
      child.disconnect()
    },
  }
}

/** Enclave side: serves the named methods to the parent process. */
export function serveEnclaveRpc(methods: Record<string, (params: any) => Promise<unknown>>): void {
  process.on('message', async (msg: RpcRequest) => {
    const fn = methods[msg.method]
    let response: RpcResponse
    try {
      if (!fn) throw new W3aError('INVALID_ARGUMENT', `enclave has no method ${msg.method}`)
      response = { id: msg.id, result: await fn(msg.params) }
    } catch (e) {
      const err = e instanceof W3aError ? e : new W3aError('INTERNAL', (e as Error)?.message ?? String(e))
      response = { id: msg.id, error: { code: err.code, message: err.shortMessage, details: err.details } }
    }
    process.send!(response)
  })
}
