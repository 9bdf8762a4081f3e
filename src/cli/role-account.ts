import { privateKeyToAccount } from 'viem/accounts'
import type { LocalAccount } from 'viem'
import { W3aError } from '../core/errors.js'
import { devAccount, DEV_ACCOUNT_COUNT } from '../chain/index.js'

/**
 * The account a long-running part acts as (a worker's operator, a network's deployer): the dev
 * account `--OPTION N` names (dev networks only: their keys are public), else the private key in
 * $ENV_VAR, else dev account 0 on a dev network; elsewhere ACCOUNT_MISSING saying `why`.
 */
export function roleAccount(p: { index: string | boolean | undefined; option: string; envVar: string; dev: boolean; why: string }): LocalAccount {
  if (typeof p.index === 'string') {
    if (!p.dev) throw new W3aError('INVALID_ARGUMENT', `--${p.option} uses public dev keys; this is not a dev network`, { details: [`Set ${p.envVar} instead.`] })
    const n = Number(p.index)
    if (!Number.isInteger(n) || n < 0 || n >= DEV_ACCOUNT_COUNT) throw new W3aError('INVALID_ARGUMENT', `--${p.option} must be a dev account index 0..${DEV_ACCOUNT_COUNT - 1}, got "${p.index}"`)
    return devAccount(n)
  }
  const key = process.env[p.envVar]
  if (key) return privateKeyToAccount((key.startsWith('0x') ? key : `0x${key}`) as `0x${string}`)
  if (p.dev) return devAccount(0)
  throw new W3aError('ACCOUNT_MISSING', p.why, { details: [`Set ${p.envVar}.`] })
}
