/**
 * The reads the first screen needs (the market's listings), in a chunk of their own: a
 * newcomer's first load does not wait for the write path (HPKE, custody, the result checks),
 * which loads with sdk.ts once an account is picked or another view opened.
 */
export { createW3aClient } from '../sdk/client.js'
export { listMarket } from '../sdk/actions/market/listMarket.js'
