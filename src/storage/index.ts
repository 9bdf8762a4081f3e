/** Storage: IPFS blocks, UnixFS, CAR, the trustless gateway, peer fetch, manifests, tables. */
export { openBlockstore, createMemoryBlockstore, readBlock, isNotFound } from './blockstore.js'
export { collectBytes } from './block-read.js'
export { verifyBlock, MAX_BLOCK_BYTES } from './verify-block.js'
export { importBytes, exportBytes, collectDagCids, UNIXFS_CHUNK_SIZE, UNIXFS_MAX_LINKS } from './unixfs.js'
export { walkDag, blockLinks, type Block, type DagScope } from './dag-walk.js'
export { dagKeys, dropDag, blockKey, type DropDagReturnType } from './drop-dag.js'
export { exportCar, importCar, carHeader, DEFAULT_MAX_CAR_BYTES, type ImportCarOptions } from './car.js'
export { readCarFile, type ReadCarFileOptions } from './car-file.js'
export { createTrustlessGateway, type GatewayHandler } from './trustless-gateway.js'
export { withPeerFetch, type PeerFetchOptions } from './peer-fetch.js'
export {
  encodeManifest,
  decodeManifest,
  putManifest,
  getManifest,
  schemaHash,
  MAX_MANIFEST_BYTES,
  type DatasetManifest,
  type TableSchema,
  type ColumnSchema,
  type Hex32,
} from './manifest.js'
export {
  inspectTable,
  checkPrivacyUnit,
  writeParquetSegments,
  writeTable,
  type TableFormat,
  type Column,
  type TableInfo,
  type ColumnTypes,
} from './table.js'
export { COLUMN_TYPES, parseColumnTypes, type ColumnType } from './column-types.js'
export { badValuesText, type BadValues } from './suspect-columns.js'
export type { Blockstore } from 'interface-blockstore'
export { POOL_UNIT_COLUMN, POOL_COLUMN_TYPES, encodePoolDescriptor, decodePoolDescriptor, parsePoolDescriptor, parsePoolSchema, type PoolDescriptor } from './pool-descriptor.js'
