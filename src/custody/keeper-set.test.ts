/**
 * The keeper set in custody state: admission entries applied through applyInboxEntry (the
 * enclave's path), with real sim quotes and approvals made by approveRegistration, the function
 * a keeper enclave signs them with.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { bytesToHex, keccak256, type Address, type Hex, type LocalAccount } from 'viem'
import { keeperApprovalDigest } from '../chain/worker.js'
import { DEV_ATTESTATION_SIGNER, attestIdentity, createEnclaveIdentity, createSimEnclave, type TeePolicy } from '../tee/index.js'
import { applyInboxEntry } from './apply.js'
import { EpochKeyring } from './epoch-keys.js'
import { CHAIN_ID, EPOCH_LENGTH, INBOX, JOBS, TestInbox, testBytes } from './fixture.test.js'
import { KEEPER_ADMISSION_TAG, countMembers, decodeKeeperAdmission, encodeKeeperAdmission, isKeeper, keeperQuorum, withGenesisKeeper, type KeeperAdmission } from './keeper-set.js'
import { decodeKeeperRemoval, encodeKeeperRemoval, keeperRemovalDigest } from './keeper-removal.js'
import type { CustodyReceipt } from './receipt.js'
import { approveRegistration } from './registration-approval.js'
import { decodeSnapshot, encodeSnapshot } from './snapshot.js'
import { createEmptyState, type CustodyState } from './state.js'
import { stateRoot, stateRootParts } from './state-root.js'

const REGISTRY: Address = '0x00000000000000000000000000000000000000cc'
const MEASUREMENT: Hex = `0x${'5a'.repeat(32)}`
const POLICY: TeePolicy = { allowSim: true, devAttestationSigner: DEV_ATTESTATION_SIGNER, simMeasurements: [MEASUREMENT] }
const dir = mkdtempSync(join(tmpdir(), 'w3a-keeper-set-'))
after(() => rmSync(dir, { recursive: true, force: true }))

type Enclave = { signer: LocalAccount; hpkePublicKey: Hex; quote: Hex }
let n = 0
async function enclave(opts: { measurement?: Hex; attestationPrivateKey?: Hex } = {}): Promise<Enclave> {
  const identity = await createEnclaveIdentity()
  const backend = createSimEnclave({ measurement: opts.measurement ?? MEASUREMENT, platformSecretFile: join(dir, `${n++}.key`), ...(opts.attestationPrivateKey ? { attestationPrivateKey: opts.attestationPrivateKey } : {}) })
  const { quote } = await attestIdentity({ backend, identity, chainId: CHAIN_ID, registry: REGISTRY })
  return { signer: identity.signer, hpkePublicKey: bytesToHex(identity.hpke.publicKey), quote: bytesToHex(quote) }
}

const inbox = new TestInbox(testBytes('keeper-set/secret'))
const keyring = new EpochKeyring(0n, testBytes('keeper-set/secret'))

/** An admission of `newcomer` approved by `approvers` (each verifying its quote, as an enclave does). */
async function admission(newcomer: Enclave, approvers: LocalAccount[], over: Partial<KeeperAdmission> = {}): Promise<KeeperAdmission> {
  const attestedAt = Number(inbox.timestamp())
  const registration = { worker: newcomer.signer.address, teeType: 'sim' as const, measurement: MEASUREMENT, hpkePublicKey: newcomer.hpkePublicKey, roles: 3, quote: Buffer.from(newcomer.quote.slice(2), 'hex') }
  const approvals: Hex[] = []
  for (const signer of approvers) {
    approvals.push((await approveRegistration({ signer, policy: { ...POLICY, now: attestedAt }, chainId: CHAIN_ID, registry: REGISTRY, registration: { ...registration, quote: new Uint8Array(registration.quote) } })).signature)
  }
  return { worker: newcomer.signer.address, hpkePublicKey: newcomer.hpkePublicKey, measurement: MEASUREMENT, teeType: 'sim', roles: 3, attestationHash: keccak256(newcomer.quote), attestedAt: BigInt(attestedAt), quote: newcomer.quote, approvals, ...over }
}

/** Posts the admission in clear (any sender) and applies it the way the enclave does, as the next entry after `state`. */
async function apply(state: CustodyState, a: KeeperAdmission | Uint8Array): Promise<{ state: CustodyState; receipt: CustodyReceipt }> {
  const entry = inbox.postRaw(a instanceof Uint8Array ? a : encodeKeeperAdmission(a), 0n)
  const epoch = entry.blockNumber / EPOCH_LENGTH
  keyring.advanceTo(epoch)
  return applyInboxEntry({ ...state, processed: entry.index, head: state.head }, entry, { keyring, chainId: CHAIN_ID, inbox: INBOX, jobs: JOBS, currentEpoch: epoch, keeperSet: { registry: REGISTRY, policy: POLICY } })
}

const genesis = await enclave()
const second = await enclave()
const third = await enclave()
const g0 = withGenesisKeeper(createEmptyState(), { address: genesis.signer.address, hpkePublicKey: genesis.hpkePublicKey, attestedAt: inbox.timestamp() })

