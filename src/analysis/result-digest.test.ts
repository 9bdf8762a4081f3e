import assert from 'node:assert/strict'
import { test } from 'node:test'
import { encodeAbiParameters, keccak256 } from 'viem'
import { analysisHash, canonicalOutput, inputCidsHash, outputHash, privacyParamsHash, resultDigest } from './result-digest.js'

test('result digest = keccak256(abi.encode(jobId, cidsHash, analysisHash, outputHash, privacyHash))', () => {
  const output = { columns: [{ name: 'n', type: 'BIGINT' }], rows: [[12n], [null]] }
  assert.equal(canonicalOutput(output), '{"columns":[{"name":"n","type":"BIGINT"}],"rows":[["12"],[null]]}')
  const privacy = { k: 10, epsilon: 1, mechanism: 'discrete-laplace' }
  const d = resultDigest({ jobId: 7n, inputCids: ['bafyA', 'bafyB'], sql: 'SELECT count(*) FROM data', output, privacy })
  const manual = keccak256(
    encodeAbiParameters(
      [{ type: 'uint256' }, { type: 'bytes32' }, { type: 'bytes32' }, { type: 'bytes32' }, { type: 'bytes32' }],
      [7n, inputCidsHash(['bafyA', 'bafyB']), analysisHash('SELECT count(*) FROM data'), outputHash(output), privacyParamsHash({ mechanism: 'discrete-laplace', epsilon: 1, k: 10 })],
    ),
  )
  assert.equal(d, manual)
  assert.notEqual(d, resultDigest({ jobId: 8n, inputCids: ['bafyA', 'bafyB'], sql: 'SELECT count(*) FROM data', output, privacy }))
  assert.throws(() => canonicalOutput({ columns: [], rows: [[Number.NaN]] }))
})
