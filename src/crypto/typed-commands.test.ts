import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { encodeAbiParameters, keccak256, verifyTypedData, type Hex } from 'viem'
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'
import { isW3aError, type W3aErrorCode } from '../core/errors.js'
import {
  CUSTODY_QUERY_TYPES,
  OWNER_COMMAND_TYPES,
  commandTypedData,
  datasetIdFor,
  dekHash,
  signCustodyQuery,
  signOwnerCommand,
  verifyCustodyQuery,
  verifyOwnerCommand,
  type CommandDomain,
  type OwnerCommand,
  type SignedOwnerCommand,
} from './typed-commands.js'

const owner = privateKeyToAccount(generatePrivateKey())
const mallory = privateKeyToAccount(generatePrivateKey())
const domain: CommandDomain = { chainId: 31337, verifyingContract: '0x5FbDB2315678afecb367f032d93F642f64180aa3' }
const now = 1_750_000_000
const datasetId: Hex = `0x${'ab'.repeat(32)}`
const common = { datasetId, nonce: 1n, expiry: BigInt(now + 600) }

const commands: OwnerCommand[] = [
  { type: 'RegisterDataset', message: { ...common, salt: `0x${'44'.repeat(32)}`, manifestCid: 'bafyreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy', sealedKeyHash: `0x${'11'.repeat(32)}` } },
  { type: 'Grant', message: { ...common, grantee: mallory.address, expiresAt: BigInt(now + 86400), uses: 10 } },
  { type: 'Revoke', message: { ...common, grantee: mallory.address } },
  { type: 'Delete', message: { ...common } },
  { type: 'SetPolicy', message: { ...common, policyHash: `0x${'22'.repeat(32)}` } },
]

async function rejectsWith(p: Promise<unknown>, code: W3aErrorCode): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(isW3aError(e), `expected W3aError, got ${String(e)}`)
    assert.equal(e.code, code, e.message)
    return true
  })
}

const withMessage = (s: SignedOwnerCommand, patch: Record<string, unknown>): SignedOwnerCommand =>
  ({ ...s, command: { ...s.command, message: { ...s.command.message, ...patch } } }) as SignedOwnerCommand

describe('typed commands: signing and verification', () => {
  for (const command of commands) {
    it(`${command.type}: a valid signature verifies and returns the signer`, async () => {
      const signed = await signOwnerCommand({ account: owner, domain, command })
      assert.equal(signed.signer, owner.address)
      assert.equal(await verifyOwnerCommand({ signed, domain, now }), owner.address)
    })

    it(`${command.type}: every tampered field is refused`, async () => {
      const signed = await signOwnerCommand({ account: owner, domain, command })
      const msg = command.message as Record<string, unknown>
      for (const [k, v] of Object.entries(msg)) {
        const changed =
          typeof v === 'bigint' ? v + 1n : typeof v === 'number' ? v + 1 : k === 'grantee' ? owner.address : k === 'manifestCid' ? `${v}x` : `0x${'33'.repeat(32)}`
        await rejectsWith(verifyOwnerCommand({ signed: withMessage(signed, { [k]: changed }), domain, now }), 'SIGNATURE_INVALID')
      }
      // Same fields under another command type (e.g. Revoke read as Grant's sibling) do not verify either.
      if (command.type === 'Delete') {
        const asOther = { ...signed, command: { type: 'SetPolicy', message: { ...common, policyHash: `0x${'00'.repeat(32)}` } } } as SignedOwnerCommand
        await rejectsWith(verifyOwnerCommand({ signed: asOther, domain, now }), 'SIGNATURE_INVALID')
      }
    })
  }

  it('commandTypedData is what a wallet signs: viem verifies it directly', async () => {
    const command = commands[1]!
    const typedData = commandTypedData(domain, command)
    assert.deepEqual(typedData.domain, { name: 'W3A Custody', version: '1', ...domain })
    assert.equal(typedData.primaryType, 'Grant')
    assert.deepEqual(Object.keys(typedData.types), ['Grant'])
    const signature = await owner.signTypedData(typedData as Parameters<typeof owner.signTypedData>[0])
    assert.ok(await verifyTypedData({ address: owner.address, signature, ...(typedData as Parameters<typeof owner.signTypedData>[0]) }))
    assert.equal(await verifyOwnerCommand({ signed: { command, domain, signer: owner.address, signature }, domain, now }), owner.address)
  })

  it('the EIP-712 type strings are pinned (the custody contract hashes the same)', () => {
    const encodeType = (name: keyof typeof OWNER_COMMAND_TYPES) => `${name}(${OWNER_COMMAND_TYPES[name].map((f) => `${f.type} ${f.name}`).join(',')})`
    assert.equal(encodeType('RegisterDataset'), 'RegisterDataset(bytes32 datasetId,bytes32 salt,string manifestCid,bytes32 sealedKeyHash,uint256 nonce,uint64 expiry)')
    assert.equal(encodeType('Grant'), 'Grant(bytes32 datasetId,address grantee,uint64 expiresAt,uint32 uses,uint256 nonce,uint64 expiry)')
    assert.equal(encodeType('Revoke'), 'Revoke(bytes32 datasetId,address grantee,uint256 nonce,uint64 expiry)')
    assert.equal(encodeType('Delete'), 'Delete(bytes32 datasetId,uint256 nonce,uint64 expiry)')
    assert.equal(encodeType('SetPolicy'), 'SetPolicy(bytes32 datasetId,bytes32 policyHash,uint256 nonce,uint64 expiry)')
  })

  it('accepts a recovery byte of 0/1 as some hardware wallets send it', async () => {
    const signed = await signOwnerCommand({ account: owner, domain, command: commands[3]! })
    const v = parseInt(signed.signature.slice(-2), 16) - 27
    const signature = `${signed.signature.slice(0, -2)}0${v}` as Hex
    assert.equal(await verifyOwnerCommand({ signed: { ...signed, signature }, domain, now }), owner.address)
  })
})

