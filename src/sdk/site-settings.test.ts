import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { isW3aError } from '../core/errors.js'
import { withFunnel, withGoal, withoutFunnel, withoutGoal, type SiteSettings } from './site-settings.js'

const refused = (pattern: RegExp) => (e: unknown) => isW3aError(e, 'INVALID_ARGUMENT') && pattern.test(e.message)

describe("a site's goals and funnels, changed by rule (the CLI's data dir and the dashboard's browser storage)", () => {
  it('adds and removes goals and funnels as new values, leaving the old one as it was', () => {
    const empty: SiteSettings = { goals: [], funnels: [] }
    const one = withGoal(empty, { event: 'Signup' })
    const two = withGoal(one, { page: '/thanks*' })
    assert.deepEqual(empty.goals, [])
    assert.deepEqual(two.goals, [{ event: 'Signup' }, { page: '/thanks*' }])
    const withF = withFunnel(two, { name: 'buy', steps: ['Visit /thanks*', 'Signup'] })
    assert.deepEqual(withF.funnels, [{ name: 'buy', steps: ['Visit /thanks*', 'Signup'] }])
    assert.deepEqual(withoutGoal(withoutFunnel(withF, 'buy'), 'Signup', 'shop.example').goals, [{ page: '/thanks*' }])
  })

  it('refuses, saying what is wrong: a malformed goal or funnel, a duplicate, a funnel step that is no goal, a goal a funnel uses', () => {
    const s = withGoal(withGoal({ goals: [], funnels: [] }, { event: 'Signup' }), { page: '/' })
    assert.throws(() => withGoal(s, { page: 'thanks' }), refused(/not a valid goal: page: a page goal is a path starting with \//))
    assert.throws(() => withGoal(s, { event: '' }), refused(/not a valid goal/))
    assert.throws(() => withGoal(s, { event: 'Signup' }), refused(/already has the goal "Signup"/))
    assert.throws(() => withFunnel(s, { name: 'one', steps: ['Signup'] }), refused(/not a valid funnel: steps/))
    assert.throws(() => withFunnel(s, { name: 'f', steps: ['Visit /', 'Nope'] }), refused(/no goal "Nope"/))
    const f = withFunnel(s, { name: 'f', steps: ['Visit /', 'Signup'] })
    assert.throws(() => withFunnel(f, { name: 'f', steps: ['Signup', 'Visit /'] }), refused(/already has a funnel "f"/))
    assert.throws(() => withoutGoal(f, 'Signup', 'shop.example'), refused(/the funnel "f" uses the goal "Signup"[\s\S]*w3a site funnels rm shop.example "f"/))
    assert.throws(() => withoutFunnel(f, 'g'), refused(/no funnel "g"/))
  })
})
