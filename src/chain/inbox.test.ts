import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import { bytesToHex, createTestClient, http, keccak256, type Hex } from 'viem'
import { isW3aError } from '../core/errors.js'
import {
  createChainClients,
  custodyInboxAbi,
  deployContracts,
  devAccount,
  EMPTY_INBOX_HEAD,
  getInboxState,
  MAX_CUSTODY_CIPHERTEXT_BYTES,
  nextInboxHead,
  postCustodyCommand,
  readInbox,
  startAnvil,
  TxRevertedError,
  withChainErrors,
  type AnvilInstance,
  type DeployContractsReturnType,
  type InboxEntry,
  type WriteClients,
} from './index.js'

let anvil: AnvilInstance
let deployed: DeployContractsReturnType
let alice: WriteClients
let bob: WriteClients
let inbox: Hex

const ciphertext = (n: number): Hex => bytesToHex(randomBytes(n))

before(async () => {
  anvil = await startAnvil({ port: 0 })
  deployed = await deployContracts(createChainClients({ rpcUrl: anvil.rpcUrl, chainId: anvil.chainId, account: devAccount(0) }))
  inbox = deployed.custodyInbox
  alice = createChainClients({ rpcUrl: anvil.rpcUrl, chainId: anvil.chainId, account: devAccount(1) })
  bob = createChainClients({ rpcUrl: anvil.rpcUrl, chainId: anvil.chainId, account: devAccount(2) })
})
after(async () => {
  await anvil?.stop()
})

