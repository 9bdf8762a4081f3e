import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { isW3aError } from '../core/errors.js'
import { enrich } from './ingest-enrich.js'

const CHROME = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36'
const FIREFOX = 'Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0'

describe('ingest enrichment, remembered by page', () => {
  it('labels a page the same when remembered, per referrer, with each event its own device and browser', () => {
    const url = 'https://www.shop.example/p/1?utm_source=news&utm_campaign=winter'
    const first = enrich({ url, referrer: 'https://www.google.com/', userAgent: CHROME, width: 1280 })
    assert.deepEqual(first, { hostname: 'shop.example', page: '/p/1', source: 'news', channel: 'Referral', utmSource: 'news', utmMedium: '', utmCampaign: 'winter', utmContent: '', utmTerm: '', device: 'Laptop', browser: 'Chrome', os: 'GNU/Linux' })
    assert.deepEqual(enrich({ url, referrer: 'https://www.google.com/', userAgent: CHROME, width: 1280 }), first)
    // Same page, other referrer: its own source (a cache by URL alone would say google.com).
    const plain = 'https://shop.example/p/2'
    assert.equal(enrich({ url: plain, referrer: 'https://www.google.com/', userAgent: CHROME }).source, 'google.com')
    assert.equal(enrich({ url: plain, referrer: null, userAgent: CHROME }).source, 'Direct / None')
    assert.equal(enrich({ url: plain, referrer: undefined, userAgent: CHROME }).channel, 'Direct')
    // Same page, another visitor's screen and browser.
    const mobile = enrich({ url, referrer: 'https://www.google.com/', userAgent: FIREFOX, width: 400 })
    assert.deepEqual([mobile.device, mobile.browser, mobile.page], ['Mobile', 'Firefox', '/p/1'])
    assert.equal(enrich({ url, referrer: 'https://www.google.com/', userAgent: CHROME, width: 1500 }).device, 'Desktop')
  })

  it('keeps pages and referrers apart in what it remembers: one event cannot pass its labels to another', () => {
    // Joined with a separator, this URL without a referrer and the next URL with one were one key.
    const crafted = enrich({ url: 'https://shop.example/x\u0000https://evil.example/', referrer: null, userAgent: CHROME })
    assert.equal(crafted.source, 'Direct / None')
    const real = enrich({ url: 'https://shop.example/x', referrer: 'https://evil.example/', userAgent: CHROME })
    assert.deepEqual([real.page, real.source, real.channel], ['/x', 'evil.example', 'Referral'])
    // Nor is a string that is no URL ever taken for a remembered one.
    assert.throws(() => enrich({ url: `${'https://shop.example/x'.length}:https://shop.example/xhttps://evil.example/`, referrer: null, userAgent: CHROME }), (e) => isW3aError(e, 'INPUT_MALFORMED'))
  })

  it('labels a page too long to remember the same each time, and refuses a non-URL each time', () => {
    const long = `https://shop.example/${'x'.repeat(700)}?utm_medium=email`
    const a = enrich({ url: long, referrer: null, userAgent: CHROME })
    assert.deepEqual(enrich({ url: long, referrer: null, userAgent: CHROME }), a)
    assert.deepEqual([a.page.length, a.channel], [500, 'Email'])
    for (let i = 0; i < 2; i++) assert.throws(() => enrich({ url: 'not a url', referrer: null, userAgent: CHROME }), (e) => isW3aError(e, 'INPUT_MALFORMED'))
  })
})
