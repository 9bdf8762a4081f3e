import assert from 'node:assert/strict'
import { test } from 'node:test'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { identity } from 'multiformats/hashes/identity'
import { sha256, sha512 } from 'multiformats/hashes/sha2'
import { isW3aError } from '../core/errors.js'
import { verifyBlock } from './verify-block.js'

const bytes = new TextEncoder().encode('hello world')

test('verifyBlock accepts a sha2-256 block that matches its CID', async () => {
  const cid = CID.createV1(raw.code, await sha256.digest(bytes))
  await verifyBlock(cid, bytes)
})

test('verifyBlock refuses bytes that do not match, naming the CID', async () => {
  const cid = CID.createV1(raw.code, await sha256.digest(bytes))
  const tampered = bytes.slice()
  tampered[0] = tampered[0]! ^ 1
  await assert.rejects(verifyBlock(cid, tampered), (e) => isW3aError(e, 'BLOCK_HASH_MISMATCH') && e.message.includes(cid.toString()))
  await assert.rejects(verifyBlock(cid, bytes.subarray(0, 5)), (e) => isW3aError(e, 'BLOCK_HASH_MISMATCH'))
})

test('verifyBlock handles identity multihashes', async () => {
  const cid = CID.createV1(raw.code, identity.digest(bytes))
  await verifyBlock(cid, bytes)
  await assert.rejects(verifyBlock(cid, new Uint8Array(3)), (e) => isW3aError(e, 'BLOCK_HASH_MISMATCH'))
})

test('verifyBlock refuses hash functions it cannot check', async () => {
  const cid = CID.createV1(raw.code, await sha512.digest(bytes))
  await assert.rejects(verifyBlock(cid, bytes), (e) => isW3aError(e, 'INVALID_ARGUMENT') && /unsupported hash/.test(e.message))
})
