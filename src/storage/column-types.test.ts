import assert from 'node:assert/strict'
import { test } from 'node:test'
import { isW3aError } from '../core/errors.js'
import { parseColumnTypes } from './column-types.js'

test('parseColumnTypes reads COL:TYPE lists and refuses unknown types and repeats', () => {
  assert.deepEqual(parseColumnTypes('amount:double, day : DATE,user id:VARCHAR'), { amount: 'DOUBLE', day: 'DATE', 'user id': 'VARCHAR' })
  for (const bad of ['amount', 'amount:FLOAT', 'amount:DOUBLE,AMOUNT:BIGINT', ':DATE']) assert.throws(() => parseColumnTypes(bad), (e) => isW3aError(e, 'INVALID_ARGUMENT'), bad)
})
