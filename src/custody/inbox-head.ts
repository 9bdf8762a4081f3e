/**
 * The custody inbox's hash chain, exactly as `CustodyInbox.nextHead` computes it:
 *
 *   head_0     = bytes32(0)
 *   head_{i+1} = keccak256(abi.encode(bytes32 head_i, uint256 index, address sender, uint64 epoch, bytes32 keccak256(ciphertext)))
 *
 * Keepers recompute it while replaying, so the state root commits to exactly which entries
 * were applied; an entry that carries the chain's `head` is checked against it.
 */
import { keccak_256 } from '@noble/hashes/sha3.js'
import { bytesToHex, hexToBytes, type Address, type Hex } from 'viem'

export type InboxEntry = {
  index: bigint
  /** The transaction sender (a relayer may post for the owner; authority comes from the signature). */
  sender: Address
  /** The epoch the ciphertext says it was sealed to (`post(epoch, ciphertext)`). */
  epoch: bigint
  ciphertext: Uint8Array
  blockNumber: bigint
  /** Block timestamp, unix seconds: the only clock custody uses. */
  timestamp: bigint
  /** The head the contract emitted with this entry, if known: a mismatch means a bad feed (CUSTODY_OUT_OF_ORDER). */
  head?: Hex
}

export function commandHash(ciphertext: Uint8Array): Hex {
  return bytesToHex(keccak_256(ciphertext))
}

export function nextInboxHead(head: Hex, entry: Pick<InboxEntry, 'index' | 'sender' | 'epoch' | 'ciphertext'>, ciphertextHash: Hex = commandHash(entry.ciphertext)): Hex {
  const buf = new Uint8Array(5 * 32)
  const view = new DataView(buf.buffer)
  const word = (i: number, n: bigint) => {
    for (let j = 0; j < 4; j++) view.setBigUint64(i * 32 + j * 8, (n >> BigInt((3 - j) * 64)) & 0xffffffffffffffffn)
  }
  buf.set(hexToBytes(head), 0)
  word(1, entry.index)
  buf.set(hexToBytes(entry.sender), 2 * 32 + 12)
  word(3, entry.epoch)
  buf.set(hexToBytes(ciphertextHash), 4 * 32)
  return bytesToHex(keccak_256(buf))
}
