import { readFileSync } from 'node:fs'
import { hexToBytes, type Hex } from 'viem'
import { W3aError } from '../../core/errors.js'
import { readQuoteFields, verifyQuote, SIM_WARNING, DEFAULT_TCB_POLICY, type TeePolicy } from '../../tee/index.js'
import { createChainClients, getTcbPolicy } from '../../chain/portable.js'
import { clientFromOptions } from '../client-from-options.js'
import { GATEWAY_OPTION, requireArg, type Command } from '../command.js'
import { readJsonFile } from '../read-json-file.js'

export const attestVerifyCommand: Command = {
  path: ['attest', 'verify'],
  summary: 'Verify a TEE quote (Intel TDX/SGX DCAP, or sim on dev networks) and show what it attests',
  args: [{ name: 'FILE', description: 'the quote: raw bytes, or hex text (0x…)' }],
  options: {
    collateral: { type: 'string', placeholder: 'FILE', description: 'DCAP collateral JSON (PCK CRLs, TCB info, QE identity) for tdx/sgx quotes' },
    time: { type: 'string', placeholder: 'UNIX', description: 'verify as of this time, unix seconds (default: now): collateral validity and quote age' },
    network: { type: 'boolean', description: 'apply the TCB policy of the network at --gateway (default: the default policy)' },
    ...GATEWAY_OPTION,
    'allow-sim': { type: 'boolean', description: 'accept a simulated (sim) quote — dev networks only, it proves nothing' },
    measurement: { type: 'string', placeholder: 'HEX[,HEX]', description: 'refuse unless the measurement is one of these (bytes32 hex)' },
  },
  help: [
    'Checks the quote fully (signatures, certificate chain to Intel\'s root, TCB level, collateral validity',
    'at --time) and prints the TEE type, measurement, report data and TCB status, or why it was refused.',
    'TCB policy: UpToDate, or SWHardeningNeeded with listed advisories (none by default), verified within',
    '30 days; with --network, the policy governance set in the network\'s WorkerRegistry.',
    'Example: w3a attest verify tdx_quote --collateral tdx_quote_collateral.json --time 1752105600',
  ].join('\n'),
  async run({ values, positionals, out }) {
    const file = requireArg(positionals, 0, this)
    const quote = readQuoteFile(file)
    const policy: TeePolicy = { allowSim: values['allow-sim'] === true }
    const collateralFile = values['collateral']
    if (typeof collateralFile === 'string') policy.collateral = readJsonFile(collateralFile)
    const time = values['time']
    if (time !== undefined) {
      if (typeof time !== 'string' || !/^\d{1,12}$/.test(time)) throw new W3aError('INVALID_ARGUMENT', `--time must be unix seconds, got "${String(time)}"`)
      policy.now = Number(time)
      policy.currentTime = Number(time) // "as of": the quote's age is judged at that moment too
    }
    if (values['network'] === true) {
      const network = await (await clientFromOptions(values)).network()
      const { publicClient } = createChainClients({ rpcUrl: network.rpcUrl, chainId: network.chainId })
      policy.tcb = await getTcbPolicy(publicClient, { registry: network.contracts.workerRegistry })
    }
    const allowed = values['measurement']
    if (typeof allowed === 'string') {
      const list = allowed.split(',').map((m) => m.trim())
      for (const m of list) if (!/^0x[0-9a-fA-F]{64}$/.test(m)) throw new W3aError('INVALID_ARGUMENT', `--measurement: "${m}" is not bytes32 hex (0x + 64 hex digits)`)
      policy.allowedMeasurements = list as Hex[]
    }
    if (policy.collateral === undefined && readQuoteFields(quote).teeType !== 'sim') {
      throw new W3aError('INVALID_ARGUMENT', 'a tdx/sgx quote needs --collateral FILE to be verified', {
        details: ['Collateral (PCK CRLs, TCB info, QE identity as JSON) comes from a PCCS, e.g. via @phala/dcap-qvl getCollateral.'],
      })
    }
    const v = await verifyQuote(quote, policy)
    const at = v.verifiedAt
    const tcb = policy.tcb ?? DEFAULT_TCB_POLICY
    const lines = [
      `quote verified (${v.teeType})${v.teeType === 'sim' ? `  — ${SIM_WARNING}` : ''}`,
      `  tee          ${v.teeType}`,
      `  measurement  ${v.measurement}`,
      `  report data  ${v.reportData}`,
      `  tcb status   ${v.tcbStatus}${v.advisoryIds.length ? `  advisories: ${v.advisoryIds.join(', ')}` : ''}`,
      `  tcb policy   ${v.teeType === 'sim' ? 'not applied (sim)' : `passed (${policy.tcb ? 'network' : 'default'}: ${[...tcb.statuses, ...tcb.advisoryStatuses.map((s) => `${s}+listed advisories`)].join(', ')}; max age ${tcb.maxQuoteAge} s)`}`,
      `  quote hash   ${v.quoteHash}`,
      `  verified at  ${new Date(at * 1000).toISOString()} (unix ${at})`,
    ]
    out.result(v, lines.join('\n'))
  },
}

function readQuoteFile(file: string): Uint8Array {
  let raw: Buffer
  try {
    raw = readFileSync(file)
  } catch (cause) {
    throw new W3aError('INPUT_UNREADABLE', `cannot read ${file}`, { cause })
  }
  if (raw.length === 0) throw new W3aError('INPUT_UNREADABLE', `${file} is empty`)
  // A binary quote never looks like hex text: its first bytes are a version (3/4/5) or "W3AQ".
  const text = raw.toString('latin1').trim()
  if (/^(0x)?([0-9a-fA-F]{2})+$/.test(text)) return hexToBytes((text.startsWith('0x') ? text : `0x${text}`) as Hex)
  return new Uint8Array(raw)
}
