/**
 * The SDK's browser entry bundles for a browser (esbuild, platform "browser", nothing marked
 * external) and runs in a context that has only web globals (no Buffer, process, require):
 * a Node built-in or global on the analyst's path would fail here, not in a user's app.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { createContext, runInContext } from 'node:vm'
import { build } from 'esbuild'

const ENTRY = fileURLToPath(new URL('./browser.ts', import.meta.url))

test('the browser entry bundles with no Node built-in and evaluates with web globals only', async () => {
  const out = await build({ entryPoints: [ENTRY], bundle: true, platform: 'browser', format: 'iife', globalName: 'W3A', write: false, logLevel: 'silent' })
  assert.deepEqual(out.errors, [])
  const code = out.outputFiles[0]!.text
  assert.doesNotMatch(code, /["']node:[a-z]/, 'a node: import reached the bundle')

  // Event and EventTarget: browser globals the IPFS importer's progress events extend (the contributor's path stores blocks).
  const web = { fetch, crypto, TextEncoder, TextDecoder, URL, ReadableStream, atob, btoa, setTimeout, clearTimeout, console, queueMicrotask, Event, EventTarget, CustomEvent }
  const context = createContext({ ...web })
  runInContext(`${code}\nglobalThis.W3A = W3A`, context)
  const W3A = (context as { W3A: Record<string, unknown> }).W3A
  for (const name of ['createW3aClient', 'contributeParquet', 'listMyContributions', 'setPoolConsent', 'deleteContribution', 'createCampaign', 'answerCampaign', 'getCampaignResult', 'claimCampaignReward', 'runQuery', 'submitQuery', 'verifyJob', 'openJobResult', 'listMarket', 'buyCredits', 'getEarnings', 'claimEarnings']) {
    assert.equal(typeof W3A[name], 'function', name)
  }
  // A check that runs entirely inside the bundle: a forged envelope is refused there too.
  const check = W3A['checkResultEnvelope'] as (p: unknown) => Promise<void>
  const job = {
    id: 7n,
    status: 'completed',
    worker: '0x00000000000000000000000000000000000000aa',
    inputCidsHash: `0x${'11'.repeat(32)}`,
    analysisHash: `0x${'22'.repeat(32)}`,
    privacyParamsHash: `0x${'33'.repeat(32)}`,
    outputHash: `0x${'44'.repeat(32)}`,
  }
  const envelope = {
    v: 1,
    status: 'completed',
    chainId: 31337,
    jobs: '0x00000000000000000000000000000000000000bb',
    jobId: '7',
    worker: job.worker,
    outputHash: job.outputHash,
    output: { enc: '0x00', ciphertext: '0x00' },
    signature: `0x${'01'.repeat(65)}`,
  }
  await assert.rejects(check({ envelope, job, chainId: 31337, jobs: envelope.jobs }), (e: unknown) => (e as { code?: string }).code === 'RESULT_INVALID' && /signature/.test((e as Error).message))
})
