import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { bytesToHex } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { isW3aError } from '../core/errors.js'
import { CHAIN_ID, INBOX, testBytes } from './fixture.test.js'
import { receiptFromJson, receiptToJson, signReceipt, verifyReceipt, type CustodyReceipt } from './receipt.js'

const keeper = privateKeyToAccount(bytesToHex(testBytes('keeper')))
const other = privateKeyToAccount(bytesToHex(testBytes('other')))
const body: CustodyReceipt = {
  chainId: CHAIN_ID,
  inbox: INBOX,
  index: 7n,
  commandHash: `0x${'aa'.repeat(32)}`,
  status: 'applied',
  datasetId: `0x${'bb'.repeat(32)}`,
  type: 'Delete',
  epoch: 3n,
  stateRoot: `0x${'cc'.repeat(32)}`,
  unrecoverableAfterEpoch: 1n,
}

const rejects = (p: Promise<unknown>) => assert.rejects(p, (e: unknown) => isW3aError(e, 'SIGNATURE_INVALID'))

describe('custody receipts', () => {
  it('verify for the signing keeper only', async () => {
    const r = await signReceipt(body, keeper)
    assert.equal(r.keeper, keeper.address)
    assert.deepEqual(await verifyReceipt(r, keeper.address), r)
    await rejects(verifyReceipt(r, other.address))
    await rejects(verifyReceipt({ ...r, keeper: other.address }, other.address))
  })

  it('every field is covered by the signature', async () => {
    const r = await signReceipt(body, keeper)
    const tampered = [
      { chainId: 1 },
      { inbox: '0x0000000000000000000000000000000000000001' },
      { index: 8n },
      { commandHash: `0x${'ab'.repeat(32)}` },
      { status: 'refused' },
      { reason: 'not-owner' },
      { datasetId: `0x${'bc'.repeat(32)}` },
      { datasetId: undefined },
      { type: 'Grant' },
      { epoch: 4n },
      { stateRoot: `0x${'cd'.repeat(32)}` },
      { unrecoverableAfterEpoch: 2n },
      { unrecoverableAfterEpoch: undefined },
    ]
    for (const t of tampered) await rejects(verifyReceipt({ ...r, ...t } as typeof r, keeper.address))
  })

  it('the JSON form round-trips and verifies as JSON', async () => {
    const r = await signReceipt({ ...body, status: 'refused', reason: 'expired', unrecoverableAfterEpoch: undefined } as CustodyReceipt, keeper)
    const json = JSON.parse(JSON.stringify(receiptToJson(r)))
    assert.equal(json.index, '7')
    const back = await verifyReceipt(json, keeper.address)
    assert.equal(back.index, 7n)
    assert.deepEqual(receiptFromJson(json), back)
    assert.throws(() => receiptFromJson({ ...json, reason: 'made-up' }), (e: unknown) => isW3aError(e, 'CUSTODY_MALFORMED'))
  })
})
