import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { keccak256, type Hex } from 'viem'
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'
import { isW3aError } from '../core/errors.js'
import { siteSettingsAnswerText, type SiteSettingsAnswer } from '../enclave/ingest-site-settings.js'
import type { W3aClient } from './client.js'
import { sendSettingsRequest, type SiteSettingsTarget } from './site-settings-channel.js'

const worker = privateKeyToAccount(generatePrivateKey())
const gatewayKey = privateKeyToAccount(generatePrivateKey())
const t: SiteSettingsTarget = { site: `0x${'ab'.repeat(32)}`, ingest: worker.address.toLowerCase() as Hex, chainId: 31337 }
const request = { signature: `0x${'11'.repeat(65)}` as Hex }

/** A client whose gateway answers `answer` to any request (the gateway is the suspect here). */
const gatewayAnswering = (answer: SiteSettingsAnswer) => ({ gateway: { sendJson: async () => answer } }) as unknown as W3aClient

async function answer(p: { by?: typeof worker; request?: Hex; goals?: SiteSettingsAnswer['goals'] } = {}): Promise<SiteSettingsAnswer> {
  const a = { site: t.site, ingest: t.ingest, version: 3, goals: p.goals ?? [{ event: 'Signup' }], funnels: [], updatedAt: 1, request: keccak256(p.request ?? request.signature) }
  return { ...a, signature: await (p.by ?? worker).signMessage({ message: siteSettingsAnswerText(a, t.chainId) }) }
}

describe("the SDK checks a site settings answer is the ingest worker's, for this request", () => {
  it("takes the site's worker's answer to this request", async () => {
    const s = await sendSettingsRequest(gatewayAnswering(await answer()), '/api/v1/sites/settings/read', t, request)
    assert.deepEqual({ version: s.version, goals: s.goals }, { version: 3, goals: [{ event: 'Signup' }] })
  })

  it('refuses an answer the gateway made up, changed, or kept from another request', async () => {
    const refused = (e: unknown) => isW3aError(e, 'SIGNATURE_INVALID') && /not signed by the site's ingest worker/.test(e.message)
    await assert.rejects(sendSettingsRequest(gatewayAnswering(await answer({ by: gatewayKey })), '/x', t, request), refused)
    await assert.rejects(sendSettingsRequest(gatewayAnswering({ ...(await answer()), goals: [] }), '/x', t, request), refused)
    await assert.rejects(sendSettingsRequest(gatewayAnswering(await answer({ request: `0x${'22'.repeat(65)}` })), '/x', t, request), refused)
  })
})