describe('typed commands: refusals', () => {
  const command = commands[1]!

  it('a forged or foreign signature is SIGNATURE_INVALID', async () => {
    const signed = await signOwnerCommand({ account: owner, domain, command })
    const byMallory = await signOwnerCommand({ account: mallory, domain, command })
    // Mallory's valid signature presented as the owner's.
    await rejectsWith(verifyOwnerCommand({ signed: { ...byMallory, signer: owner.address }, domain, now }), 'SIGNATURE_INVALID')
    // Bytes flipped in r, s.
    for (const i of [4, 70, 100]) {
      const c = signed.signature.split('')
      c[i] = c[i] === '1' ? '2' : '1'
      await rejectsWith(verifyOwnerCommand({ signed: { ...signed, signature: c.join('') as Hex }, domain, now }), 'SIGNATURE_INVALID')
    }
    // Garbage, wrong length, bad recovery byte.
    for (const signature of [`0x${'00'.repeat(65)}`, `0x${'12'.repeat(64)}`, `${signed.signature.slice(0, -2)}1d`, 'hello'] as Hex[]) {
      await rejectsWith(verifyOwnerCommand({ signed: { ...signed, signature }, domain, now }), 'SIGNATURE_INVALID')
    }
  })

  it('the high-s twin of a valid signature is refused', async () => {
    const signed = await signOwnerCommand({ account: owner, domain, command })
    const n = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n
    const s = BigInt(`0x${signed.signature.slice(66, 130)}`)
    const v = parseInt(signed.signature.slice(130), 16)
    const twin = `${signed.signature.slice(0, 66)}${(n - s).toString(16).padStart(64, '0')}${(v === 27 ? 28 : 27).toString(16)}` as Hex
    await rejectsWith(verifyOwnerCommand({ signed: { ...signed, signature: twin }, domain, now }), 'SIGNATURE_INVALID')
  })

  it('another chain id or another custody contract is SIGNATURE_INVALID', async () => {
    const signed = await signOwnerCommand({ account: owner, domain, command })
    const otherChain = { ...domain, chainId: 1 }
    const otherContract = { ...domain, verifyingContract: '0x0000000000000000000000000000000000000001' as const }
    for (const d of [otherChain, otherContract]) {
      // verified against another domain than it was signed for
      await rejectsWith(verifyOwnerCommand({ signed, domain: d, now }), 'SIGNATURE_INVALID')
      // and with its stated domain rewritten to match: the signature no longer recovers to the owner
      await rejectsWith(verifyOwnerCommand({ signed: { ...signed, domain: d }, domain: d, now }), 'SIGNATURE_INVALID')
    }
    // The contract address is compared case-insensitively.
    const lower = { ...domain, verifyingContract: domain.verifyingContract.toLowerCase() as Hex }
    assert.equal(await verifyOwnerCommand({ signed, domain: lower, now }), owner.address)
  })

  it('an expired command is COMMAND_EXPIRED', async () => {
    const signed = await signOwnerCommand({ account: owner, domain, command })
    const expiry = Number(command.message.expiry)
    assert.equal(await verifyOwnerCommand({ signed, domain, now: expiry - 1 }), owner.address)
    await rejectsWith(verifyOwnerCommand({ signed, domain, now: expiry }), 'COMMAND_EXPIRED')
    await rejectsWith(verifyOwnerCommand({ signed, domain, now: expiry + 3600 }), 'COMMAND_EXPIRED')
  })

  it('a signer other than the one who signed is SIGNATURE_INVALID', async () => {
    const signed = await signOwnerCommand({ account: owner, domain, command })
    await rejectsWith(verifyOwnerCommand({ signed: { ...signed, signer: mallory.address }, domain, now }), 'SIGNATURE_INVALID')
    await rejectsWith(verifyOwnerCommand({ signed: { ...signed, signer: 'nobody' as Hex }, domain, now }), 'SIGNATURE_INVALID')
  })

  it('malformed commands are INVALID_ARGUMENT, before any signing', async () => {
    const bad = [
      { type: 'Transfer', message: { ...common } },
      { type: 'Delete', message: { ...common, extra: 'unsigned' } },
      { type: 'Grant', message: { ...common, grantee: mallory.address, uses: 1 } },
      { type: 'Delete', message: { ...common, datasetId: '0x1234' } },
      { type: 'Grant', message: { ...common, grantee: mallory.address, expiresAt: 0n, uses: 2 ** 32 } },
      { type: 'Delete', message: { ...common, expiry: 5 } },
    ] as unknown as OwnerCommand[]
    for (const c of bad) {
      await rejectsWith(signOwnerCommand({ account: owner, domain, command: c }), 'INVALID_ARGUMENT')
    }
    const signed = await signOwnerCommand({ account: owner, domain, command: commands[3]! })
    await rejectsWith(verifyOwnerCommand({ signed: withMessage(signed, { extra: 1 }), domain, now }), 'INVALID_ARGUMENT')
    await rejectsWith(signOwnerCommand({ account: owner, domain: { ...domain, chainId: 0 }, command: commands[3]! }), 'INVALID_ARGUMENT')
  })
})

