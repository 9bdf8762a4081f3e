import assert from 'node:assert/strict'
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { describe, it } from 'node:test'
import { isW3aError } from '../core/errors.js'
import { markImported, readLocalSiteSettings, siteConfigPath } from './site-config.js'

const site = `0x${'ab'.repeat(32)}` as const

describe("a site's goals and funnels in the data dir (earlier versions' file, imported once)", () => {
  it('reads the file, none when absent or empty, refuses a malformed one, and renames it once imported', () => {
    const dir = mkdtempSync(join(tmpdir(), 'w3a-site-config-'))
    try {
      assert.equal(readLocalSiteSettings(dir, site), undefined)
      const path = siteConfigPath(dir, site)
      mkdirSync(dirname(path), { recursive: true })
      writeFileSync(path, JSON.stringify({ site, domain: 'shop.example', goals: [], funnels: [] }))
      assert.equal(readLocalSiteSettings(dir, site), undefined, 'an empty file has nothing to import')
      const goals = [{ event: 'Signup' }, { page: '/thanks*' }]
      const funnels = [{ name: 'buy', steps: ['Visit /thanks*', 'Signup'] }]
      writeFileSync(path, JSON.stringify({ site, domain: 'shop.example', goals, funnels }))
      assert.deepEqual(readLocalSiteSettings(dir, site), { goals, funnels })
      const moved = markImported(dir, site)
      assert.ok(moved.endsWith(`${site}.imported.json`) && existsSync(moved) && !existsSync(path))
      assert.equal(readLocalSiteSettings(dir, site), undefined, 'never read again')
      writeFileSync(path, JSON.stringify({ goals: 'x' }))
      assert.throws(() => readLocalSiteSettings(dir, site), (e: unknown) => isW3aError(e, 'INPUT_MALFORMED'))
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
