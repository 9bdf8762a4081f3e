export * from './output-type.js'
export * from './sandbox.js'
export * from './unit-gate.js'
export * from './run-function.js'
