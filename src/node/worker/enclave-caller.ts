import type { ChildProcess } from 'node:child_process'
import type { Socket } from 'node:net'
import { W3aError, type W3aErrorCode } from '../../core/errors.js'
import type { RpcRequest, RpcResponse } from '../../enclave/rpc.js'

/**
 * The host's handle on its enclave process: named calls only (src/enclave/rpc.ts is the other end).
 * `connection`: a socket handed over with the call (the gateway's ingest stream), no longer the host's.
 */
export type EnclaveCaller = { call<T>(method: string, params?: unknown, connection?: Socket): Promise<T>; close(): void }

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
    call<T>(method: string, params?: unknown, connection?: Socket) {
      return new Promise<T>((resolve, reject) => {
        const id = nextId++
        pending.set(id, { resolve: resolve as (v: unknown) => void, reject })
        const request = { id, method, params } satisfies RpcRequest
        if (connection) child.send(request, connection)
        else child.send(request)
      })
    },
    close() {
      child.disconnect()
    },
  }
}