describe('CustodyInbox', () => {
  const posted: { sender: Hex; epoch: bigint; ciphertext: Hex; index: bigint; head: Hex; blockNumber: bigint }[] = []

  it('starts empty, bound to the worker registry', async () => {
    const s = await getInboxState(alice.publicClient, { inbox })
    assert.equal(s.count, 0n)
    assert.equal(s.head, EMPTY_INBOX_HEAD)
    assert.equal(s.registry, deployed.workerRegistry)
    assert.ok(s.startBlock > 0n && s.startBlock <= deployed.blockNumber)
    assert.deepEqual(await readInbox(alice.publicClient, { inbox }), [])
  })

  it('numbers entries in order and chains their heads (TS head = on-chain head)', async () => {
    const test = createTestClient({ mode: 'anvil', transport: http(anvil.rpcUrl) })
    const plan: [WriteClients, bigint, number][] = [
      [alice, 0n, 100],
      [bob, 0n, 1],
      [alice, 1n, MAX_CUSTODY_CIPHERTEXT_BYTES],
      [bob, 2n, 333],
      [alice, 2n, 64],
    ]
    for (const [i, [who, epoch, size]] of plan.entries()) {
      const ct = ciphertext(size)
      const res = await postCustodyCommand(who, { inbox, epoch, ciphertext: ct })
      assert.equal(res.index, BigInt(i))
      posted.push({ sender: who.walletClient.account.address, epoch, ciphertext: ct, index: res.index, head: res.head, blockNumber: res.blockNumber })
      await test.mine({ blocks: 3 }) // empty blocks in between, so that paging by block range has gaps
    }
    let head = EMPTY_INBOX_HEAD
    for (const p of posted) {
      head = nextInboxHead(head, p)
      assert.equal(p.head, head, `head after entry ${p.index}`)
    }
    const s = await getInboxState(alice.publicClient, { inbox })
    assert.equal(s.count, 5n)
    assert.equal(s.head, head, 'the head recomputed in TS equals the contract head')
    // The contract's one-step function agrees with the TS one on an arbitrary entry too.
    const sample = { index: 7n, sender: devAccount(3).address, epoch: 2n ** 63n, ciphertext: ciphertext(40) }
    const onChain = await alice.publicClient.readContract({
      address: inbox,
      abi: custodyInboxAbi,
      functionName: 'nextHead',
      args: [head, sample.index, sample.sender, sample.epoch, keccak256(sample.ciphertext)],
    })
    assert.equal(onChain, nextInboxHead(head, sample))
  })

  it('readInbox returns every entry in index order with block timestamps, whatever the page size', async () => {
    const all = await readInbox(alice.publicClient, { inbox })
    assert.equal(all.length, posted.length)
    for (const [i, e] of all.entries()) {
      const p = posted[i]!
      const block = await alice.publicClient.getBlock({ blockNumber: p.blockNumber })
      assert.deepEqual(e, {
        index: BigInt(i),
        sender: p.sender,
        epoch: p.epoch,
        ciphertext: p.ciphertext,
        head: p.head,
        blockNumber: p.blockNumber,
        timestamp: block.timestamp,
      } satisfies InboxEntry)
    }
    for (const blockRange of [1n, 2n, 7n]) assert.deepEqual(await readInbox(alice.publicClient, { inbox, blockRange }), all, `blockRange ${blockRange}`)
    // From the middle, with and without the previous head; limits; a block window.
    assert.deepEqual(await readInbox(alice.publicClient, { inbox, fromIndex: 2n }), all.slice(2))
    assert.deepEqual(await readInbox(alice.publicClient, { inbox, fromIndex: 2n, previousHead: all[1]!.head, blockRange: 1n }), all.slice(2))
    assert.deepEqual(await readInbox(alice.publicClient, { inbox, fromIndex: 1n, limit: 2, blockRange: 3n }), all.slice(1, 3))
    assert.deepEqual(await readInbox(alice.publicClient, { inbox, fromIndex: 3n, fromBlock: all[3]!.blockNumber }), all.slice(3))
    assert.deepEqual(await readInbox(alice.publicClient, { inbox, toBlock: all[2]!.blockNumber }), all.slice(0, 3))
    assert.deepEqual(await readInbox(alice.publicClient, { inbox, fromIndex: 5n }), [])
  })

  it('detects a wrong starting point or a broken chain', async () => {
    const all = await readInbox(alice.publicClient, { inbox })
    // fromBlock after the block of entry 1: entry 1 cannot be found there.
    await assert.rejects(readInbox(alice.publicClient, { inbox, fromIndex: 1n, fromBlock: all[2]!.blockNumber }), (e: unknown) => {
      assert.ok(isW3aError(e, 'CHAIN_ERROR'), String(e))
      assert.match(e.message, /expected entry 1, found 2/)
      return true
    })
    // A previous head that is not the real one: the first link does not verify.
    await assert.rejects(readInbox(alice.publicClient, { inbox, fromIndex: 2n, previousHead: all[0]!.head }), (e: unknown) => {
      assert.ok(isW3aError(e, 'CHAIN_ERROR'), String(e))
      assert.match(e.message, /hash chain broken at entry 2/)
      return true
    })
  })

  it('refuses empty and oversized ciphertexts', async () => {
    for (const ct of ['0x', ciphertext(MAX_CUSTODY_CIPHERTEXT_BYTES + 1), '0x123'] as Hex[]) {
      await assert.rejects(postCustodyCommand(alice, { inbox, epoch: 0n, ciphertext: ct }), (e: unknown) => isW3aError(e, 'INVALID_ARGUMENT'))
    }
    // The contract enforces the same bounds for any client.
    const simulate = (ct: Hex) =>
      withChainErrors(() =>
        alice.publicClient.simulateContract({ address: inbox, abi: custodyInboxAbi, functionName: 'post', args: [0n, ct], account: alice.walletClient.account }),
      )
    await assert.rejects(simulate('0x'), (e: unknown) => e instanceof TxRevertedError && e.errorName === 'EmptyCiphertext')
    await assert.rejects(
      simulate(ciphertext(MAX_CUSTODY_CIPHERTEXT_BYTES + 1)),
      (e: unknown) =>
        e instanceof TxRevertedError &&
        e.errorName === 'CiphertextTooLarge' &&
        JSON.stringify(e.errorArgs, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)) === JSON.stringify([`${MAX_CUSTODY_CIPHERTEXT_BYTES + 1}`, `${MAX_CUSTODY_CIPHERTEXT_BYTES}`]),
    )
    assert.equal((await getInboxState(alice.publicClient, { inbox })).count, 5n, 'nothing was appended')
  })
})
