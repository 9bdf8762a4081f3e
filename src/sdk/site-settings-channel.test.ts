import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { bytesToHex, keccak256, type Hex } from 'viem'
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'
import { isW3aError } from '../core/errors.js'
import { ANSWER_INFO, sealSettings, siteSettingsAnswerText, type SiteSettingsAnswer } from '../enclave/ingest-site-settings.js'
import type { SiteSettings } from './site-settings.js'
import type { W3aClient } from './client.js'
import { answerBox, sendSettingsRequest, type SiteSettingsTarget } from './site-settings-channel.js'

const worker = privateKeyToAccount(generatePrivateKey())
const gatewayKey = privateKeyToAccount(generatePrivateKey())
const t: SiteSettingsTarget = { site: `0x${'ab'.repeat(32)}`, ingest: worker.address.toLowerCase() as Hex, ingestKey: '0x', chainId: 31337 }
const request = { signature: `0x${'11'.repeat(65)}` as Hex }
const { box, keys } = await answerBox()

/** A client whose gateway answers `answer` to any request (the gateway is the suspect here). */
const gatewayAnswering = (answer: SiteSettingsAnswer) => ({ gateway: { sendJson: async () => answer } }) as unknown as W3aClient

/** An answer as the enclave makes it (sealed to `to`, signed by `by`), for `request`. */
async function answer(p: { by?: typeof worker; request?: Hex; settings?: SiteSettings; to?: Uint8Array } = {}): Promise<SiteSettingsAnswer> {
  const { sealed, settingsHash } = await sealSettings(p.settings ?? { goals: [{ event: 'Signup' }], funnels: [] }, { recipient: p.to ?? keys.publicKey, info: ANSWER_INFO, site: t.site })
  const a = { site: t.site, ingest: t.ingest, version: 3, updatedAt: 1, request: keccak256(p.request ?? request.signature), settingsHash }
  return { ...a, sealed, signature: await (p.by ?? worker).signMessage({ message: siteSettingsAnswerText(a, t.chainId) }) }
}

describe("the SDK checks a site settings answer is the ingest worker's, for this request, and opens it", () => {
  it("takes the site's worker's answer to this request, sealed to this request's box key", async () => {
    assert.match(box, /^0x[0-9a-f]{64}$/)
    const s = await sendSettingsRequest(gatewayAnswering(await answer()), '/api/v1/sites/settings/read', t, request, keys)
    assert.deepEqual({ version: s.version, goals: s.goals, funnels: s.funnels }, { version: 3, goals: [{ event: 'Signup' }], funnels: [] })
  })

  it('refuses an answer the gateway made up, changed, or kept from another request', async () => {
    const notSigned = (e: unknown) => isW3aError(e, 'SIGNATURE_INVALID') && /not signed by the site's ingest worker/.test(e.message)
    await assert.rejects(sendSettingsRequest(gatewayAnswering(await answer({ by: gatewayKey })), '/x', t, request, keys), notSigned)
    await assert.rejects(sendSettingsRequest(gatewayAnswering({ ...(await answer()), version: 4 }), '/x', t, request, keys), notSigned)
    await assert.rejects(sendSettingsRequest(gatewayAnswering(await answer({ request: `0x${'22'.repeat(65)}` })), '/x', t, request, keys), notSigned)
    // The worker's signed answer with other settings sealed in by the gateway: they do not hash to the signed ones.
    const other = await sealSettings({ goals: [], funnels: [] }, { recipient: keys.publicKey, info: ANSWER_INFO, site: t.site })
    await assert.rejects(sendSettingsRequest(gatewayAnswering({ ...(await answer()), sealed: other.sealed }), '/x', t, request, keys), (e) => isW3aError(e, 'ACCESS_DENIED'))
    // An answer sealed to another key (another request's box) does not open here.
    const elsewhere = await answerBox()
    await assert.rejects(sendSettingsRequest(gatewayAnswering(await answer({ to: elsewhere.keys.publicKey })), '/x', t, request, keys), (e) => isW3aError(e, 'HPKE_OPEN_FAILED'))
    assert.notEqual(bytesToHex(elsewhere.keys.publicKey), box)
  })
})
