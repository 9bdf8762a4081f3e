import { test } from 'node:test'
import assert from 'node:assert/strict'
import { toCsv } from './csv.js'

test('CSV: quotes what needs quoting, and a text cell a spreadsheet would run as a formula is written as text', () => {
  const csv = toCsv(['page', 'visitors'], [
    ['/a,b', 12],
    ['say "hi"', -3],
    ['=HYPERLINK("http://evil.example","x")', 10],
    ['+1', 10n],
    ['-cmd', null],
    ['@SUM(A1)', 1.5],
    ['\tx', 0],
  ])
  assert.equal(
    csv,
    ['page,visitors', '"/a,b",12', '"say ""hi""",-3', `"'=HYPERLINK(""http://evil.example"",""x"")",10`, "'+1,10", "'-cmd,", "'@SUM(A1),1.5", "'\tx,0", ''].join('\r\n'),
  )
})
