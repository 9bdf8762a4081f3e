/**
 * What uploading in the page needs, in a chunk of its own loaded when the owner picks a file:
 * the CSV/Parquet reader and Parquet writer (table-file.ts), and the SDK's browser upload
 * (seal on Web Crypto, send, register, key to custody).
 */
export { readTableFile, CSV_TYPES, type TableFile, type TableColumn } from './table-file.js'
export { uploadParquet, type UploadParquetProgress } from '../sdk/actions/uploadParquet.js'
