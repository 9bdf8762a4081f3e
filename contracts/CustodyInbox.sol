// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title W3A custody inbox
/// @notice The ordered, public log of encrypted commands for the confidential custody contract
///         (register dataset, grant, revoke, delete, set policy). Every keeper replays it in
///         index order inside its TEE; the chain gives them the same order and a hash chain to
///         check that nobody (an RPC node, a host) dropped, reordered or altered an entry.
/// @dev Only ciphertext and its sender are public: the command is HPKE-sealed to the cluster
///      key of `epoch` (see docs/design/custody-protocol.md). The commands are not stored, only
///      emitted: keepers read them from the CommandPosted events.
contract CustodyInbox {
    /// @notice A command envelope (signed owner command plus an optional sealed DEK) is well under
    ///         this; the cap keeps the cost of posting and replaying bounded.
    uint256 public constant MAX_CIPHERTEXT_BYTES = 16 * 1024;

    /// @notice The WorkerRegistry of this network (epochs, keepers): kept for checks that later
    ///         versions may make at posting time.
    address public immutable registry;
    /// @notice Block of deployment: readers start scanning events here.
    uint256 public immutable startBlock;

    uint256 private _count;
    bytes32 private _head;

    /// @param head The hash chain head after this entry:
    ///        keccak256(abi.encode(previousHead, index, sender, epoch, keccak256(ciphertext))).
    event CommandPosted(uint256 indexed index, address indexed sender, uint64 epoch, bytes ciphertext, bytes32 head);

    error ZeroAddress();
    error EmptyCiphertext();
    error CiphertextTooLarge(uint256 length, uint256 max);

    constructor(address registry_) {
        if (registry_ == address(0)) revert ZeroAddress();
        registry = registry_;
        startBlock = block.number;
    }

    /// @notice Appends a command sealed to the key of `epoch`. Anyone may post: authorisation
    ///         is the owner's signature inside the ciphertext, checked by the keepers.
    /// @return index The entry's position (0, 1, 2, ...).
    /// @return newHead The new hash chain head.
    function post(uint64 epoch, bytes calldata ciphertext) external returns (uint256 index, bytes32 newHead) {
        uint256 length = ciphertext.length;
        if (length == 0) revert EmptyCiphertext();
        if (length > MAX_CIPHERTEXT_BYTES) revert CiphertextTooLarge(length, MAX_CIPHERTEXT_BYTES);
        index = _count;
        newHead = nextHead(_head, index, msg.sender, epoch, keccak256(ciphertext));
        _count = index + 1;
        _head = newHead;
        emit CommandPosted(index, msg.sender, epoch, ciphertext, newHead);
    }

    /// @notice Number of entries posted so far (the next entry's index).
    function count() external view returns (uint256) {
        return _count;
    }

    /// @notice Hash chain head after the last entry (zero while the inbox is empty).
    function head() external view returns (bytes32) {
        return _head;
    }

    /// @notice One step of the hash chain, for readers that verify what they replay.
    function nextHead(bytes32 previousHead, uint256 index, address sender, uint64 epoch, bytes32 ciphertextHash)
        public
        pure
        returns (bytes32)
    {
        return keccak256(abi.encode(previousHead, index, sender, epoch, ciphertextHash));
    }
}
