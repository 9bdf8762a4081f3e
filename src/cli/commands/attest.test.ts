import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { bytesToHex, keccak256, toHex } from 'viem'
import { attestVerifyCommand } from './attest.js'
import { parseCommandArgs } from '../command.js'
import type { Output } from '../output.js'
import { createSimEnclave } from '../../tee/index.js'
import { isW3aError } from '../../core/errors.js'
import { TEE_SAMPLES as SAMPLES } from '../../../test/fixtures/tee-samples.js'

const dir = mkdtempSync(join(tmpdir(), 'w3a-attest-cli-'))

async function run(argv: string[]): Promise<{ data: Record<string, unknown>; text: string }> {
  const { values, positionals } = parseCommandArgs(attestVerifyCommand, argv)
  let got: { data: Record<string, unknown>; text: string } | undefined
  const out: Output = { json: false, result: (data, text) => (got = { data: data as Record<string, unknown>, text }), progress: () => {}, info: () => {}, note: () => {} }
  await attestVerifyCommand.run({ values, positionals, out })
  assert.ok(got)
  return got
}

test('tdx sample with its collateral at its time: type, measurement, report data, TCB status', async () => {
  const r = await run([SAMPLES + 'tdx_quote', '--collateral', SAMPLES + 'tdx_quote_collateral.json', '--time', '1752105600'])
  assert.equal(r.data['teeType'], 'tdx')
  assert.equal(r.data['tcbStatus'], 'UpToDate')
  assert.match(r.text, /tcb status\s+UpToDate/)
  assert.match(r.text, new RegExp(`measurement\\s+${String(r.data['measurement'])}`))
})

test('refusals are thrown W3aErrors (non-zero exit): expired collateral, missing collateral, outdated TCB, bad --time', async () => {
  await assert.rejects(run([SAMPLES + 'tdx_quote', '--collateral', SAMPLES + 'tdx_quote_collateral.json']), (e) => isW3aError(e, 'ATTESTATION_EXPIRED'))
  await assert.rejects(run([SAMPLES + 'tdx_quote']), (e) => isW3aError(e, 'INVALID_ARGUMENT') && /--collateral/.test(e.message))
  await assert.rejects(
    run([SAMPLES + 'tdx_quote_outdated', '--collateral', SAMPLES + 'tdx_quote_outdated_collateral.json', '--time', '1773100800']),
    (e) => isW3aError(e, 'ATTESTATION_INVALID'),
  )
  await assert.rejects(run([SAMPLES + 'tdx_quote', '--time', 'yesterday']), (e) => isW3aError(e, 'INVALID_ARGUMENT'))
  // The SGX sample verifies, but its TCB status (ConfigurationAndSWHardeningNeeded) is not in the default policy.
  await assert.rejects(run([SAMPLES + 'sgx_quote', '--collateral', SAMPLES + 'sgx_quote_collateral.json', '--time', '1752105600']), (e) => isW3aError(e, 'TCB_NOT_ALLOWED'))
  await assert.rejects(run([join(dir, 'missing')]), (e) => isW3aError(e, 'INPUT_UNREADABLE'))
})

test('sim quotes only with --allow-sim; hex files accepted; --measurement enforced', async () => {
  const measurement = keccak256(toHex('bundle'))
  const q = await createSimEnclave({ measurement, platformSecretFile: join(dir, 'p.key') }).quote(new Uint8Array(64).fill(1))
  const file = join(dir, 'sim.hex')
  writeFileSync(file, bytesToHex(q) + '\n')
  await assert.rejects(run([file]), (e) => isW3aError(e, 'SIM_NOT_ALLOWED'))
  const r = await run([file, '--allow-sim'])
  assert.equal(r.data['teeType'], 'sim')
  assert.equal(r.data['measurement'], measurement)
  assert.match(r.text, /NOT SECURE/)
  await assert.rejects(run([file, '--allow-sim', '--measurement', keccak256(toHex('other'))]), (e) => isW3aError(e, 'MEASUREMENT_NOT_ALLOWED'))
  assert.equal((await run([file, '--allow-sim', '--measurement', `${keccak256(toHex('other'))},${measurement}`])).data['measurement'], measurement)
})

test.after(() => rmSync(dir, { recursive: true, force: true }))
