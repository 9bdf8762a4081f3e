import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import { bytesToHex, createTestClient, http, keccak256, toHex, zeroAddress, type Address, type Hex, type PrivateKeyAccount } from 'viem'
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'
import { isW3aError } from '../core/errors.js'
import { DEFAULT_TCB_POLICY } from '../tee/tcb-policy.js'
import {
  allowMeasurement,
  createChainClients,
  decodeSimQuote,
  deployContracts,
  devAccount,
  disallowMeasurement,
  encodeSimQuote,
  epochOf,
  getCurrentEpoch,
  getEpochKey,
  getEpochKeyVote,
  getRegistryParams,
  getStateRoots,
  getTokenBalance,
  getWorker,
  heartbeat,
  keeperApprovalDigest,
  listWorkers,
  publishEpochKey,
  publishStateRoot,
  registerWorker,
  reportDataFor,
  requestWorkerExit,
  rolesFromBits,
  rolesToBits,
  setAllowSim,
  setMinKeepers,
  setTcbPolicy,
  getTcbPolicy,
  setSlasher,
  signKeeperApproval,
  simQuoteDigest,
  slashWorker,
  TxRevertedError,
  w3aTokenAbi,
  withChainErrors,
  withdrawWorkerStake,
  workerPossessionDigest,
  workerRegistryAbi,
  type AnvilInstance,
  type DeployContractsReturnType,
  type RegisterWorkerParameters,
  type WorkerRole,
  type WriteClients,
  startAnvil,
} from './index.js'

const TOKEN = 10n ** 18n
const STAKE = 100n * TOKEN
const M_GOOD = keccak256(toHex('worker bundle v1'))
const M_OTHER = keccak256(toHex('worker bundle v2'))
const M_UNKNOWN = keccak256(toHex('unreviewed bundle'))
const M_TDX = keccak256(toHex('tdx: MRTD||RTMR0||RTMR1||RTMR2'))

/** The dev attestation key of this test network (src/tee has its own; the chain never imports it). */
const devKey = privateKeyToAccount(generatePrivateKey())

let anvil: AnvilInstance
let governance: WriteClients // dev account 0: deployer, governance, token owner
let operators: WriteClients[] // dev accounts 1..5, funded with tokens
let test: ReturnType<typeof createTestClient>
let token: Address

async function rejectsWith(p: Promise<unknown>, errorName: string, args?: readonly unknown[]): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(isW3aError(e, 'TX_REVERTED'), `expected TX_REVERTED ${errorName}, got ${String(e)}`)
    assert.ok(e instanceof TxRevertedError)
    assert.equal(e.errorName, errorName, e.message)
    assert.match(e.message, new RegExp(errorName))
    if (args !== undefined) assert.deepEqual(e.errorArgs, args)
    return true
  })
}

const clientsFor = (account: PrivateKeyAccount | ReturnType<typeof devAccount>): WriteClients =>
  createChainClients({ rpcUrl: anvil.rpcUrl, chainId: anvil.chainId, account })

/** A fresh registry set on the shared chain and token, so that each suite controls its keeper set. */
async function freshRegistry(params: { allowSim?: boolean } = {}): Promise<DeployContractsReturnType> {
  const d = await deployContracts({
    ...governance,
    token,
    devAttestationSigner: devKey.address,
    workerRegistryParams: params.allowSim === undefined ? {} : { allowSim: params.allowSim },
  })
  for (const m of [M_GOOD, M_OTHER, M_TDX]) await allowMeasurement(governance, { registry: d.workerRegistry, measurement: m })
  return d
}

type TestWorker = { account: PrivateKeyAccount; address: Address; hpkePublicKey: Hex; clients: WriteClients }
function newWorker(): TestWorker {
  const account = privateKeyToAccount(generatePrivateKey())
  return { account, address: account.address, hpkePublicKey: bytesToHex(randomBytes(32)), clients: clientsFor(account) }
}

/** A sim quote as src/tee makes it: the dev key signs the measurement and the worker's report data. */
async function simQuote(
  registry: Address,
  w: TestWorker,
  opts: { measurement?: Hex; signer?: PrivateKeyAccount; hpkePublicKey?: Hex; chainId?: number } = {},
): Promise<Hex> {
  const measurement = opts.measurement ?? M_GOOD
  const reportData = reportDataFor({ worker: w.address, hpkePublicKey: opts.hpkePublicKey ?? w.hpkePublicKey, chainId: opts.chainId ?? anvil.chainId, registry })
  const signature = await (opts.signer ?? devKey).signMessage({ message: { raw: simQuoteDigest(measurement, reportData) } })
  return encodeSimQuote({ measurement, reportData, signature })
}

async function possession(registry: Address, w: TestWorker, operator: Address): Promise<Hex> {
  return w.account.sign({ hash: workerPossessionDigest({ chainId: anvil.chainId, registry, operator }) })
}

async function registerSim(
  operator: WriteClients,
  registry: Address,
  w: TestWorker,
  opts: Partial<RegisterWorkerParameters> & { roles?: readonly WorkerRole[] } = {},
) {
  return registerWorker(operator, {
    registry,
    worker: w.address,
    teeType: 'sim',
    measurement: M_GOOD,
    hpkePublicKey: w.hpkePublicKey,
    roles: ['compute'],
    endpoint: 'http://127.0.0.1:9000',
    quote: opts.quote ?? (await simQuote(registry, w, { measurement: opts.measurement ?? M_GOOD })),
    workerSignature: opts.workerSignature ?? (await possession(registry, w, operator.walletClient.account.address)),
    gasFunding: TOKEN / 10n, // 0.1 ETH for the worker's own transactions
    ...opts,
  })
}

/** Mines to the last block of an epoch (50 blocks), so that the next 49 transactions share one epoch. */
async function toEpochStart(): Promise<void> {
  const block = await governance.publicClient.getBlockNumber({ cacheTime: 0 })
  await test.mine({ blocks: Number(50n - (block % 50n)) })
}

async function timeTravel(seconds: number): Promise<void> {
  await test.increaseTime({ seconds })
  await test.mine({ blocks: 1 })
}

before(async () => {
  anvil = await startAnvil({ port: 0 })
  governance = clientsFor(devAccount(0))
  operators = [1, 2, 3, 4, 5].map((i) => clientsFor(devAccount(i)))
  test = createTestClient({ mode: 'anvil', transport: http(anvil.rpcUrl) })
  const base = await deployContracts({ ...governance })
  token = base.token
  for (const op of [governance, ...operators]) {
    const { request } = await governance.publicClient.simulateContract({
      address: token,
      abi: w3aTokenAbi,
      functionName: 'mint',
      args: [op.walletClient.account.address, 10_000n * TOKEN],
      account: governance.walletClient.account,
    })
    await governance.publicClient.waitForTransactionReceipt({ hash: await governance.walletClient.writeContract(request) })
  }
})
after(async () => {
  await anvil?.stop()
})

