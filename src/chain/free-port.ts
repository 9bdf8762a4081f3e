import { createServer } from 'node:net'

/**
 * Asks the OS for a free TCP port by binding port 0 and closing again. Another process can
 * take the port before it is reused, so callers that bind it later should retry on EADDRINUSE
 * (`startAnvil` does).
 */
export function getFreePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.unref()
    server.once('error', reject)
    server.listen({ port: 0, host, exclusive: true }, () => {
      const address = server.address()
      const port = typeof address === 'object' && address !== null ? address.port : 0
      server.close((err) => (err ? reject(err) : port > 0 ? resolve(port) : reject(new Error('no port assigned'))))
    })
  })
}
