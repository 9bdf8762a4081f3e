import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, test } from 'node:test'
import * as dagPb from '@ipld/dag-pb'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import { keccak256, toHex } from 'viem'
import { isW3aError } from '../core/errors.js'
import { parseEnclaveBoot, simEnclaveFor, type EnclaveBoot } from './boot.js'
import { handOverAuditRounds } from '../node/storage-audit-rounds.js'
import { EnclaveService } from './service.js'
import type { ClaimedOrder } from './storage-audit.js'

const work = mkdtempSync(join(tmpdir(), 'w3a-audit-restart-'))
after(() => rmSync(work, { recursive: true, force: true }))
const code = keccak256(toHex('this build'))
const boot: EnclaveBoot = {
  dataDir: join(work, 'node'),
  gatewayUrl: 'http://127.0.0.1:1',
  chainId: 31337,
  registry: '0x1111111111111111111111111111111111111111',
  inbox: '0x2222222222222222222222222222222222222222',
  jobs: '0x3333333333333333333333333333333333333333',
  storageMarket: '0x4444444444444444444444444444444444444444',
  epochLength: '50',
  allowSim: true,
}

/** The enclave as main.ts runs it, on the node's data dir: a "restart" is a new one on the same dir. */
async function start(): Promise<EnclaveService> {
  const config = parseEnclaveBoot(boot, code)
  const service = new EnclaveService(simEnclaveFor({ config, codeMeasurement: code }).backend, config)
  await service.init()
  return service
}

/** 80 raw leaves under one dag-pb root; the host lost every second leaf. */
async function halfLost() {
  const blocks = new Map<string, Uint8Array>()
  const links: dagPb.PBLink[] = []
  for (let i = 0; i < 80; i++) {
    const bytes = new Uint8Array(randomBytes(256))
    const cid = CID.createV1(raw.code, await sha256.digest(bytes))
    blocks.set(cid.toString(), bytes)
    links.push({ Hash: cid, Tsize: bytes.length })
  }
  const rootBytes = dagPb.encode(dagPb.prepare({ Data: new Uint8Array([8, 2]), Links: links }))
  const root = CID.createV1(dagPb.code, await sha256.digest(rootBytes)).toString()
  blocks.set(root, rootBytes)
  const order: ClaimedOrder = { orderId: 3n, roots: [root], blocks: [...blocks].map(([cid, b]) => ({ cid, size: b.length })) }
  const lost = new Set(links.filter((_, i) => i % 2 === 0).map((l) => l.Hash.toString()))
  const held = async (cid: string) => (lost.has(cid) ? undefined : blocks.get(cid))
  return { order, lost, held }
}

/** One era's audit through the enclave's door, as storage-node.ts runs it; the blocks it was asked for. */
async function audit(enclave: EnclaveService, era: bigint, orders: ClaimedOrder[], read: (cid: string) => Promise<Uint8Array | undefined>) {
  const asked: string[] = []
  const begun = await enclave.storageAuditBegin({ era, orders })
  await handOverAuditRounds(begun, async (cid) => (asked.push(cid), read(cid)), (blocks) => enclave.storageAuditNext({ era, blocks }))
  return { asked, signed: await enclave.storageAuditFinish({ era }) }
}

test('a host that restarts its enclave, or restores its sealed state, cannot draw another sample or get a second report for an era', async () => {
  const { order, lost, held } = await halfLost()
  const era = 12n
  const first = await start()
  await first.storageAuditBegin({ era, orders: [order] })

  // The attack: the host restarts the enclave and claims again without the order's lost leaves.
  const second = await start()
  const reclaimed = { ...order, blocks: order.blocks.filter((b) => !lost.has(b.cid)) }
  await assert.rejects(second.storageAuditBegin({ era, orders: [reclaimed] }), /begun for another claim/)
  const { asked, signed } = await audit(second, era, [order], held)
  assert.ok(signed.report.blocksFailed > 0)

  // After the report is signed, a restart gives the same signed report, never a second one.
  const third = await start()
  assert.deepEqual(await third.storageAuditFinish({ era }), signed)
  await assert.rejects(third.storageAuditBegin({ era, orders: [reclaimed] }), /begun for another claim/)
  // The next era counts added/dropped from what the signed report held, across the restart.
  const next = (await audit(third, era + 1n, [order], held)).signed.report
  assert.equal(next.addedRoot, `0x${'00'.repeat(32)}`)
  assert.equal(next.droppedRoot, `0x${'00'.repeat(32)}`)

  // Restoring the sealed ledger as it was before the era began, then claiming otherwise: the walks
  // ask for the same blocks (they follow the DAG from the era's seed), so the report fails the same way.
  const dir = join(boot.dataDir, 'enclave')
  const ledger = join(dir, 'audit.sealed')
  const copy = readFileSync(ledger)
  const later = era + 2n
  const honestAsk = (await audit(await start(), later, [order], held)).asked
  writeFileSync(ledger, copy)
  const restored = await start()
  const rolled = await audit(restored, later, [{ ...order, blocks: [...order.blocks].reverse() }, { orderId: 9n, roots: [order.roots[0]!], blocks: order.blocks }], held)
  assert.deepEqual(new Set(rolled.asked), new Set(honestAsk), 'the same paths, whatever the claim')
  assert.ok(rolled.signed.report.blocksFailed > 0)
  assert.ok(asked.length > 1)

  // Deleting the sealed ledger to start the eras over: the enclave audits nothing more.
  unlinkSync(ledger)
  const wiped = await start()
  await assert.rejects(wiped.storageAuditBegin({ era: later + 1n, orders: [order] }), (e) => isW3aError(e, 'STATE_ROLLED_BACK'))
})