describe('protocol digests (TS helpers = contract, byte for byte)', () => {
  it('report data, possession, approval and sim quote digests match the registry', async () => {
    const d = await freshRegistry()
    const read = { address: d.workerRegistry, abi: workerRegistryAbi } as const
    const { publicClient } = governance
    const w = newWorker()
    const rd = reportDataFor({ worker: w.address, hpkePublicKey: w.hpkePublicKey, chainId: anvil.chainId, registry: d.workerRegistry })
    assert.equal(rd.length, 2 + 128)
    assert.ok(rd.endsWith('0'.repeat(64)), 'second half is zero')
    assert.equal(await publicClient.readContract({ ...read, functionName: 'reportDataFor', args: [w.address, w.hpkePublicKey] }), rd)

    const operator = devAccount(3).address
    assert.equal(
      await publicClient.readContract({ ...read, functionName: 'workerPossessionDigest', args: [operator] }),
      workerPossessionDigest({ chainId: anvil.chainId, registry: d.workerRegistry, operator }),
    )
    const att = keccak256(toHex('a quote'))
    assert.equal(
      await publicClient.readContract({ ...read, functionName: 'keeperApprovalDigest', args: [w.address, M_TDX, w.hpkePublicKey, att, 3, 1752105600n] }),
      keeperApprovalDigest({ chainId: anvil.chainId, registry: d.workerRegistry, worker: w.address, measurement: M_TDX, hpkePublicKey: w.hpkePublicKey, attestationHash: att, roles: ['compute', 'keeper'], attestedAt: 1752105600 }),
    )
    assert.equal(await publicClient.readContract({ ...read, functionName: 'simQuoteDigest', args: [M_GOOD, rd] }), simQuoteDigest(M_GOOD, rd))

    const quote = await simQuote(d.workerRegistry, w)
    const q = decodeSimQuote(quote)
    assert.equal(quote.length, 2 + 169 * 2)
    assert.equal(await publicClient.readContract({ ...read, functionName: 'simQuote', args: [q.measurement, q.reportData, q.signature] }), quote)
    assert.deepEqual(q, { measurement: M_GOOD, reportData: rd, signature: q.signature })

    // The digests are bound to the chain and the registry.
    assert.notEqual(workerPossessionDigest({ chainId: 1, registry: d.workerRegistry, operator }), workerPossessionDigest({ chainId: anvil.chainId, registry: d.workerRegistry, operator }))
    assert.notEqual(reportDataFor({ worker: w.address, hpkePublicKey: w.hpkePublicKey, chainId: anvil.chainId, registry: d.token }), rd)
    assert.throws(() => decodeSimQuote('0x1234'), (e: unknown) => isW3aError(e, 'INVALID_ARGUMENT'))
    assert.deepEqual(rolesFromBits(rolesToBits(['keeper', 'storage'])), ['keeper', 'storage'])
    assert.throws(() => rolesToBits([]), (e: unknown) => isW3aError(e, 'INVALID_ARGUMENT'))
    assert.throws(() => rolesToBits(8), (e: unknown) => isW3aError(e, 'INVALID_ARGUMENT'))
  })
})

