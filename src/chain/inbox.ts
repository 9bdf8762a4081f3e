import { encodeAbiParameters, keccak256, type Address, type Hex } from 'viem'

/** One custody inbox entry, as keepers replay it. */
export type InboxEntry = {
  /** Position in the inbox: 0, 1, 2, … */
  index: bigint
  sender: Address
  /** Epoch whose cluster key the ciphertext is sealed to (as posted; keepers check it). */
  epoch: bigint
  /** HPKE ciphertext of the command envelope. */
  ciphertext: Hex
  /** Hash chain head after this entry. */
  head: Hex
  blockNumber: bigint
  /** Block timestamp, Unix seconds: custody's notion of "now" for this entry. */
  timestamp: bigint
}

/** Head of an empty inbox. */
export const EMPTY_INBOX_HEAD: Hex = `0x${'00'.repeat(32)}`

/**
 * One step of the inbox hash chain, as `CustodyInbox.nextHead`:
 * keccak256(abi.encode(previousHead, index, sender, uint64 epoch, keccak256(ciphertext))).
 */
export function nextInboxHead(previousHead: Hex, entry: { index: bigint; sender: Address; epoch: bigint; ciphertext: Hex }): Hex {
  return keccak256(
    encodeAbiParameters(
      [{ type: 'bytes32' }, { type: 'uint256' }, { type: 'address' }, { type: 'uint64' }, { type: 'bytes32' }],
      [previousHead, entry.index, entry.sender, entry.epoch, keccak256(entry.ciphertext)],
    ),
  )
}
