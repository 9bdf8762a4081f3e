import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { COUNTRY_DB_FILES, COUNTRY_DB_PACKAGE, lookupCountry, packagedCountryDb, parseCountryDb } from './ingest-country.js'

describe('IP → country', () => {
  it('looks up IPv4 and IPv6 ranges by the rule (first and last address of a range in, one past out)', () => {
    const v4 = Buffer.from('16777216,16777471,AU\n16777472,16778239,CN\n3232235520,3232235775,ZZ\n')
    const v6 = Buffer.from('2001:200::,2001:218:2000:51:ffff:ffff:ffff:ffff,JP\n2a00:1450::,2a00:1450:ffff:ffff:ffff:ffff:ffff:ffff,IE\n')
    const t = parseCountryDb(v4, v6)
    assert.deepEqual(['1.0.0.0', '1.0.0.255', '1.0.1.0', '1.0.3.255', '1.0.4.0', '192.168.0.7', '0.0.0.1'].map((ip) => lookupCountry(t, ip)), ['AU', 'AU', 'CN', 'CN', '', 'ZZ', ''])
    assert.deepEqual(['2001:200::', '2001:218:2000:51:ffff:ffff:ffff:ffff', '2001:218:2000:52::', '2a00:1450:4001:80b::200e', '::1', '::ffff:1.0.1.9', 'not an ip'].map((ip) => lookupCountry(t, ip)), ['JP', 'JP', '', 'IE', '', 'CN', ''])
  })

  it('the packaged database (pinned hashes) answers for real addresses, both families', () => {
    const db = packagedCountryDb()
    assert.deepEqual(['8.8.8.8', '81.2.69.160', '2001:4860:4860::8888', '::ffff:81.2.69.160', '127.0.0.1', '10.1.2.3'].map((ip) => db.lookup(ip)), ['US', 'GB', 'US', 'GB', '', ''])
    assert.equal(db.status().loaded, true, db.status().error)
  })
})

describe('IP → country database integrity', () => {
  it('refuses a database file that is not the pinned one (a host swapping the data): no country at all', () => {
    const pkg = dirname(createRequire(import.meta.url).resolve(`${COUNTRY_DB_PACKAGE}/package.json`))
    const dir = mkdtempSync(join(tmpdir(), 'w3a-country-'))
    try {
      copyFileSync(join(pkg, COUNTRY_DB_FILES.v6.file), join(dir, COUNTRY_DB_FILES.v6.file))
      // 1.0.0.0/24 relabelled: the file still parses, but is not the one the code pins.
      const v4 = readFileSync(join(pkg, COUNTRY_DB_FILES.v4.file), 'latin1').replace(/^16777216,16777471,AU$/m, '16777216,16777471,RU')
      assert.equal(parseCountryDb(Buffer.from(v4, 'latin1'), Buffer.alloc(0)).v4.cc.length > 300_000, true)
      writeFileSync(join(dir, COUNTRY_DB_FILES.v4.file), v4, 'latin1')
      const db = packagedCountryDb(dir)
      assert.equal(db.lookup('1.0.0.1'), '')
      assert.equal(db.status().loaded, false)
      assert.match(db.status().error ?? '', /not the pinned/)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