describe('sim registration', () => {
  let d: DeployContractsReturnType
  before(async () => {
    d = await freshRegistry()
  })

  it('deploys with the given parameters', async () => {
    const p = await getRegistryParams(governance.publicClient, { registry: d.workerRegistry })
    assert.deepEqual(
      { ...p, allowedMeasurements: [...p.allowedMeasurements].sort() },
      {
        allowSim: true,
        devAttestationSigner: devKey.address,
        minStake: STAKE,
        heartbeatTimeout: 60n,
        epochLength: 50n,
        token,
        governance: devAccount(0).address,
        allowedMeasurements: [M_GOOD, M_OTHER, M_TDX].sort(),
        epochLengthLocked: false,
        minKeepers: 1,
      },
    )
  })

  it('the minimum keeper set: 1 by default, set by governance only, never 0', async () => {
    await rejectsWith(setMinKeepers(operators[0]!, { registry: d.workerRegistry, count: 3 }), 'OwnableUnauthorizedAccount')
    await rejectsWith(setMinKeepers(governance, { registry: d.workerRegistry, count: 0 }), 'InvalidParameter')
    await setMinKeepers(governance, { registry: d.workerRegistry, count: 3 })
    try {
      assert.equal((await getRegistryParams(governance.publicClient, { registry: d.workerRegistry })).minKeepers, 3)
    } finally {
      await setMinKeepers(governance, { registry: d.workerRegistry, count: 1 })
    }
  })

  it('accepts a sim worker under allowSim: stake moves, the worker is online and eligible', async () => {
    const op = operators[0]!
    const opAddress = devAccount(1).address
    const w = newWorker()
    const [opBefore, regBefore] = await Promise.all([
      getTokenBalance(op.publicClient, { token, account: opAddress }),
      getTokenBalance(op.publicClient, { token, account: d.workerRegistry }),
    ])
    const quote = await simQuote(d.workerRegistry, w)
    const res = await registerSim(op, d.workerRegistry, w, { quote, roles: ['compute', 'storage'], endpoint: 'https://w1.example:8443' })
    assert.equal(res.stake, STAKE)
    assert.equal(res.operator, opAddress)
    assert.equal(res.attestationHash, keccak256(quote))
    assert.match(res.approveHash ?? '', /^0x[0-9a-f]{64}$/, 'the stake approval was sent first')
    assert.match(res.fundingHash ?? '', /^0x[0-9a-f]{64}$/)
    assert.equal(await getTokenBalance(op.publicClient, { token, account: opAddress }), opBefore - STAKE)
    assert.equal(await getTokenBalance(op.publicClient, { token, account: d.workerRegistry }), regBefore + STAKE)
    assert.equal(await op.publicClient.getBalance({ address: w.address }), TOKEN / 10n, 'gas funding reached the worker key')

    const info = await getWorker(op.publicClient, { registry: d.workerRegistry, worker: w.address })
    const block = await op.publicClient.getBlock({ blockNumber: res.blockNumber })
    assert.deepEqual(info, {
      address: w.address,
      operator: opAddress,
      teeType: 'sim',
      measurement: M_GOOD,
      hpkePublicKey: w.hpkePublicKey,
      roles: ['compute', 'storage'],
      roleBits: 5,
      endpoint: 'https://w1.example:8443',
      attestationHash: keccak256(quote),
      stake: STAKE,
      registeredAt: Number(block.timestamp),
      lastHeartbeat: Number(block.timestamp),
      exitRequestedAt: 0,
      slashed: false,
      state: 'active',
      status: 'online',
      online: true,
      eligible: true,
      measurementAllowed: true,
      isKeeper: false,
    })
    const listed = await listWorkers(op.publicClient, { registry: d.workerRegistry })
    assert.deepEqual(listed, [info])

    // Same worker again (any operator): AlreadyRegistered, and nothing sent.
    const nonce = await op.publicClient.getTransactionCount({ address: devAccount(2).address })
    await rejectsWith(registerSim(operators[1]!, d.workerRegistry, w), 'AlreadyRegistered', [w.address])
    assert.equal(await op.publicClient.getTransactionCount({ address: devAccount(2).address }), nonce, 'no approval, no registration sent')
  })

  it('refuses bad attestations without sending anything', async () => {
    const op = operators[1]!
    const opAddress = devAccount(2).address
    const nonce = await op.publicClient.getTransactionCount({ address: opAddress })
    const w = newWorker()
    const other = newWorker()
    const R = d.workerRegistry
    // Signed by another key than the network's dev attestation signer.
    await rejectsWith(registerSim(op, R, w, { quote: await simQuote(R, w, { signer: privateKeyToAccount(generatePrivateKey()) }) }), 'BadAttestationSignature')
    // Tampered measurement: the quote was signed for M_OTHER, the registration claims M_GOOD (both allowed).
    const forOther = decodeSimQuote(await simQuote(R, w, { measurement: M_OTHER }))
    await rejectsWith(registerSim(op, R, w, { quote: encodeSimQuote({ ...forOther, measurement: M_GOOD }) }), 'BadAttestationSignature')
    await rejectsWith(registerSim(op, R, w, { quote: await simQuote(R, w, { measurement: M_OTHER }), measurement: M_GOOD }), 'BadAttestationSignature')
    // Tampered report data: a quote for another HPKE key, another worker, another chain.
    await rejectsWith(registerSim(op, R, w, { quote: await simQuote(R, w, { hpkePublicKey: other.hpkePublicKey }) }), 'BadAttestationSignature')
    await rejectsWith(registerSim(op, R, w, { quote: await simQuote(R, other) }), 'BadAttestationSignature')
    await rejectsWith(registerSim(op, R, w, { quote: await simQuote(R, w, { chainId: 1 }) }), 'BadAttestationSignature')
    // Quote bytes edited after signing (report data swapped): the signature still verifies against
    // the registration, but the quote is not the one registered: its hash does not match.
    const genuine = decodeSimQuote(await simQuote(R, w))
    const edited = encodeSimQuote({ ...genuine, reportData: reportDataFor({ worker: w.address, hpkePublicKey: other.hpkePublicKey, chainId: anvil.chainId, registry: R }) })
    await rejectsWith(registerSim(op, R, w, { quote: edited }), 'AttestationHashMismatch')
    // A measurement not on the allow-list, even with a valid quote.
    await rejectsWith(registerSim(op, R, w, { quote: await simQuote(R, w, { measurement: M_UNKNOWN }), measurement: M_UNKNOWN }), 'MeasurementNotAllowed', [M_UNKNOWN])
    // Proof of possession signed for another operator (someone replaying the worker's consent).
    await rejectsWith(registerSim(op, R, w, { workerSignature: await possession(R, w, devAccount(3).address) }), 'BadWorkerSignature', [w.address])
    await rejectsWith(registerSim(op, R, w, { workerSignature: await possession(R, other, opAddress) }), 'BadWorkerSignature', [w.address])
    // attestationHash must be the hash of the quote the contract rebuilds.
    const q = decodeSimQuote(await simQuote(R, w))
    await rejectsWith(
      withChainErrors(() =>
        op.publicClient.simulateContract({
          address: R,
          abi: workerRegistryAbi,
          functionName: 'register',
          args: [
            { worker: w.address, teeType: 0, measurement: M_GOOD, hpkePublicKey: w.hpkePublicKey, roles: 1, endpoint: '', attestationHash: keccak256(toHex('not the quote')), attestedAt: 0n },
            '0x', // checked first: possession
            q.signature,
            [],
          ],
          account: op.walletClient.account,
        }),
      ),
      'BadWorkerSignature',
    )
    await rejectsWith(
      withChainErrors(async () =>
        op.publicClient.simulateContract({
          address: R,
          abi: workerRegistryAbi,
          functionName: 'register',
          args: [
            { worker: w.address, teeType: 0, measurement: M_GOOD, hpkePublicKey: w.hpkePublicKey, roles: 1, endpoint: '', attestationHash: keccak256(toHex('not the quote')), attestedAt: 0n },
            await possession(R, w, opAddress),
            q.signature,
            [],
          ],
          account: op.walletClient.account,
        }),
      ),
      'AttestationHashMismatch',
    )
    // Parameter checks.
    await rejectsWith(registerSim(op, R, w, { endpoint: `https://${'x'.repeat(300)}` }), 'EndpointTooLong')
    await rejectsWith(registerSim(op, R, w, { hpkePublicKey: `0x${'00'.repeat(32)}` }), 'InvalidHpkePublicKey')
    await assert.rejects(registerSim(op, R, w, { quote: '0xdeadbeef' }), (e: unknown) => isW3aError(e, 'INVALID_ARGUMENT'))
    assert.equal(await op.publicClient.getTransactionCount({ address: opAddress }), nonce, 'nothing was sent, not even an approval')
    // And the worker can still register properly afterwards.
    await registerSim(op, R, w)
  })

  it('refuses sim when allowSim is off (and sim workers become ineligible)', async () => {
    const op = operators[2]!
    const before = newWorker()
    await registerSim(op, d.workerRegistry, before)
    await rejectsWith(setAllowSim(op, { registry: d.workerRegistry, allowSim: false }), 'OwnableUnauthorizedAccount')
    await setAllowSim(governance, { registry: d.workerRegistry, allowSim: false })
    try {
      await rejectsWith(registerSim(op, d.workerRegistry, newWorker()), 'SimNotAllowed')
      const info = await getWorker(op.publicClient, { registry: d.workerRegistry, worker: before.address })
      assert.equal(info.online, true)
      assert.equal(info.eligible, false, 'a sim worker is never eligible on a network without sim')
    } finally {
      await setAllowSim(governance, { registry: d.workerRegistry, allowSim: true })
    }
    assert.equal((await getWorker(op.publicClient, { registry: d.workerRegistry, worker: before.address })).eligible, true)
    // A registry deployed without sim refuses from the start.
    const prod = await freshRegistry({ allowSim: false })
    await rejectsWith(registerSim(op, prod.workerRegistry, newWorker()), 'SimNotAllowed')
  })

  it('refuses an operator without enough tokens', async () => {
    const poor = clientsFor(devAccount(7)) // has ETH, no tokens
    await rejectsWith(registerSim(poor, d.workerRegistry, newWorker()), 'InsufficientStake', [0n, STAKE])
    await rejectsWith(registerSim(poor, d.workerRegistry, newWorker(), { autoApprove: false }), 'InsufficientStake', [0n, STAKE])
    const noApproval = clientsFor(devAccount(6))
    await rejectsWith(registerSim(noApproval, d.workerRegistry, newWorker(), { autoApprove: false }), 'InsufficientAllowance', [0n, STAKE])
  })

  it('only governance changes the allow-list; allow/disallow are idempotent', async () => {
    await rejectsWith(allowMeasurement(operators[0]!, { registry: d.workerRegistry, measurement: M_UNKNOWN }), 'OwnableUnauthorizedAccount')
    const first = await allowMeasurement(governance, { registry: d.workerRegistry, measurement: M_UNKNOWN })
    const again = await allowMeasurement(governance, { registry: d.workerRegistry, measurement: M_UNKNOWN })
    assert.deepEqual([first.changed, again.changed], [true, false])
    const removed = await disallowMeasurement(governance, { registry: d.workerRegistry, measurement: M_UNKNOWN })
    const removedAgain = await disallowMeasurement(governance, { registry: d.workerRegistry, measurement: M_UNKNOWN })
    assert.deepEqual([removed.changed, removedAgain.changed], [true, false])
    const p = await getRegistryParams(governance.publicClient, { registry: d.workerRegistry })
    assert.deepEqual([...p.allowedMeasurements].sort(), [M_GOOD, M_OTHER, M_TDX].sort())
  })
})

