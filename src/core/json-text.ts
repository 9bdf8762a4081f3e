/** JSON with bigint as decimal strings (token amounts exceed 2^53) and byte arrays as 0x hex. */
export function toJsonText(value: unknown, indent?: number): string {
  return JSON.stringify(value, (_k, v) => (typeof v === 'bigint' ? v.toString() : v instanceof Uint8Array ? '0x' + Buffer.from(v).toString('hex') : v), indent)
}
