// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {Ownable2Step} from "@openzeppelin/contracts/access/Ownable2Step.sol";

/// @title W3A dataset registry (the dataset half of the market)
/// @notice Public metadata of encrypted datasets: who owns them, where their encrypted manifest
///         lives (IPFS CIDv1), the hash of their public schema, their price per query and status.
///         Nothing here is secret: keys and grants live in the confidential custody state.
/// @dev Later contracts (Market purchases/escrow, Jobs, Inbox, WorkerRegistry) reference this one
///      by address and read `terms(id)`; `token` is the payment token they will share, and the
///      contract owner (two-step transfer) is the network's governance.
contract DatasetRegistry is Ownable2Step {
    /// @dev Unlisted is last so the older values keep their numbers. A dataset is registered
    ///      Unlisted: nothing can be bought or queried until its owner lists it (setStatus Active).
    enum Status {
        Active,
        Paused,
        Deleted,
        Unlisted
    }

    /// @dev The first four fields pack into one storage slot (20 + 1 + 5 + 5 bytes);
    ///      uint40 seconds last until the year 36812.
    struct Dataset {
        address owner;
        Status status;
        uint40 createdAt;
        uint40 updatedAt;
        bytes32 schemaHash;
        uint256 pricePerQuery;
        string name;
        string manifestCid;
    }

    /// @notice Bounds keep registration gas predictable; a CIDv1 base32 sha2-256 is 59 characters.
    uint256 public constant MAX_NAME_BYTES = 128;
    uint256 public constant MAX_CID_BYTES = 128;

    /// @notice Payment token shared with the market (purchases escrow this token).
    IERC20 public immutable token;

    mapping(bytes32 id => Dataset) private _datasets;
    bytes32[] private _ids;
    mapping(address owner => bytes32[]) private _idsByOwner;
    /// @notice Per dataset, the one account besides its owner that may append (updateManifest):
    ///         e.g. a web-analytics site's attested ingest worker. Zero = none.
    mapping(bytes32 id => address) public writerOf;
    /// @notice Pools (registerPool): datasets made of many contributors' rows, each under the
    ///         contributor's own key in custody; a job's owner share goes to the contributors
    ///         (Jobs.submitPoolResult), not to the curator who registered the pool.
    mapping(bytes32 id => bool) public isPool;

    event DatasetRegistered(
        bytes32 indexed id,
        address indexed owner,
        string name,
        string manifestCid,
        bytes32 schemaHash,
        uint256 pricePerQuery
    );
    event ManifestUpdated(bytes32 indexed id, string manifestCid, bytes32 schemaHash);
    event PriceChanged(bytes32 indexed id, uint256 oldPrice, uint256 newPrice);
    event StatusChanged(bytes32 indexed id, Status oldStatus, Status newStatus);
    event WriterSet(bytes32 indexed id, address indexed writer);
    event PoolRegistered(bytes32 indexed id, address indexed curator);

    error ZeroAddress();
    error DatasetExists(bytes32 id);
    error UnknownDataset(bytes32 id);
    error NotDatasetOwner(bytes32 id, address caller);
    error NotDatasetWriter(bytes32 id, address caller);
    error DatasetDeleted(bytes32 id);
    error EmptyName();
    error NameTooLong(uint256 length, uint256 max);
    error EmptyManifestCid();
    error ManifestCidTooLong(uint256 length, uint256 max);
    error IndexOutOfRange(uint256 index, uint256 count);

    constructor(IERC20 token_, address governance_) Ownable(governance_) {
        if (address(token_) == address(0)) revert ZeroAddress();
        token = token_;
    }

    /// @dev Owner-only and not deleted: every mutation after registration goes through this.
    modifier onlyDatasetOwner(bytes32 id) {
        Dataset storage d = _datasets[id];
        if (d.owner == address(0)) revert UnknownDataset(id);
        if (d.owner != msg.sender) revert NotDatasetOwner(id, msg.sender);
        if (d.status == Status.Deleted) revert DatasetDeleted(id);
        _;
    }

    // ------------------------------------------------------------------ writes

    /// @notice Registers a dataset owned by the caller under `id = datasetIdFor(msg.sender, salt)`.
    ///         It starts Unlisted: the owner sets its policy, then lists it (setStatus Active).
    /// @dev The id is derived from the sender rather than chosen freely: a client binds the id into
    ///      the encryption AAD before this transaction is public, and with a free choice anyone
    ///      watching the mempool could register that id first and squat the dataset. With the
    ///      sender in the derivation, a copied salt yields a different id. An id is never reused,
    ///      even after deletion (ciphertexts bound to it may still exist).
    /// @return id The dataset id (also in the DatasetRegistered event).
    function register(
        bytes32 salt,
        string calldata name,
        string calldata manifestCid,
        bytes32 schemaHash,
        uint256 pricePerQuery
    ) external returns (bytes32 id) {
        id = _register(salt, name, manifestCid, schemaHash, pricePerQuery);
    }

    /// @notice Registers a pool curated by the caller: like `register` (the manifest CID names the
    ///         pool's public descriptor: schema and purpose), and marked `isPool` for good, so
    ///         its jobs pay their owner share to the contributors whose rows they used.
    function registerPool(
        bytes32 salt,
        string calldata name,
        string calldata manifestCid,
        bytes32 schemaHash,
        uint256 pricePerQuery
    ) external returns (bytes32 id) {
        id = _register(salt, name, manifestCid, schemaHash, pricePerQuery);
        isPool[id] = true;
        emit PoolRegistered(id, msg.sender);
    }

    function _register(
        bytes32 salt,
        string calldata name,
        string calldata manifestCid,
        bytes32 schemaHash,
        uint256 pricePerQuery
    ) private returns (bytes32 id) {
        id = datasetIdFor(msg.sender, salt);
        if (_datasets[id].owner != address(0)) revert DatasetExists(id);
        _checkName(name);
        _checkCid(manifestCid);

        uint40 now_ = uint40(block.timestamp);
        _datasets[id] = Dataset({
            owner: msg.sender,
            status: Status.Unlisted,
            createdAt: now_,
            updatedAt: now_,
            schemaHash: schemaHash,
            pricePerQuery: pricePerQuery,
            name: name,
            manifestCid: manifestCid
        });
        _ids.push(id);
        _idsByOwner[msg.sender].push(id);
        emit DatasetRegistered(id, msg.sender, name, manifestCid, schemaHash, pricePerQuery);
    }

    /// @notice Points the dataset at a new encrypted manifest (e.g. after appending segments).
    ///         The owner or the writer the owner set (setWriter) may call it.
    function updateManifest(bytes32 id, string calldata manifestCid, bytes32 schemaHash) external {
        Dataset storage d = _datasets[id];
        if (d.owner == address(0)) revert UnknownDataset(id);
        if (d.owner != msg.sender && (writerOf[id] == address(0) || writerOf[id] != msg.sender)) {
            revert NotDatasetWriter(id, msg.sender);
        }
        if (d.status == Status.Deleted) revert DatasetDeleted(id);
        _checkCid(manifestCid);
        d.manifestCid = manifestCid;
        d.schemaHash = schemaHash;
        d.updatedAt = uint40(block.timestamp);
        emit ManifestUpdated(id, manifestCid, schemaHash);
    }

    /// @notice Lets `writer` (besides the owner) append to the dataset via updateManifest; zero
    ///         removes it. A site's owner names its ingest worker's attested address here.
    function setWriter(bytes32 id, address writer) external onlyDatasetOwner(id) {
        writerOf[id] = writer;
        emit WriterSet(id, writer);
    }

    /// @notice Sets the price per query in token base units; applies to purchases made afterwards.
    function setPrice(bytes32 id, uint256 pricePerQuery) external onlyDatasetOwner(id) {
        Dataset storage d = _datasets[id];
        uint256 old = d.pricePerQuery;
        d.pricePerQuery = pricePerQuery;
        d.updatedAt = uint40(block.timestamp);
        emit PriceChanged(id, old, pricePerQuery);
    }

    /// @notice Unlisted, Active and Paused at will (Active = listed: credits sell and jobs run);
    ///         Deleted is final (the DEK is shredded off chain, so a deleted dataset can never
    ///         serve queries again).
    function setStatus(bytes32 id, Status status) external onlyDatasetOwner(id) {
        Dataset storage d = _datasets[id];
        Status old = d.status;
        d.status = status;
        d.updatedAt = uint40(block.timestamp);
        emit StatusChanged(id, old, status);
    }

    // ------------------------------------------------------------------ views

    /// @notice The id `owner_` gets when registering with `salt`: keccak256(abi.encode(owner_, salt)).
    function datasetIdFor(address owner_, bytes32 salt) public pure returns (bytes32) {
        return keccak256(abi.encode(owner_, salt));
    }

    /// @notice The network's governance (the contract owner, transferred in two steps).
    function governance() external view returns (address) {
        return owner();
    }

    function exists(bytes32 id) external view returns (bool) {
        return _datasets[id].owner != address(0);
    }

    function get(bytes32 id) public view returns (Dataset memory) {
        Dataset storage d = _datasets[id];
        if (d.owner == address(0)) revert UnknownDataset(id);
        return d;
    }

    /// @notice What a purchase needs, without copying strings: cheap for other contracts.
    function terms(bytes32 id) external view returns (address owner_, Status status, uint256 pricePerQuery) {
        Dataset storage d = _datasets[id];
        if (d.owner == address(0)) revert UnknownDataset(id);
        return (d.owner, d.status, d.pricePerQuery);
    }

    /// @notice Number of datasets ever registered (deleted ones included).
    function count() external view returns (uint256) {
        return _ids.length;
    }

    function idAt(uint256 index) external view returns (bytes32) {
        if (index >= _ids.length) revert IndexOutOfRange(index, _ids.length);
        return _ids[index];
    }

    /// @notice Ids registered by `owner_`, in registration order (deleted ones included).
    function datasetsOf(address owner_) external view returns (bytes32[] memory) {
        return _idsByOwner[owner_];
    }

    /// @notice A page of the enumeration in registration order, so clients list in few calls.
    function slice(uint256 offset, uint256 limit)
        external
        view
        returns (bytes32[] memory ids, Dataset[] memory items)
    {
        uint256 n = _ids.length;
        uint256 end = offset >= n ? offset : (limit > n - offset ? n : offset + limit);
        uint256 len = end - offset;
        ids = new bytes32[](len);
        items = new Dataset[](len);
        for (uint256 i = 0; i < len; ++i) {
            bytes32 id = _ids[offset + i];
            ids[i] = id;
            items[i] = _datasets[id];
        }
    }

    /// @notice Several datasets at once; reverts UnknownDataset on any unknown id.
    function getMany(bytes32[] calldata ids) external view returns (Dataset[] memory items) {
        items = new Dataset[](ids.length);
        for (uint256 i = 0; i < ids.length; ++i) {
            items[i] = get(ids[i]);
        }
    }

    // ------------------------------------------------------------------ internal

    function _checkName(string calldata name) private pure {
        uint256 len = bytes(name).length;
        if (len == 0) revert EmptyName();
        if (len > MAX_NAME_BYTES) revert NameTooLong(len, MAX_NAME_BYTES);
    }

    function _checkCid(string calldata cid) private pure {
        uint256 len = bytes(cid).length;
        if (len == 0) revert EmptyManifestCid();
        if (len > MAX_CID_BYTES) revert ManifestCidTooLong(len, MAX_CID_BYTES);
    }
}