describe('keeper approvals (tdx/sgx)', () => {
  let d: DeployContractsReturnType
  let keepers: TestWorker[]
  let computeOnly: TestWorker

  /** When the keepers "verified" the quotes of this suite (set from the chain's clock). */
  let attestedAt = 0
  async function registerTdx(
    operator: WriteClients,
    w: TestWorker,
    approvals: readonly Hex[],
    roles: readonly WorkerRole[] = ['compute', 'keeper'],
    hpkePublicKey = w.hpkePublicKey,
    at = attestedAt,
  ) {
    return registerWorker(operator, {
      attestedAt: at,
      registry: d.workerRegistry,
      worker: w.address,
      teeType: 'tdx',
      measurement: M_TDX,
      hpkePublicKey,
      roles,
      endpoint: 'https://tdx.example',
      quote: tdxQuote(w),
      workerSignature: await possession(d.workerRegistry, w, operator.walletClient.account.address),
      keeperApprovals: approvals,
      gasFunding: TOKEN / 10n,
    })
  }
  /** Stands for a DCAP quote (not verified on chain: keepers verify it and approve its hash). */
  const tdxQuote = (w: TestWorker): Hex => toHex(`dcap quote of ${w.address}`)
  const approve = (signer: TestWorker | PrivateKeyAccount, w: TestWorker, roles: readonly WorkerRole[] = ['compute', 'keeper'], at = attestedAt) =>
    signKeeperApproval('account' in signer ? signer.account : signer, {
      chainId: anvil.chainId,
      registry: d.workerRegistry,
      worker: w.address,
      measurement: M_TDX,
      hpkePublicKey: w.hpkePublicKey,
      attestationHash: keccak256(tdxQuote(w)),
      roles,
      attestedAt: at,
    })

  before(async () => {
    d = await freshRegistry()
    attestedAt = Number((await governance.publicClient.getBlock({ blockTag: 'latest' })).timestamp)
  })

  it('bootstrap: with no active keeper only governance may register a tdx worker', async () => {
    const boot = await freshRegistry()
    const saved = d
    d = boot
    try {
      await rejectsWith(registerTdx(operators[0]!, newWorker(), []), 'BootstrapRequiresGovernance')
      const first = newWorker()
      await registerTdx(governance, first, [])
      const info = await getWorker(governance.publicClient, { registry: boot.workerRegistry, worker: first.address })
      assert.equal(info.teeType, 'tdx')
      assert.equal(info.isKeeper, true)
      // From now on the keeper set decides, governance included.
      await rejectsWith(registerTdx(governance, newWorker(), []), 'NotEnoughApprovals', [0n, 1n])
      const second = newWorker()
      await registerTdx(operators[0]!, second, [await approve(first, second)])
      assert.equal((await getWorker(governance.publicClient, { registry: boot.workerRegistry, worker: second.address })).isKeeper, true)
    } finally {
      d = saved
    }
  })

  it('needs more than half of the active keepers: 2 of 3; duplicates and non-keepers do not count', async () => {
    keepers = [newWorker(), newWorker(), newWorker()]
    for (const [i, k] of keepers.entries()) await registerSim(operators[i]!, d.workerRegistry, k, { roles: ['keeper'] })
    computeOnly = newWorker()
    await registerSim(operators[3]!, d.workerRegistry, computeOnly, { roles: ['compute'] })
    const r = await governance.publicClient.readContract({ address: d.workerRegistry, abi: workerRegistryAbi, functionName: 'keepers' })
    assert.deepEqual([...r], keepers.map((k) => k.address))

    const [k1, k2, k3] = keepers as [TestWorker, TestWorker, TestWorker]
    const w = newWorker()
    const op = operators[4]!
    const outsider = privateKeyToAccount(generatePrivateKey())
    await rejectsWith(registerTdx(op, w, []), 'NotEnoughApprovals', [0n, 2n])
    await rejectsWith(registerTdx(op, w, [await approve(k1, w)]), 'NotEnoughApprovals', [1n, 2n])
    await rejectsWith(registerTdx(op, w, [await approve(k1, w), await approve(k1, w)]), 'NotEnoughApprovals', [1n, 2n])
    await rejectsWith(registerTdx(op, w, [await approve(k1, w), await approve(outsider, w), await approve(computeOnly, w)]), 'NotEnoughApprovals', [1n, 2n])
    // An approval for other roles (or another worker) is over another digest: it does not count.
    await rejectsWith(registerTdx(op, w, [await approve(k1, w), await approve(k2, w, ['compute'])]), 'NotEnoughApprovals', [1n, 2n])
    await rejectsWith(registerTdx(op, w, [await approve(k1, w), await approve(k2, newWorker())]), 'NotEnoughApprovals', [1n, 2n])
    await rejectsWith(registerTdx(op, w, [await approve(k1, w), '0x1234', `0x${'ff'.repeat(65)}`]), 'NotEnoughApprovals', [1n, 2n])
    // Keepers approved the worker's quote with the HPKE key it binds: the same approvals cannot
    // register another key (on-chain key ≠ quote key), which clients would then seal secrets to.
    await rejectsWith(registerTdx(op, w, [await approve(k1, w), await approve(k3, w)], ['compute', 'keeper'], bytesToHex(randomBytes(32))), 'NotEnoughApprovals', [0n, 2n])
    // The approvals name when the keepers verified the quote: another time does not match them,
    // and an attestation older than the TCB policy's maxQuoteAge (30 days), or in the future, is refused.
    await rejectsWith(registerTdx(op, w, [await approve(k1, w), await approve(k3, w)], ['compute', 'keeper'], w.hpkePublicKey, attestedAt - 1), 'NotEnoughApprovals', [0n, 2n])
    const old = attestedAt - 31 * 24 * 3600
    await rejectsWith(registerTdx(op, w, [await approve(k1, w, undefined, old), await approve(k3, w, undefined, old)], ['compute', 'keeper'], w.hpkePublicKey, old), 'AttestationTooOld')
    const future = attestedAt + 24 * 3600
    await rejectsWith(registerTdx(op, w, [await approve(k1, w, undefined, future), await approve(k3, w, undefined, future)], ['compute', 'keeper'], w.hpkePublicKey, future), 'AttestationInFuture')
    // A measurement off the allow-list is refused before approvals are even counted.
    await disallowMeasurement(governance, { registry: d.workerRegistry, measurement: M_TDX })
    await rejectsWith(registerTdx(op, w, [await approve(k1, w), await approve(k3, w)]), 'MeasurementNotAllowed')
    await allowMeasurement(governance, { registry: d.workerRegistry, measurement: M_TDX })

    const res = await registerTdx(op, w, [await approve(k1, w), await approve(outsider, w), await approve(k1, w), await approve(k3, w)])
    const info = await getWorker(op.publicClient, { registry: d.workerRegistry, worker: w.address })
    assert.equal(info.attestationHash, res.attestationHash)
    assert.equal(info.attestationHash, keccak256(tdxQuote(w)))
    assert.deepEqual(info.roles, ['compute', 'keeper'])
    assert.equal(info.isKeeper, true)
    // Offline keepers leave the active set: with only the tdx keeper heartbeating, 1 approval of 1 is enough.
    await timeTravel(61)
    await heartbeat(clientsFor(w.account), { registry: d.workerRegistry })
    const next = newWorker()
    await rejectsWith(registerTdx(op, next, [await approve(k1, next)]), 'NotEnoughApprovals', [0n, 1n])
    await registerTdx(op, next, [await approve(w, next)])
  })
})