describe('keeper set: a keeper joins only with approvals of a strict majority of the current set', () => {
  it('genesis is the set of one; its approval admits a second keeper, and the state root moves', async () => {
    assert.equal(g0.keepers.size, 1)
    assert.equal(keeperQuorum(g0), 1)
    const out = await apply(g0, await admission(second, [genesis.signer]))
    assert.equal(out.receipt.status, 'applied', out.receipt.reason)
    assert.equal(out.receipt.type, 'KeeperAdmission')
    assert.ok(isKeeper(out.state, second.signer.address))
    assert.equal(out.state.keepers.get(second.signer.address.toLowerCase())?.admittedAt, out.receipt.index)
    assert.equal(keeperQuorum(out.state), 2)
    assert.notEqual(stateRootParts(out.state).keepers, stateRootParts(g0).keepers)
    assert.notEqual(stateRoot(out.state), stateRoot({ ...out.state, keepers: g0.keepers }))
  })

  it('minority, non-member and duplicate approvals are refused; a majority of members admits', async () => {
    const two = (await apply(g0, await admission(second, [genesis.signer]))).state
    const stranger = await enclave()
    const refusedWith = async (a: KeeperAdmission, reason: string) => {
      const out = await apply(two, a)
      assert.deepEqual([out.receipt.status, out.receipt.reason], ['refused', reason])
      assert.equal(isKeeper(out.state, third.signer.address), false)
      assert.equal(stateRootParts(out.state).keepers, stateRootParts(two).keepers)
    }
    // One of two members is not a strict majority: a hostile keeper cannot admit its own Sybils.
    await refusedWith(await admission(third, [genesis.signer]), 'quorum-not-reached')
    // The same member twice counts once; an attested enclave outside the set counts for nothing.
    await refusedWith(await admission(third, [genesis.signer, genesis.signer]), 'quorum-not-reached')
    await refusedWith(await admission(third, [genesis.signer, stranger.signer]), 'quorum-not-reached')
    // The newcomer approving itself is a non-member too.
    await refusedWith(await admission(third, [second.signer, third.signer]), 'quorum-not-reached')
    const out = await apply(two, await admission(third, [second.signer, genesis.signer]))
    assert.equal(out.receipt.status, 'applied')
    assert.equal(out.state.keepers.size, 3)
    // Once in, admitting it again is refused.
    const again = await apply(out.state, await admission(third, [second.signer, genesis.signer]))
    assert.equal(again.receipt.reason, 'already-keeper')
  })

  it('a bad quote is refused whatever the approvals: wrong hash, another enclave’s keys, a forged or unlisted sim quote', async () => {
    const refusedWith = async (a: KeeperAdmission, reason: string) => {
      const out = await apply(g0, a)
      assert.deepEqual([out.receipt.status, out.receipt.reason], ['refused', reason])
      assert.equal(out.state.keepers.size, 1)
    }
    await refusedWith(await admission(second, [genesis.signer], { attestationHash: keccak256(third.quote) }), 'bad-attestation')
    // Another enclave's (valid) quote presented for the newcomer's keys.
    await refusedWith(await admission(second, [genesis.signer], { quote: third.quote, attestationHash: keccak256(third.quote) }), 'bad-attestation')
    const forged = await enclave({ attestationPrivateKey: bytesToHex(testBytes('keeper-set/forger')) })
    await refusedWith(await admissionUnchecked(forged, [genesis.signer]), 'bad-attestation')
    const unlisted = await enclave({ measurement: `0x${'a5'.repeat(32)}` })
    await refusedWith(await admissionUnchecked(unlisted, [genesis.signer], `0x${'a5'.repeat(32)}`), 'bad-attestation')
    // Not a keeper role, or approvals from long ago.
    await refusedWith(await admission(second, [genesis.signer], { roles: 1 }), 'malformed')
    await refusedWith(await admission(second, [genesis.signer], { attestedAt: inbox.timestamp() - 2n * 86_400n }), 'expired')
  })

  it('encoding: the tag decides; the snapshot carries the set and keeps the root', async () => {
    const a = await admission(second, [genesis.signer])
    assert.deepEqual(decodeKeeperAdmission(encodeKeeperAdmission(a)), { ...a, worker: a.worker.toLowerCase() })
    assert.equal(decodeKeeperAdmission(new TextEncoder().encode(KEEPER_ADMISSION_TAG)), undefined)
    const two = (await apply(g0, a)).state
    const back = decodeSnapshot(encodeSnapshot(two))
    assert.deepEqual([...back.keepers.entries()], [...two.keepers.entries()])
    assert.equal(stateRoot(back), stateRoot(two))
    assert.notEqual(stateRoot(decodeSnapshot(encodeSnapshot(g0))), stateRoot(createEmptyState()))
  })
})

