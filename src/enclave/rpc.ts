import { W3aError } from '../core/errors.js'

/**
 * Request/response over Node's IPC channel between a worker host and its enclave process
 * (the `sim` TEE runs the enclave side in a process of its own). Only typed, named calls
 * cross it: the host can ask the enclave to do its documented jobs, never to hand out keys.
 */
export type RpcRequest = { id: number; method: string; params: unknown }
export type RpcResponse = { id: number; result?: unknown; error?: { code: string; message: string; details: string[] } }

/** Enclave side: serves the named methods to the parent process. */
export function serveEnclaveRpc(methods: Record<string, (params: any, handle?: unknown) => Promise<unknown>>): void {
  // `handle`: a connection the host hands over with the call (ingest-stream.ts), the only thing besides params.
  process.on('message', async (msg: RpcRequest, handle?: unknown) => {
    const fn = methods[msg.method]
    let response: RpcResponse
    try {
      if (!fn) throw new W3aError('INVALID_ARGUMENT', `enclave has no method ${msg.method}`)
      response = { id: msg.id, result: await fn(msg.params, handle) }
    } catch (e) {
      const err = e instanceof W3aError ? e : new W3aError('INTERNAL', (e as Error)?.message ?? String(e))
      response = { id: msg.id, error: { code: err.code, message: err.shortMessage, details: err.details } }
    }
    process.send!(response)
  })
}