describe('TCB policy (governance)', () => {
  it('defaults to UpToDate, SWHardeningNeeded with listed advisories only, 30 days', async () => {
    const d = await freshRegistry()
    assert.deepEqual(await getTcbPolicy(governance.publicClient, { registry: d.workerRegistry }), DEFAULT_TCB_POLICY)
  })

  it('only governance sets it; the values read back; bad values are refused', async () => {
    const d = await freshRegistry()
    const R = d.workerRegistry
    const policy = {
      statuses: ['UpToDate', 'SWHardeningNeeded'],
      advisoryStatuses: ['ConfigurationAndSWHardeningNeeded'],
      advisoryIds: ['INTEL-SA-00334', 'INTEL-SA-00615'],
      maxQuoteAge: 7 * 24 * 3600,
    }
    await rejectsWith(setTcbPolicy(operators[0]!, { registry: R, policy }), 'OwnableUnauthorizedAccount')
    const w = newWorker()
    await registerSim(operators[0]!, R, w, { roles: ['keeper'] })
    await rejectsWith(setTcbPolicy(w.clients, { registry: R, policy }), 'OwnableUnauthorizedAccount')
    assert.deepEqual(await getTcbPolicy(governance.publicClient, { registry: R }), DEFAULT_TCB_POLICY, 'unchanged')
    await setTcbPolicy(governance, { registry: R, policy })
    assert.deepEqual(await getTcbPolicy(governance.publicClient, { registry: R }), policy)
    // Replaces the whole policy, lists may shrink to empty.
    const strict = { statuses: ['UpToDate'], advisoryStatuses: [], advisoryIds: [], maxQuoteAge: 3600 }
    await setTcbPolicy(governance, { registry: R, policy: strict })
    assert.deepEqual(await getTcbPolicy(governance.publicClient, { registry: R }), strict)
    await rejectsWith(setTcbPolicy(governance, { registry: R, policy: { ...strict, statuses: [''] } }), 'InvalidParameter', ['statuses'])
    await rejectsWith(setTcbPolicy(governance, { registry: R, policy: { ...strict, advisoryIds: ['x'.repeat(65)] } }), 'InvalidParameter', ['advisoryIds'])
    await rejectsWith(setTcbPolicy(governance, { registry: R, policy: { ...strict, advisoryStatuses: Array(65).fill('UpToDate') } }), 'InvalidParameter', ['advisoryStatuses'])
    await assert.rejects(setTcbPolicy(governance, { registry: R, policy: { ...strict, maxQuoteAge: 0 } }), (e) => isW3aError(e, 'INVALID_ARGUMENT'))
    assert.deepEqual(await getTcbPolicy(governance.publicClient, { registry: R }), strict)
  })
})

