import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { isW3aError } from '../core/errors.js'
import { addFunnel, addGoal, readSiteConfig, removeFunnel, removeGoal, siteConfigPath } from './site-config.js'

const site = { id: `0x${'ab'.repeat(32)}` as const, domain: 'shop.example' }
const invalid = (e: unknown) => isW3aError(e, 'INVALID_ARGUMENT')

describe('a site\'s goals and funnels in the data dir', () => {
  it('adds, lists and removes goals and funnels; a funnel names existing goals, and keeps them', () => {
    const dir = mkdtempSync(join(tmpdir(), 'w3a-site-config-'))
    try {
      assert.deepEqual(readSiteConfig(dir, site).goals, [])
      addGoal(dir, site, { event: 'Signup' })
      addGoal(dir, site, { page: '/thanks*' })
      assert.throws(() => addGoal(dir, site, { event: 'Signup' }), invalid)
      assert.throws(() => addGoal(dir, site, { page: 'thanks' }))
      assert.throws(() => addFunnel(dir, site, { name: 'buy', steps: ['Visit /', 'Signup'] }), (e: unknown) => invalid(e) && /"Visit \/"/.test(String((e as Error).message)))
      addFunnel(dir, site, { name: 'buy', steps: ['Visit /thanks*', 'Signup'] })
      assert.throws(() => removeGoal(dir, site, 'Signup'), (e: unknown) => invalid(e) && /funnel "buy"/.test(String((e as Error).message)))
      const saved = JSON.parse(readFileSync(siteConfigPath(dir, site.id), 'utf8'))
      assert.deepEqual(saved.goals, [{ event: 'Signup' }, { page: '/thanks*' }])
      removeFunnel(dir, site, 'buy')
      assert.deepEqual(removeGoal(dir, site, 'Signup').goals, [{ page: '/thanks*' }])
      assert.throws(() => removeGoal(dir, site, 'Signup'), invalid)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
