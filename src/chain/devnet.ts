import { randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { dirname } from 'node:path'
import { createPublicClient, getAddress, http, keccak256, zeroAddress, type Address, type Hex, type LocalAccount } from 'viem'
import { z } from 'zod'
import { W3aError } from '../core/errors.js'
import { CONTRACTS_SOURCES_HASH, w3aTokenAbi } from './abis.js'
import { createChainClients, type WriteClients } from './clients.js'
import { deployContracts, DEVNET_WORKER_REGISTRY_PARAMS } from './deploy.js'
import { DEV_ACCOUNT_COUNT, DEV_MNEMONIC, devAccount } from './dev-accounts.js'
import { withChainErrors } from './errors.js'
import { waitForSuccess } from './write.js'

const address = z
  .string()
  .regex(/^0x[0-9a-fA-F]{40}$/, 'an EVM address (0x + 40 hex digits)')
  .transform((s): Address => getAddress(s))

/** The deployment file (JSON) written by `ensureDeployment`. */
export const DeploymentSchema = z.object({
  chainId: z.number().int().positive(),
  token: address,
  datasetRegistry: address,
  workerRegistry: address,
  custodyInbox: address,
  market: address,
  jobs: address,
  campaigns: address,
  storageMarket: address,
  deployer: address,
  /** CONTRACTS_SOURCES_HASH of the build that deployed: other sources are refused. */
  sourcesHash: z.string().regex(/^[0-9a-f]{64}$/, 'a sha256 in hex'),
  /** Block of the deployment: event followers start here. */
  blockNumber: z.number().int().nonnegative(),
  /** ISO 8601 time of the deployment. */
  deployedAt: z.string().min(1),
  /** keccak256 of each contract's runtime code as deployed (files from before it have none). */
  codeHashes: z.record(z.string(), z.string().regex(/^0x[0-9a-f]{64}$/)).optional(),
  /** A dev network (sim allowed, dev accounts funded); absent in older files: dev. */
  dev: z.boolean().optional(),
})
export type Deployment = z.infer<typeof DeploymentSchema>

export type EnsureDeploymentParameters = {
  rpcUrl: string
  /** JSON file holding the addresses (e.g. `.w3a/chain/deployment.json`). */
  deploymentFile: string
  /** Dev accounts 0..n-1 receive `fundAmount` tokens at first deployment (n ≤ DEV_ACCOUNT_COUNT). */
  fundAccounts: number
  /** Token base units (18 decimals) minted to each funded account. */
  fundAmount: bigint
  /** Dev mnemonic; default the public anvil one. */
  mnemonic?: string
  /** Who deploys and governs (default dev account 0 of `mnemonic`). */
  deployer?: LocalAccount
  /**
   * Default true: a dev network (sim allowed, `fundAccounts` dev accounts funded). false: a
   * network that accepts only hardware TEEs, no account funded.
   */
  dev?: boolean
  /**
   * Address of the sim dev attestation key (src/tee's DEV_ATTESTATION_SIGNER), set in the
   * WorkerRegistry at first deployment. Without it sim is allowed but no sim quote verifies
   * until governance calls setDevAttestationSigner.
   */
  devAttestationSigner?: Address
}

export type EnsureDeploymentReturnType = Deployment

/**
 * Reuses the deployment saved in `deploymentFile` when its contracts are still on the chain with
 * the code that was deployed (code hashes); deploys (with `deployer`, default dev account 0) and,
 * on a dev network, funds dev accounts when there is no file; refuses
 * with CONTRACTS_NOT_DEPLOYED when the file exists but the chain lost the contracts, because
 * silently redeploying would orphan every dataset registered before, and when the file was
 * made by other contract sources (or lacks contracts this build needs), because this build's
 * code would talk to contracts with another ABI.
 *
 * The WorkerRegistry of a dev network allows sim, with DEVNET_WORKER_REGISTRY_PARAMS (100
 * tokens stake, 60 s heartbeat timeout, 50-block epochs); its Jobs contract has DEVNET_JOBS_PARAMS
 * (shares 70/20/10 %, 120 s job timeout, 10 tokens slashed) and is the Market's consumer and a
 * registry slasher; governance (and treasury) is dev account 0.
 */
export async function ensureDeployment(params: EnsureDeploymentParameters): Promise<EnsureDeploymentReturnType> {
  const { rpcUrl, deploymentFile, fundAccounts, fundAmount } = params
  if (!Number.isInteger(fundAccounts) || fundAccounts < 0 || fundAccounts > DEV_ACCOUNT_COUNT) {
    throw new W3aError('INVALID_ARGUMENT', `fundAccounts must be an integer from 0 to ${DEV_ACCOUNT_COUNT}, got ${fundAccounts}`)
  }
  if (fundAmount < 0n) throw new W3aError('INVALID_ARGUMENT', `fundAmount must not be negative, got ${fundAmount}`)

  const probe = createPublicClient({ transport: http(rpcUrl, { retryCount: 1, retryDelay: 100, timeout: 10_000 }) })
  const chainId = await withChainErrors(() => probe.getChainId(), { rpcUrl })

  if (existsSync(deploymentFile)) {
    const saved = readCurrentDeploymentFile(deploymentFile)
    if (saved.chainId !== chainId) {
      throw new W3aError('CONTRACTS_NOT_DEPLOYED', `deployment file ${deploymentFile} is for chain ${saved.chainId}, but the RPC at ${rpcUrl} is chain ${chainId}`, {
        details: ['point --chain-rpc at the chain the file was made for, or use another data directory for this chain'],
      })
    }
    const addresses = CONTRACT_NAMES.map((name) => saved[name])
    const codes = await withChainErrors(() => Promise.all(addresses.map((a) => probe.getCode({ address: a }))), { rpcUrl })
    const missing = addresses.filter((_, i) => codes[i] === undefined || codes[i] === '0x')
    if (missing.length === 0) {
      const changed = Object.entries(saved.codeHashes ?? {}).filter(([name, hash]) => {
        const i = CONTRACT_NAMES.indexOf(name as ContractName)
        return i >= 0 && keccak256(codes[i]!) !== hash
      })
      if (changed.length > 0) {
        throw new W3aError('CONTRACTS_NOT_DEPLOYED', `the code at the addresses saved in ${deploymentFile} is not what was deployed there`, {
          details: [...changed.map(([name]) => `${name}: code hash differs`), 'this RPC serves another chain under the same chain id, or the contracts were replaced; check --chain-rpc'],
        })
      }
      return saved
    }
    throw new W3aError('CONTRACTS_NOT_DEPLOYED', `the chain at ${rpcUrl} has no W3A contracts at the addresses saved in ${deploymentFile}`, {
      details: [
        `missing code at: ${missing.join(', ')} (deployed in block ${saved.blockNumber} at ${saved.deployedAt})`,
        "the chain's state was lost: anvil was restarted without its --state file, or that file was deleted or replaced",
        'to keep your data: restore the anvil state file and restart',
        `to start over on a fresh dev chain: delete ${deploymentFile} and start again (datasets, balances and purchases registered on the old chain are gone)`,
      ],
    })
  }

  const dev = params.dev ?? true
  const clients = createChainClients({ rpcUrl, chainId, account: params.deployer ?? devAccount(0, params.mnemonic ?? DEV_MNEMONIC) })
  const deployed = await deployContracts({
    ...clients,
    workerRegistryParams: { ...DEVNET_WORKER_REGISTRY_PARAMS, allowSim: dev, devAttestationSigner: dev ? (params.devAttestationSigner ?? zeroAddress) : zeroAddress },
  })
  if (dev) await fundDevAccounts(clients, deployed.token, fundAccounts, fundAmount, params.mnemonic ?? DEV_MNEMONIC)
  const addresses = CONTRACT_NAMES.map((name) => deployed[name])
  const codes = await withChainErrors(() => Promise.all(addresses.map((a) => probe.getCode({ address: a }))), { rpcUrl })

  const deployment: Deployment = {
    chainId: deployed.chainId,
    token: deployed.token,
    datasetRegistry: deployed.datasetRegistry,
    workerRegistry: deployed.workerRegistry,
    custodyInbox: deployed.custodyInbox,
    market: deployed.market,
    jobs: deployed.jobs,
    campaigns: deployed.campaigns,
    storageMarket: deployed.storageMarket,
    deployer: deployed.deployer,
    sourcesHash: CONTRACTS_SOURCES_HASH,
    blockNumber: Number(deployed.blockNumber),
    deployedAt: new Date().toISOString(),
    codeHashes: Object.fromEntries(CONTRACT_NAMES.map((name, i) => [name, keccak256(codes[i] ?? '0x') as Hex])),
    dev,
  }
  writeJsonAtomic(deploymentFile, deployment)
  return deployment
}

/** The deployment's contracts, in the order their code is read and hashed. */
const CONTRACT_NAMES = ['token', 'datasetRegistry', 'workerRegistry', 'custodyInbox', 'market', 'jobs', 'campaigns', 'storageMarket'] as const
type ContractName = (typeof CONTRACT_NAMES)[number]

/** Reads and validates a deployment file; INPUT_MALFORMED when it is not one. */
export function readDeploymentFile(path: string): Deployment {
  return parseDeployment(path, readJson(path))
}

/** Fields added after the first release: a file without them was deployed by an older build. */
const LATER_FIELDS = ['workerRegistry', 'custodyInbox', 'market', 'jobs', 'campaigns', 'storageMarket', 'sourcesHash'] as const

/**
 * Like readDeploymentFile, but CONTRACTS_NOT_DEPLOYED when the file was written for other
 * contract sources (a different sourcesHash, or an older file lacking later contracts).
 */
function readCurrentDeploymentFile(path: string): Deployment {
  const raw = readJson(path)
  const lacking = typeof raw === 'object' && raw !== null ? LATER_FIELDS.filter((f) => !(f in raw)) : []
  if (lacking.length > 0 && LegacyDeploymentSchema.safeParse(raw).success) {
    throw contractsChanged(path, [`the file has no ${lacking.join(', ')}: it was written by an older build`])
  }
  const saved = parseDeployment(path, raw)
  if (saved.sourcesHash !== CONTRACTS_SOURCES_HASH) {
    throw contractsChanged(path, [`deployed from contract sources ${saved.sourcesHash.slice(0, 12)}…, this build has ${CONTRACTS_SOURCES_HASH.slice(0, 12)}…`])
  }
  return saved
}

function contractsChanged(path: string, why: string[]): W3aError {
  return new W3aError('CONTRACTS_NOT_DEPLOYED', 'contracts changed since this data dir was deployed; start with a fresh --data-dir', {
    details: [
      ...why,
      `deployment file: ${path}`,
      'the contracts on that chain have another ABI than this build expects, and redeploying would orphan what was registered on them',
      'keep the old data dir for the build that made it, or start this build with another --data-dir',
    ],
  })
}

/** The first release's deployment file (to tell an old file from a malformed one). */
const LegacyDeploymentSchema = z.object({
  chainId: z.number().int().positive(),
  token: address,
  datasetRegistry: address,
  deployer: address,
  blockNumber: z.number().int().nonnegative(),
  deployedAt: z.string().min(1),
})

function readJson(path: string): unknown {
  try {
    return JSON.parse(readFileSync(path, 'utf8'))
  } catch (e) {
    throw new W3aError('INPUT_MALFORMED', `deployment file ${path} is not readable JSON`, { details: [String(e)], cause: e })
  }
}

function parseDeployment(path: string, raw: unknown): Deployment {
  const parsed = DeploymentSchema.safeParse(raw)
  if (!parsed.success) {
    throw new W3aError('INPUT_MALFORMED', `deployment file ${path} is not a W3A deployment`, {
      details: parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`),
    })
  }
  return parsed.data
}

async function fundDevAccounts(clients: WriteClients, token: Address, n: number, amount: bigint, mnemonic: string): Promise<void> {
  if (amount === 0n) return
  // Sequential on purpose: one sender, and anvil mines each transaction as it arrives.
  for (let i = 0; i < n; i++) {
    const to = devAccount(i, mnemonic).address
    await withChainErrors(async () => {
      const { request } = await clients.publicClient.simulateContract({
        address: token,
        abi: w3aTokenAbi,
        functionName: 'mint',
        args: [to, amount],
        account: clients.walletClient.account,
      })
      await waitForSuccess(clients.publicClient, await clients.walletClient.writeContract(request))
    })
  }
}

function writeJsonAtomic(path: string, value: unknown): void {
  mkdirSync(dirname(path), { recursive: true })
  const tmp = `${path}.tmp-${randomBytes(6).toString('hex')}`
  try {
    writeFileSync(tmp, `${JSON.stringify(value, null, 2)}\n`)
    renameSync(tmp, path)
  } catch (e) {
    rmSync(tmp, { force: true })
    throw e
  }
}