describe('heartbeats, eligibility, epochs and state roots', () => {
  let d: DeployContractsReturnType
  let k1: TestWorker
  let k2: TestWorker
  let compute: TestWorker

  before(async () => {
    d = await freshRegistry()
    k1 = newWorker()
    k2 = newWorker()
    compute = newWorker()
    await registerSim(operators[0]!, d.workerRegistry, k1, { roles: ['compute', 'keeper'] })
    await registerSim(operators[1]!, d.workerRegistry, k2, { roles: ['keeper'] })
    await registerSim(operators[2]!, d.workerRegistry, compute, { roles: ['compute'] })
  })

  it('heartbeats keep a worker online; it goes offline after the timeout', async () => {
    const R = d.workerRegistry
    const { publicClient } = governance
    const hb = await heartbeat(compute.clients, { registry: R })
    let info = await getWorker(publicClient, { registry: R, worker: compute.address })
    assert.equal(info.lastHeartbeat, hb.timestamp)
    assert.equal(info.status, 'online')
    await timeTravel(30)
    assert.equal((await getWorker(publicClient, { registry: R, worker: compute.address })).status, 'online', '30 s < 60 s timeout')
    await timeTravel(31)
    info = await getWorker(publicClient, { registry: R, worker: compute.address })
    assert.deepEqual([info.status, info.online, info.eligible], ['offline', false, false])
    assert.equal(await publicClient.readContract({ address: R, abi: workerRegistryAbi, functionName: 'isOnline', args: [compute.address] }), false)
    const offline = await listWorkers(publicClient, { registry: R, status: 'offline' })
    assert.deepEqual(offline.map((w) => w.address), [k1.address, k2.address, compute.address])
    await heartbeat(compute.clients, { registry: R })
    assert.equal((await getWorker(publicClient, { registry: R, worker: compute.address })).status, 'online')
    // Only registered, active workers can heartbeat.
    await rejectsWith(heartbeat(operators[0]!, { registry: R }), 'NotActiveWorker', [devAccount(1).address])
    await heartbeat(k1.clients, { registry: R })
    await heartbeat(k2.clients, { registry: R })
    assert.deepEqual(
      (await listWorkers(publicClient, { registry: R, role: 'keeper', status: 'online' })).map((w) => w.address),
      [k1.address, k2.address],
    )
  })

  it('disallowing a measurement makes its workers ineligible at once', async () => {
    const R = d.workerRegistry
    const { publicClient } = governance
    await disallowMeasurement(governance, { registry: R, measurement: M_GOOD })
    try {
      const info = await getWorker(publicClient, { registry: R, worker: k1.address })
      assert.deepEqual([info.online, info.measurementAllowed, info.eligible, info.isKeeper], [true, false, false, false])
      assert.equal(await publicClient.readContract({ address: R, abi: workerRegistryAbi, functionName: 'isEligible', args: [k1.address] }), false)
      assert.deepEqual(await publicClient.readContract({ address: R, abi: workerRegistryAbi, functionName: 'keepers' }), [])
      await rejectsWith(publishEpochKey(k1.clients, { registry: R, epoch: 0n, publicKey: keccak256(toHex('k')) }), 'NotKeeper')
    } finally {
      await allowMeasurement(governance, { registry: R, measurement: M_GOOD })
    }
    assert.equal((await getWorker(publicClient, { registry: R, worker: k1.address })).eligible, true)
  })

  it('epoch keys: keepers only, current or next epoch, agreed by a strict majority, one vote each', async () => {
    const R = d.workerRegistry
    const { publicClient } = governance
    await toEpochStart() // the transactions below stay in one epoch
    const block = await publicClient.getBlockNumber({ cacheTime: 0 })
    const epoch = await getCurrentEpoch(publicClient, { registry: R })
    assert.equal(epoch, block / 50n)
    assert.deepEqual([epochOf(49n, 50n), epochOf(50n, 50n), epochOf(101n, 50n)], [0n, 1n, 2n])

    const keyNext = keccak256(toHex('cluster key, next epoch'))
    assert.equal(await getEpochKey(publicClient, { registry: R, epoch: epoch + 1n }), null)
    await rejectsWith(publishEpochKey(compute.clients, { registry: R, epoch: epoch + 1n, publicKey: keyNext }), 'NotKeeper', [compute.address])
    await rejectsWith(publishEpochKey(k1.clients, { registry: R, epoch: epoch + 3n, publicKey: keyNext }), 'EpochTooFarAhead')
    await rejectsWith(publishEpochKey(k1.clients, { registry: R, epoch: epoch + 1n, publicKey: `0x${'00'.repeat(32)}` }), 'InvalidEpochKey')
    const first = await publishEpochKey(k1.clients, { registry: R, epoch: epoch + 1n, publicKey: keyNext })
    // One vote of two active keepers is no majority: no agreed key yet.
    assert.equal(await getEpochKey(publicClient, { registry: R, epoch: epoch + 1n }), null)
    assert.deepEqual(await getEpochKeyVote(publicClient, { registry: R, epoch: epoch + 1n, keeper: k1.address }), { key: keyNext, votes: 1n })
    assert.equal(await getEpochKeyVote(publicClient, { registry: R, epoch: epoch + 1n, keeper: k2.address }), null)
    await publishEpochKey(k2.clients, { registry: R, epoch: epoch + 1n, publicKey: keyNext }) // agrees: 2 of 2
    assert.equal(await getEpochKey(publicClient, { registry: R, epoch: epoch + 1n }), keyNext)
    const other = keccak256(toHex('a diverging cluster secret'))
    await rejectsWith(publishEpochKey(k2.clients, { registry: R, epoch: epoch + 1n, publicKey: other }), 'AlreadyVoted', [epoch + 1n, k2.address, keyNext])
    await rejectsWith(publishEpochKey(k1.clients, { registry: R, epoch: epoch + 1n, publicKey: keyNext }), 'AlreadyVoted', [epoch + 1n, k1.address, keyNext])
    const events = await publicClient.getContractEvents({ address: R, abi: workerRegistryAbi, eventName: 'EpochKeyPublished', fromBlock: first.blockNumber })
    assert.deepEqual(
      events.map((e) => e.args),
      [
        { epoch: epoch + 1n, key: keyNext, keeper: k1.address },
        { epoch: epoch + 1n, key: keyNext, keeper: k2.address },
      ],
    )
    const agreed = await publicClient.getContractEvents({ address: R, abi: workerRegistryAbi, eventName: 'EpochKeyAgreed', fromBlock: first.blockNumber })
    assert.deepEqual(agreed.map((e) => e.args), [{ epoch: epoch + 1n, key: keyNext, votes: 2n, activeKeepers: 2n }])
    // Published keys fix the epoch length for good.
    assert.equal((await getRegistryParams(publicClient, { registry: R })).epochLengthLocked, true)
    await rejectsWith(
      withChainErrors(() =>
        publicClient.simulateContract({ address: R, abi: workerRegistryAbi, functionName: 'setEpochLength', args: [10n], account: governance.walletClient.account }),
      ),
      'EpochLengthIsLocked',
    )
    // A keeper that went offline is no keeper.
    await timeTravel(61)
    await rejectsWith(publishEpochKey(k1.clients, { registry: R, epoch: epoch + 1n, publicKey: keyNext }), 'NotKeeper')
    await heartbeat(k1.clients, { registry: R })
    await heartbeat(k2.clients, { registry: R })
  })

  it('state roots: stored per keeper; two keepers publishing the same root agree', async () => {
    const R = d.workerRegistry
    const { publicClient } = governance
    await toEpochStart() // a new epoch, and the transactions below stay in it
    const epoch = await getCurrentEpoch(publicClient, { registry: R })
    const root = keccak256(toHex('custody state after 3 commands'))
    assert.deepEqual(await getStateRoots(publicClient, { registry: R, epoch }), [])
    const a = await publishStateRoot(k1.clients, { registry: R, epoch, inboxCount: 3n, root })
    const b = await publishStateRoot(k2.clients, { registry: R, epoch, inboxCount: 3n, root })
    const roots = await getStateRoots(publicClient, { registry: R, epoch })
    assert.deepEqual(
      roots.map((r) => ({ keeper: r.keeper, inboxCount: r.inboxCount, root: r.root, blockNumber: r.blockNumber })),
      [
        { keeper: k1.address, inboxCount: 3n, root, blockNumber: a.blockNumber },
        { keeper: k2.address, inboxCount: 3n, root, blockNumber: b.blockNumber },
      ],
    )
    assert.ok(roots.every((r) => r.timestamp > 0))
    const logs = await publicClient.getContractEvents({ address: R, abi: workerRegistryAbi, eventName: 'StateRootPublished', args: { epoch }, fromBlock: a.blockNumber })
    assert.deepEqual(logs.map((l) => l.args.keeper), [k1.address, k2.address])

    await rejectsWith(publishStateRoot(compute.clients, { registry: R, epoch, inboxCount: 3n, root }), 'NotKeeper')
    await rejectsWith(publishStateRoot(k1.clients, { registry: R, epoch: epoch + 1n, inboxCount: 3n, root }), 'EpochInFuture', [epoch + 1n, epoch])
    await rejectsWith(publishStateRoot(k1.clients, { registry: R, epoch, inboxCount: 2n, root }), 'StaleStateRoot', [2n, 3n])
    const later = keccak256(toHex('custody state after 5 commands'))
    await publishStateRoot(k1.clients, { registry: R, epoch, inboxCount: 5n, root: later })
    const updated = await getStateRoots(publicClient, { registry: R, epoch })
    assert.deepEqual(updated.map((r) => [r.keeper, r.inboxCount, r.root]), [
      [k1.address, 5n, later],
      [k2.address, 3n, root],
    ])
  })
})

