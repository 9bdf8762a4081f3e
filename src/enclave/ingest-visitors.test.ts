import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { VisitorBook } from './ingest-visitors.js'

const SITE = '0x' + 'ab'.repeat(32)
const UA = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36'
const DAY = 24 * 60 * 60 * 1000
const t0 = Date.UTC(2025, 0, 1, 12)

describe('visitor ids', () => {
  it('are one per site, IP and user agent under a salt, remembered ones included', () => {
    const book = new VisitorBook<unknown>()
    const a = book.visitor(SITE, '203.0.113.9', UA, t0)
    assert.match(a.id, /^[0-9a-f]{32}$/)
    assert.deepEqual(book.visitor(SITE, '203.0.113.9', UA, t0 + 1000), a, 'the same visitor later that day')
    const others = [book.visitor(SITE, '203.0.113.10', UA, t0), book.visitor(SITE, '203.0.113.9', UA + ' x', t0), book.visitor('0x' + 'cd'.repeat(32), '203.0.113.9', UA, t0)]
    assert.equal(new Set([a.id, ...others.map((o) => o.id)]).size, 4, 'another IP, user agent or site is another visitor')
    // A user agent too long to be remembered still gets its one id (computed each time).
    const long = UA + ' '.repeat(400)
    assert.equal(book.visitor(SITE, '203.0.113.9', long, t0).id, book.visitor(SITE, '203.0.113.9', long, t0).id)
  })

  it('are not carried over to the next salt: a remembered id is forgotten with its salt', () => {
    const book = new VisitorBook<unknown>()
    const today = book.visitor(SITE, '203.0.113.9', UA, t0)
    const tomorrow = book.visitor(SITE, '203.0.113.9', UA, t0 + DAY)
    assert.notEqual(tomorrow.salt, today.salt)
    assert.notEqual(tomorrow.id, today.id, 'the next day the same person is another visitor')
    assert.deepEqual(book.visitor(SITE, '203.0.113.9', UA, t0 + DAY + 1000), tomorrow)
    // Two books (two starts of the enclave) never share ids.
    assert.notEqual(new VisitorBook<unknown>().visitor(SITE, '203.0.113.9', UA, t0).id, today.id)
  })
})