describe('typed commands: dataset id derivation, DEK hash', () => {
  it('datasetIdFor is keccak256(abi.encode(owner, salt)), as the registry contract computes it', () => {
    const salt: Hex = `0x${'5a'.repeat(32)}`
    const want = keccak256(encodeAbiParameters([{ type: 'address' }, { type: 'bytes32' }], [owner.address, salt]))
    assert.equal(datasetIdFor(owner.address, salt), want)
    assert.equal(datasetIdFor(owner.address.toLowerCase() as Hex, salt), want)
    assert.notEqual(datasetIdFor(mallory.address, salt), want)
    assert.throws(() => datasetIdFor(owner.address, '0x12'), (e: unknown) => isW3aError(e, 'INVALID_ARGUMENT'))
  })

  it('dekHash is keccak256 of the 32 raw key bytes', () => {
    const dek = new Uint8Array(32).fill(7)
    assert.equal(dekHash(dek), keccak256(dek))
    assert.throws(() => dekHash(new Uint8Array(31)), (e: unknown) => isW3aError(e, 'INVALID_ARGUMENT'))
  })
})

describe('typed commands: ReadCustody owner query', () => {
  const query = { datasetId, requester: owner.address, responseKey: `0x${'66'.repeat(32)}` as Hex, nonce: 99n, expiry: BigInt(now + 60) }

  it('the type string is pinned', () => {
    assert.equal(
      `ReadCustody(${CUSTODY_QUERY_TYPES.ReadCustody.map((f) => `${f.type} ${f.name}`).join(',')})`,
      'ReadCustody(bytes32 datasetId,address requester,bytes32 responseKey,uint256 nonce,uint64 expiry)',
    )
  })

  it('verifies for the requester only, within expiry, on its domain', async () => {
    const signed = await signCustodyQuery({ account: owner, domain, query })
    assert.equal(await verifyCustodyQuery({ signed, domain, now }), owner.address)
    await rejectsWith(verifyCustodyQuery({ signed: { ...signed, query: { ...query, requester: mallory.address } }, domain, now }), 'SIGNATURE_INVALID')
    await rejectsWith(verifyCustodyQuery({ signed: { ...signed, query: { ...query, responseKey: `0x${'67'.repeat(32)}` } }, domain, now }), 'SIGNATURE_INVALID')
    await rejectsWith(verifyCustodyQuery({ signed, domain: { ...domain, chainId: 1 }, now }), 'SIGNATURE_INVALID')
    await rejectsWith(verifyCustodyQuery({ signed, domain, now: now + 60 }), 'COMMAND_EXPIRED')
    // An account cannot sign a query in someone else's name.
    await rejectsWith(signCustodyQuery({ account: mallory, domain, query }), 'INVALID_ARGUMENT')
  })
})