describe('epoch key quorum (issue 8, attack 1): the first publisher does not win', () => {
  let d: DeployContractsReturnType
  let keepers: TestWorker[] // k[0] is the hostile host's keeper, with a cluster secret of its own
  let compute: TestWorker

  before(async () => {
    d = await freshRegistry()
    keepers = [newWorker(), newWorker(), newWorker()]
    for (const [i, k] of keepers.entries()) await registerSim(operators[i]!, d.workerRegistry, k, { roles: ['keeper'] })
    compute = newWorker()
    await registerSim(operators[3]!, d.workerRegistry, compute, { roles: ['compute'] })
  })

  const X = keccak256(toHex('the hostile keeper’s own key'))
  const Y = keccak256(toHex('the honest cluster key'))

  it('three keepers: X published first, then Y twice: the agreed key is Y, never X', async () => {
    const R = d.workerRegistry
    const { publicClient } = governance
    await toEpochStart()
    const epoch = await getCurrentEpoch(publicClient, { registry: R })
    const [hostile, a, b] = keepers as [TestWorker, TestWorker, TestWorker]
    const first = await publishEpochKey(hostile.clients, { registry: R, epoch, publicKey: X })
    assert.equal(await getEpochKey(publicClient, { registry: R, epoch }), null, 'the first publisher does not set the key')
    await publishEpochKey(a.clients, { registry: R, epoch, publicKey: Y })
    assert.equal(await getEpochKey(publicClient, { registry: R, epoch }), null, '1 vs 1 of 3 is a split')
    const deciding = await publishEpochKey(b.clients, { registry: R, epoch, publicKey: Y })
    assert.equal(await getEpochKey(publicClient, { registry: R, epoch }), Y)
    // Gas: O(1) tally; the deciding vote also reads activeKeeperCount() (a walk over the keeper
    // candidates). Worker hosts send votes with a 300k gas limit (worker-host.ts).
    const { gasUsed } = await publicClient.getTransactionReceipt({ hash: deciding.hash })
    console.log(`deciding epoch key vote with 3 keeper candidates: ${gasUsed} gas`)
    assert.ok(gasUsed < 150_000n, `deciding vote used ${gasUsed} gas`)
    assert.deepEqual(await getEpochKeyVote(publicClient, { registry: R, epoch, keeper: hostile.address }), { key: X, votes: 1n })
    assert.deepEqual(await getEpochKeyVote(publicClient, { registry: R, epoch, keeper: b.address }), { key: Y, votes: 2n })
    // The dispute stays in the log; only Y was ever agreed.
    const votes = await publicClient.getContractEvents({ address: R, abi: workerRegistryAbi, eventName: 'EpochKeyPublished', args: { epoch }, fromBlock: first.blockNumber })
    assert.deepEqual(votes.map((e) => [e.args.keeper, e.args.key]), [[hostile.address, X], [a.address, Y], [b.address, Y]])
    const agreed = await publicClient.getContractEvents({ address: R, abi: workerRegistryAbi, eventName: 'EpochKeyAgreed', args: { epoch }, fromBlock: first.blockNumber })
    assert.deepEqual(agreed.map((e) => e.args), [{ epoch, key: Y, votes: 2n, activeKeepers: 3n }])
    // The hostile keeper cannot vote again to change anything.
    await rejectsWith(publishEpochKey(hostile.clients, { registry: R, epoch, publicKey: Y }), 'AlreadyVoted', [epoch, hostile.address, X])
    assert.equal(await getEpochKey(publicClient, { registry: R, epoch }), Y)
  })

  it('one vote of three: no agreed key', async () => {
    const R = d.workerRegistry
    const { publicClient } = governance
    const epoch = (await getCurrentEpoch(publicClient, { registry: R })) + 1n
    await publishEpochKey(keepers[0]!.clients, { registry: R, epoch, publicKey: X })
    assert.equal(await getEpochKey(publicClient, { registry: R, epoch }), null)
    assert.deepEqual(await getEpochKeyVote(publicClient, { registry: R, epoch, keeper: keepers[0]!.address }), { key: X, votes: 1n })
  })

  it('a non-keeper cannot vote; a keeper cannot vote twice, not even for the same key', async () => {
    const R = d.workerRegistry
    const { publicClient } = governance
    const epoch = (await getCurrentEpoch(publicClient, { registry: R })) + 1n
    await rejectsWith(publishEpochKey(compute.clients, { registry: R, epoch, publicKey: Y }), 'NotKeeper', [compute.address])
    const stranger = newWorker()
    await governance.walletClient.sendTransaction({ to: stranger.address, value: TOKEN / 10n })
    await rejectsWith(publishEpochKey(stranger.clients, { registry: R, epoch, publicKey: Y }), 'NotKeeper', [stranger.address])
    await publishEpochKey(keepers[1]!.clients, { registry: R, epoch, publicKey: Y })
    await rejectsWith(publishEpochKey(keepers[1]!.clients, { registry: R, epoch, publicKey: Y }), 'AlreadyVoted', [epoch, keepers[1]!.address, Y])
    await rejectsWith(publishEpochKey(keepers[1]!.clients, { registry: R, epoch, publicKey: X }), 'AlreadyVoted', [epoch, keepers[1]!.address, Y])
    assert.equal(await getEpochKey(publicClient, { registry: R, epoch }), null, 'X 1, Y 1 of 3: still split')
    assert.deepEqual(await getEpochKeyVote(publicClient, { registry: R, epoch, keeper: keepers[1]!.address }), { key: Y, votes: 1n })
  })

  it('a single keeper is a majority of one (the devnet)', async () => {
    const solo = await freshRegistry()
    const k = newWorker()
    await registerSim(operators[4]!, solo.workerRegistry, k, { roles: ['keeper'] })
    const { publicClient } = governance
    const epoch = await getCurrentEpoch(publicClient, { registry: solo.workerRegistry })
    await publishEpochKey(k.clients, { registry: solo.workerRegistry, epoch: epoch + 1n, publicKey: Y })
    assert.equal(await getEpochKey(publicClient, { registry: solo.workerRegistry, epoch: epoch + 1n }), Y)
  })
})