describe('keeper removal: a member leaves only with approvals of a strict majority of the set, and stops counting', () => {
  const three = async (): Promise<CustodyState> => {
    const two = (await apply(g0, await admission(second, [genesis.signer]))).state
    return (await apply(two, await admission(third, [genesis.signer, second.signer]))).state
  }
  /** A removal of `keeper`'s current membership (or the one admitted at `admittedAt`), approved by `approvers`. */
  const removal = async (state: CustodyState, keeper: Enclave, approvers: LocalAccount[], admittedAt?: bigint): Promise<Uint8Array> => {
    const at = admittedAt ?? state.keepers.get(keeper.signer.address.toLowerCase())?.admittedAt ?? 0n
    const digest = keeperRemovalDigest({ chainId: CHAIN_ID, registry: REGISTRY, keeper: keeper.signer.address, admittedAt: at })
    const approvals = await Promise.all(approvers.map((a) => a.signMessage({ message: { raw: digest } })))
    return encodeKeeperRemoval({ keeper: keeper.signer.address, admittedAt: at, approvals })
  }

  it('one member (or a stranger) cannot remove another; a majority can, and the quorum follows the live set', async () => {
    const set = await three()
    assert.equal(keeperQuorum(set), 2)
    const stranger = await enclave()
    const refusedWith = async (entry: Uint8Array, reason: string) => {
      const out = await apply(set, entry)
      assert.deepEqual([out.receipt.type, out.receipt.status, out.receipt.reason], ['KeeperRemoval', 'refused', reason])
      assert.equal(out.state.keepers.size, 3)
    }
    // A hostile keeper alone, twice, or with a stranger: not a strict majority of three.
    await refusedWith(await removal(set, second, [genesis.signer]), 'quorum-not-reached')
    await refusedWith(await removal(set, second, [genesis.signer, genesis.signer]), 'quorum-not-reached')
    await refusedWith(await removal(set, second, [genesis.signer, stranger.signer]), 'quorum-not-reached')
    // Approvals for another membership (admitted at another index) do not end this one; a non-member is not removed.
    await refusedWith(await removal(set, second, [genesis.signer, third.signer], 999n), 'not-keeper')
    await refusedWith(await removal(set, stranger, [genesis.signer, third.signer]), 'not-keeper')

    const out = await apply(set, await removal(set, second, [genesis.signer, third.signer]))
    assert.deepEqual([out.receipt.type, out.receipt.status], ['KeeperRemoval', 'applied'])
    assert.equal(isKeeper(out.state, second.signer.address), false)
    assert.notEqual(stateRootParts(out.state).keepers, stateRootParts(set).keepers)
    // Two left: a quorum is both; the removed keeper's confirmations and votes count for nothing.
    assert.equal(keeperQuorum(out.state), 2)
    assert.equal(countMembers(out.state, [second.signer.address, genesis.signer.address]), 1)
    // Removing it again is refused.
    assert.equal((await apply(out.state, await removal(set, second, [genesis.signer, third.signer]))).receipt.reason, 'not-keeper')
  })

  it('a voluntary exit counts the leaving keeper’s own approval; the last member stays', async () => {
    const set = await three()
    const left = (await apply(set, await removal(set, third, [third.signer, second.signer]))).state
    assert.deepEqual([...left.keepers.keys()].sort(), [genesis.signer.address, second.signer.address].map((a) => a.toLowerCase()).sort())
    const one = (await apply(left, await removal(left, second, [second.signer, genesis.signer]))).state
    assert.equal(one.keepers.size, 1)
    const last = await apply(one, await removal(one, genesis, [genesis.signer]))
    assert.deepEqual([last.receipt.status, last.receipt.reason], ['refused', 'last-keeper'])
    // The snapshot keeps each member's admission time (what a refusal quorum's quote age is checked against).
    const back = decodeSnapshot(encodeSnapshot(left))
    assert.deepEqual([...back.keepers.entries()], [...left.keepers.entries()])
    assert.equal(back.keepers.get(third.signer.address.toLowerCase()), undefined)
    const attestedAt = left.keepers.get(second.signer.address.toLowerCase())?.attestedAt ?? 0n
    assert.ok(attestedAt >= (g0.keepers.get(genesis.signer.address.toLowerCase())?.attestedAt ?? 0n) && attestedAt <= inbox.timestamp(), 'the admission’s verification time')
  })

  it('encoding: the tag decides', async () => {
    const set = await three()
    const bytes = await removal(set, second, [genesis.signer])
    assert.equal(decodeKeeperRemoval(bytes)?.keeper, second.signer.address.toLowerCase())
    assert.equal(decodeKeeperRemoval(encodeKeeperAdmission(await admission(third, [genesis.signer]))), undefined)
  })
})

/** Approvals signed without the approver checking the quote (a careless or lying keeper): the applying enclave checks it anyway. */
async function admissionUnchecked(newcomer: Enclave, approvers: LocalAccount[], measurement: Hex = MEASUREMENT): Promise<KeeperAdmission> {
  const attestedAt = inbox.timestamp()
  const fields = { worker: newcomer.signer.address, hpkePublicKey: newcomer.hpkePublicKey, measurement, attestationHash: keccak256(newcomer.quote), roles: 3, attestedAt }
  const digest = keeperApprovalDigest({ chainId: CHAIN_ID, registry: REGISTRY, ...fields })
  const approvals = await Promise.all(approvers.map((s) => s.signMessage({ message: { raw: digest } })))
  return { ...fields, teeType: 'sim', quote: newcomer.quote, approvals }
}