describe('stake: slashing and exit', () => {
  let d: DeployContractsReturnType
  before(async () => {
    d = await freshRegistry()
  })

  it('only slashers slash; slashed stake goes to governance and the worker is out for good', async () => {
    const R = d.workerRegistry
    const { publicClient } = governance
    const w = newWorker()
    await registerSim(operators[0]!, R, w, { roles: ['compute', 'keeper'] })
    const slasher = operators[4]! // stands for the future jobs contract
    await rejectsWith(slashWorker(slasher, { registry: R, worker: w.address, amount: 1n, reason: 'bad result' }), 'NotSlasher', [devAccount(5).address])
    await rejectsWith(slashWorker(governance, { registry: R, worker: w.address, amount: 1n, reason: 'governance is no slasher' }), 'NotSlasher')
    await rejectsWith(setSlasher(slasher, { registry: R, slasher: devAccount(5).address, allowed: true }), 'OwnableUnauthorizedAccount')
    await setSlasher(governance, { registry: R, slasher: devAccount(5).address, allowed: true })

    const treasuryBefore = await getTokenBalance(publicClient, { token, account: devAccount(0).address })
    await rejectsWith(slashWorker(slasher, { registry: R, worker: w.address, amount: STAKE + 1n, reason: 'too much' }), 'SlashExceedsStake', [STAKE + 1n, STAKE])
    await rejectsWith(slashWorker(slasher, { registry: R, worker: newWorker().address, amount: 1n, reason: 'nobody' }), 'UnknownWorker')
    const res = await slashWorker(slasher, { registry: R, worker: w.address, amount: 40n * TOKEN, reason: 'wrong result for job 7' })
    assert.equal(await getTokenBalance(publicClient, { token, account: devAccount(0).address }), treasuryBefore + 40n * TOKEN)
    assert.equal(await getTokenBalance(publicClient, { token, account: R }), STAKE - 40n * TOKEN)
    const [event] = await publicClient.getContractEvents({ address: R, abi: workerRegistryAbi, eventName: 'WorkerSlashed', fromBlock: res.blockNumber, toBlock: res.blockNumber })
    assert.deepEqual(event?.args, { worker: w.address, slasher: devAccount(5).address, amount: 40n * TOKEN, reason: 'wrong result for job 7' })
    const info = await getWorker(publicClient, { registry: R, worker: w.address })
    assert.deepEqual([info.status, info.slashed, info.stake, info.eligible, info.online, info.isKeeper], ['slashed', true, STAKE - 40n * TOKEN, false, false, false])
    await rejectsWith(heartbeat(w.clients, { registry: R }), 'NotActiveWorker')

    await setSlasher(governance, { registry: R, slasher: devAccount(5).address, allowed: false })
    await rejectsWith(slashWorker(slasher, { registry: R, worker: w.address, amount: 1n, reason: 'revoked' }), 'NotSlasher')
  })

  it('the operator exits and withdraws the stake after the delay', async () => {
    const R = d.workerRegistry
    const { publicClient } = governance
    const op = operators[1]!
    const opAddress = devAccount(2).address
    const w = newWorker()
    const before = await getTokenBalance(publicClient, { token, account: opAddress })
    await registerSim(op, R, w)
    assert.equal(await getTokenBalance(publicClient, { token, account: opAddress }), before - STAKE)

    await rejectsWith(withdrawWorkerStake(op, { registry: R, worker: w.address }), 'NotExiting', [w.address])
    await rejectsWith(requestWorkerExit(operators[0]!, { registry: R, worker: w.address }), 'NotOperator', [w.address, devAccount(1).address])
    const exit = await requestWorkerExit(op, { registry: R, worker: w.address })
    const info = await getWorker(publicClient, { registry: R, worker: w.address })
    assert.deepEqual([info.state, info.status, info.eligible], ['exiting', 'exited', false])
    assert.equal(exit.withdrawableAt, info.exitRequestedAt + 60)
    await rejectsWith(heartbeat(w.clients, { registry: R }), 'NotActiveWorker')
    await rejectsWith(withdrawWorkerStake(op, { registry: R, worker: w.address }), 'ExitDelayNotOver', [BigInt(exit.withdrawableAt)])
    await timeTravel(60)
    await rejectsWith(withdrawWorkerStake(operators[0]!, { registry: R, worker: w.address }), 'NotOperator')
    const out = await withdrawWorkerStake(op, { registry: R, worker: w.address })
    assert.equal(out.amount, STAKE)
    assert.equal(await getTokenBalance(publicClient, { token, account: opAddress }), before)
    const done = await getWorker(publicClient, { registry: R, worker: w.address })
    assert.deepEqual([done.state, done.status, done.stake], ['withdrawn', 'exited', 0n])
    await rejectsWith(withdrawWorkerStake(op, { registry: R, worker: w.address }), 'NotExiting')
    await rejectsWith(registerSim(op, R, w), 'AlreadyRegistered', [w.address])
    await rejectsWith(getWorker(publicClient, { registry: R, worker: zeroAddress }), 'UnknownWorker')
  })
})
