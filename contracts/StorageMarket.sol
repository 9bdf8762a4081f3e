// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {Ownable2Step} from "@openzeppelin/contracts/access/Ownable2Step.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {MessageHashUtils} from "@openzeppelin/contracts/utils/cryptography/MessageHashUtils.sol";
import {EnumerableSet} from "@openzeppelin/contracts/utils/structs/EnumerableSet.sol";
import {DatasetRegistry} from "./DatasetRegistry.sol";
import {WorkerRegistry} from "./WorkerRegistry.sol";

/// @title W3A storage market: storage orders, TEE-signed work reports, challenges, era rewards
/// @notice A dataset owner places a storage order for the dataset's IPFS roots: `pricePerEra × eras`
///         tokens are escrowed here and the order is assigned to `replication` storage nodes of
///         distinct operators. Storage nodes are WorkerRegistry workers with ROLE_STORAGE (attested,
///         staked there) that their operator registered here (`registerNode`, endpoint + capacity).
///         - Eras: `currentEra()` counts blocks in `eraLength` steps. An order pays for the eras
///           [startEra, endEra) with startEra = the era after the one it was placed in (the
///           nodes fetch the blocks meanwhile) and endEra = startEra + eras.
///         - Work reports: once per era each node's enclave signs a `WorkReport` (EIP-191 over
///           `workReportDigest`); anyone posts it, for the current or the previous era, once per
///           node and era, while the node is an eligible storage worker. A report with
///           `blocksFailed == 0` proves, for that era, each listed order the node is assigned to
///           (other order ids are ignored); one with `blocksFailed > 0` proves nothing.
///         - Challenges: another operator's attested eligible worker (any role) whose fetch of a
///           block failed signs a `Challenge` (EIP-191 over `challengeDigest`); anyone posts it,
///           for the current or the previous era, within the order's paid eras. The challenge
///           names the endpoint fetched (`endpointHash`): only the node's registered endpoint
///           counts (or the one it replaced after `issuedAt`; a node changes its endpoint at most
///           once an era), so a challenger's host cannot have a node failed at an address that
///           is not the node's. Reason 1: not
///           served before `deadline` (which must be past on chain); reason 2: the served bytes do
///           not hash to the CID. One failure counts per (order, era, node): the node forfeits
///           that era's share of the order, `challengeSlash` of its stake is taken (capped at its
///           stake) with `WorkerRegistry.penalize`, and at `maxFailures` failures on an order it
///           is removed from it (`OrderNodeRemoved`) and a replacement is assigned
///           (`OrderAssigned`): the repair trigger. `penalize`, not `slash`: `slash` makes a
///           worker ineligible for good at the first failure, so `maxFailures` could never apply
///           and one network hiccup would end a node; repeated failures still cost it its orders
///           and its stake, and governance can still `slash` a worker outright.
///         - Rewards: `settle(orderId, era)` (anyone, once per order and era, after the era's
///           report window closed, i.e. when `currentEra() > era + 1`) splits `pricePerEra` plus
///           the dataset's job credits (`creditDataset`) equally among the nodes that proved the
///           order that era and failed no challenge for it; the remainder (no prover, rounding)
///           accrues to the order's owner. Everything is pull: `claimStorageEarnings()` pays the
///           caller (node operators, and owners for their unpaid shares). Earnings of a node go
///           to its operator.
///         - Jobs: the Jobs contract sends the storage share of each job's payout with
///           `creditDataset(datasetId, amount)` (O(1)); it is added to the next settlement with
///           provers of one of the dataset's orders. With no live order of the dataset, it
///           accrues to the dataset's owner.
///         - Deletion: `endOrder(orderId)` by the owner at any time, by anyone once the dataset is
///           Deleted in DatasetRegistry or the order's eras are over. The order then ends at the
///           current era (eras before it stay settleable), the escrow of the later eras goes back
///           to the owner at once, the nodes' capacity is freed, and `OrderEnded` tells the nodes
///           to drop its blocks.
///         - Repair without a candidate: when no eligible node of another operator with free
///           capacity is found, the order stays under-replicated (`OrderUnderReplicated`);
///           anyone may call `repair(orderId)` later.
///
///         Assignment is round robin over the registered nodes from a cursor that moves past each
///         picked node, looking at most MAX_ASSIGN_SCAN entries per pick (bounded gas; predictable
///         on purpose, like Jobs). A node never returns to an order it was removed from.
///
/// @dev workReportDigest = keccak256(abi.encode("w3a.storage-report.v1", chainId, this, r))
///      challengeDigest  = keccak256(abi.encode("w3a.storage-challenge.v2", chainId, this, c))
///      where r / c are abi-encoded as one tuple (the struct, fields in declaration order), and
///      the tags as dynamic strings. Signatures: ECDSA over toEthSignedMessageHash(digest),
///      65 bytes, v 27/28 or 0/1, high-s rejected. src/chain/storage-digests.ts computes the same.
contract StorageMarket is Ownable2Step, ReentrancyGuard {
    using SafeERC20 for IERC20;
    using EnumerableSet for EnumerableSet.UintSet;

    // ------------------------------------------------------------------ types

    enum Status {
        None,
        Active,
        Ended
    }

    /// @notice Governance parameters.
    struct Params {
        /// @notice Era length in blocks.
        uint64 eraLength;
        /// @notice Failures on one order that remove a node from it.
        uint32 maxFailures;
        /// @notice Stake taken per recorded challenge failure (capped at the stake).
        uint256 challengeSlash;
    }

    struct WorkReport {
        address node;
        uint64 era;
        bytes32 heldRoot;
        uint64 bytesHeld;
        uint32 blocksSampled;
        uint32 blocksFailed;
        bytes32 addedRoot;
        bytes32 droppedRoot;
        uint256[] orderIds;
    }

    struct Challenge {
        address node;
        uint256 orderId;
        string cid;
        uint64 era;
        uint64 issuedAt;
        uint64 deadline;
        uint8 reason;
        /// @notice keccak256 of the endpoint string the challenger fetched from: it must be the
        ///         node's registered endpoint (or the one it replaced after `issuedAt`).
        bytes32 endpointHash;
    }

    /// @dev A node's last endpoint change: the endpoint it replaced, when, and in which era.
    struct EndpointChange {
        bytes32 previous;
        uint64 changedAt;
        uint64 era;
    }

    struct Node {
        address operator;
        uint64 capacityBytes;
        uint64 usedBytes;
        uint64 registeredAt;
        uint32 failures;
        string endpoint;
    }

    struct NodeView {
        address worker;
        Node info;
        bool eligible;
        uint256 orderCount;
    }

    struct Order {
        bytes32 datasetId;
        address owner;
        uint64 sizeBytes;
        uint8 replication;
        uint32 eras;
        uint64 startEra;
        uint64 endEra;
        Status status;
        uint256 pricePerEra;
        /// @notice Tokens still held for the order's unsettled eras.
        uint256 escrow;
        address[] nodes;
        string[] roots;
    }

    /// @dev Per (order, era, node).
    struct Mark {
        bool proved;
        bool failed;
    }

    uint8 public constant REASON_NOT_SERVED = 1;
    uint8 public constant REASON_BAD_BYTES = 2;
    uint8 public constant DEFAULT_REPLICATION = 3;
    uint8 public constant MAX_REPLICATION = 16;
    uint256 public constant MAX_ROOTS = 64;
    uint256 public constant MAX_CID_BYTES = 128;
    uint256 public constant MAX_REPORT_ORDERS = 256;
    uint256 public constant MAX_ASSIGN_SCAN = 64;
    string private constant WORK_REPORT_TAG = "w3a.storage-report.v1";
    string private constant CHALLENGE_TAG = "w3a.storage-challenge.v2";

    // ------------------------------------------------------------------ state

    WorkerRegistry public immutable workers;
    DatasetRegistry public immutable datasets;
    IERC20 public immutable token;
    /// @notice The jobs contract, the only caller of `creditDataset` (set by governance).
    address public jobs;

    Params private _params;
    /// @dev Eras are counted from (eraOriginBlock, eraOrigin) so a new era length never moves
    ///      past blocks into other eras.
    uint64 private _eraOrigin;
    uint64 private _eraOriginBlock;

    mapping(address worker => Node) private _nodes;
    mapping(address worker => EndpointChange) private _endpointChanges;
    address[] private _nodeList;
    uint256 private _cursor;
    mapping(address worker => EnumerableSet.UintSet) private _nodeOrders;

    Order[] private _orders;
    mapping(bytes32 datasetId => uint256[]) private _datasetOrders;
    mapping(bytes32 datasetId => uint256) private _liveOrders;
    mapping(bytes32 datasetId => uint256) public datasetCredit;
    mapping(uint256 orderId => mapping(address node => bool)) private _assigned;
    mapping(uint256 orderId => mapping(address node => bool)) private _removed;
    mapping(uint256 orderId => mapping(address node => uint32)) public orderFailures;
    mapping(uint256 orderId => mapping(uint64 era => mapping(address node => Mark))) private _marks;
    mapping(uint256 orderId => mapping(uint64 era => address[])) private _provers;
    mapping(uint256 orderId => mapping(uint64 era => bool)) public settled;
    mapping(address node => mapping(uint64 era => bool)) public reported;

    mapping(address account => uint256) private _earnings;
    /// @notice Sum of unclaimed earnings.
    uint256 public totalEarnings;

    // ------------------------------------------------------------------ events

    event ParamsSet(Params params);
    event JobsSet(address jobs);
    event NodeRegistered(address indexed node, address indexed operator, string endpoint, uint64 capacityBytes);
    event OrderPlaced(uint256 indexed orderId, bytes32 indexed datasetId, string[] roots, uint64 sizeBytes, uint8 replication);
    event OrderAssigned(uint256 indexed orderId, address indexed node);
    event OrderNodeRemoved(uint256 indexed orderId, address indexed node);
    event OrderUnderReplicated(uint256 indexed orderId, uint256 nodes, uint8 replication);
    /// @notice `refund`: the escrow of the eras from the end on, sent back to the owner.
    event OrderEnded(uint256 indexed orderId, uint256 refund);
    event WorkReportAccepted(address indexed node, uint64 indexed era, bytes32 heldRoot, uint64 bytesHeld, uint32 blocksSampled, uint32 blocksFailed, uint256 proved);
    event ChallengeFailed(uint256 indexed orderId, address indexed node, address indexed challenger, uint64 era, uint8 reason, uint256 slashed, uint32 failures);
    event SlashFailed(uint256 indexed orderId, address indexed node);
    event Settled(uint256 indexed orderId, uint64 indexed era, uint256 amount, uint256 provers, uint256 perNode);
    event DatasetCredited(bytes32 indexed datasetId, uint256 amount);
    event EarningsAccrued(address indexed account, uint256 amount);
    event Claimed(address indexed account, uint256 amount);

    // ------------------------------------------------------------------ errors

    error ZeroAddress();
    error InvalidParameter(string name);
    error NotJobs(address caller);
    error NotWorkerOperator(address worker, address caller);
    error NotStorageWorker(address worker);
    error WorkerNotEligible(address worker);
    error EndpointTooLong(uint256 length, uint256 max);
    error EndpointChangedThisEra(address node, uint64 era);
    error ChallengeEndpointMismatch(address node, bytes32 endpointHash);
    error UnknownNode(address node);
    error UnknownDataset(bytes32 datasetId);
    error NotDatasetOwner(bytes32 datasetId, address caller);
    error DatasetDeleted(bytes32 datasetId);
    error NoRoots();
    error TooManyRoots(uint256 count, uint256 max);
    error BadRoot(uint256 index);
    error ZeroSize();
    error ZeroEras();
    error ReplicationTooHigh(uint8 replication, uint8 max);
    error InsufficientAllowance(uint256 allowance, uint256 needed);
    error InsufficientBalance(uint256 balance, uint256 needed);
    error NotEnoughStorageNodes(uint256 found, uint8 needed);
    error UnknownOrder(uint256 orderId);
    error OrderNotActive(uint256 orderId);
    error NotOrderOwner(uint256 orderId, address caller);
    error ReportEraOutOfWindow(uint64 era, uint64 currentEra);
    error TooManyReportOrders(uint256 count, uint256 max);
    error BadReportSignature(address node);
    error AlreadyReported(address node, uint64 era);
    error InvalidChallengeReason(uint8 reason);
    error ChallengeEraOutOfWindow(uint64 era, uint64 currentEra);
    error ChallengeDeadlineNotPassed(uint64 deadline);
    error BadChallengeTimes(uint64 issuedAt, uint64 deadline);
    error NodeNotAssigned(uint256 orderId, address node);
    error BadChallengeSignature();
    error ChallengerNotEligible(address challenger);
    error SameOperatorChallenger(address challenger, address operator);
    error FailureAlreadyRecorded(uint256 orderId, uint64 era, address node);
    error EraNotSettleable(uint256 orderId, uint64 era, uint64 currentEra);
    error AlreadySettled(uint256 orderId, uint64 era);
    error NothingToClaim(address account);

    /// @param jobs_ The jobs contract that may `creditDataset` (zero: none until `setJobs`).
    constructor(WorkerRegistry workers_, DatasetRegistry datasets_, address jobs_, address governance_, Params memory params_) Ownable(governance_) {
        if (address(workers_) == address(0) || address(datasets_) == address(0)) revert ZeroAddress();
        jobs = jobs_;
        workers = workers_;
        datasets = datasets_;
        token = workers_.token();
        _eraOriginBlock = uint64(block.number);
        _setParams(params_);
    }

    // ------------------------------------------------------------------ governance

    /// @notice A new era length starts a new era at once (eras already passed keep their numbers).
    function setParams(Params calldata params_) external onlyOwner {
        if (params_.eraLength != _params.eraLength) {
            _eraOrigin = currentEra() + 1;
            _eraOriginBlock = uint64(block.number);
        }
        _setParams(params_);
    }

    /// @notice Names the jobs contract that credits datasets with the storage share of job payouts.
    function setJobs(address jobs_) external onlyOwner {
        jobs = jobs_;
        emit JobsSet(jobs_);
    }

    // ------------------------------------------------------------------ nodes

    /// @notice The operator of a WorkerRegistry worker with ROLE_STORAGE, eligible now, offers it
    ///         as a storage node (or updates its endpoint and capacity).
    function registerNode(address worker, string calldata endpoint, uint64 capacityBytes) external {
        WorkerRegistry.Worker memory w = workers.getWorker(worker);
        if (w.operator != msg.sender) revert NotWorkerOperator(worker, msg.sender);
        if (w.roles & workers.ROLE_STORAGE() == 0) revert NotStorageWorker(worker);
        if (!workers.isEligible(worker)) revert WorkerNotEligible(worker);
        uint256 len = bytes(endpoint).length;
        if (len > workers.MAX_ENDPOINT_BYTES()) revert EndpointTooLong(len, workers.MAX_ENDPOINT_BYTES());
        Node storage n = _nodes[worker];
        if (n.operator == address(0)) {
            n.operator = msg.sender;
            n.registeredAt = uint64(block.timestamp);
            _nodeList.push(worker);
        } else if (keccak256(bytes(endpoint)) != keccak256(bytes(n.endpoint))) {
            // Once an era: a node cannot move twice while a challenge of its old endpoint is being recorded.
            uint64 era = currentEra();
            EndpointChange storage ch = _endpointChanges[worker];
            if (ch.changedAt != 0 && ch.era == era) revert EndpointChangedThisEra(worker, era);
            ch.previous = keccak256(bytes(n.endpoint));
            ch.changedAt = uint64(block.timestamp);
            ch.era = era;
        }
        n.endpoint = endpoint;
        n.capacityBytes = capacityBytes;
        emit NodeRegistered(worker, msg.sender, endpoint, capacityBytes);
    }

    // ------------------------------------------------------------------ owners

    /// @notice The dataset's owner stores its roots: escrows `pricePerEra × eras` (approve this
    ///         contract first) and assigns `replication` (0: DEFAULT_REPLICATION) nodes of
    ///         distinct operators; reverts with NotEnoughStorageNodes when there are not enough.
    function placeOrder(bytes32 datasetId, string[] calldata roots, uint64 sizeBytes, uint8 replication, uint32 eras, uint256 pricePerEra)
        external
        nonReentrant
        returns (uint256 orderId)
    {
        _checkOwner(datasetId);
        _checkRoots(roots);
        if (sizeBytes == 0) revert ZeroSize();
        if (eras == 0) revert ZeroEras();
        if (replication == 0) replication = DEFAULT_REPLICATION;
        if (replication > MAX_REPLICATION) revert ReplicationTooHigh(replication, MAX_REPLICATION);

        orderId = _orders.length;
        Order storage o = _orders.push();
        o.datasetId = datasetId;
        o.owner = msg.sender;
        o.sizeBytes = sizeBytes;
        o.replication = replication;
        o.eras = eras;
        o.startEra = currentEra() + 1;
        o.endEra = o.startEra + eras;
        o.status = Status.Active;
        o.pricePerEra = pricePerEra;
        o.escrow = pricePerEra * eras;
        for (uint256 i = 0; i < roots.length; ++i) o.roots.push(roots[i]);
        _datasetOrders[datasetId].push(orderId);
        _liveOrders[datasetId] += 1;
        emit OrderPlaced(orderId, datasetId, roots, sizeBytes, replication);
        uint256 found = _fill(orderId, o);
        if (found < replication) revert NotEnoughStorageNodes(found, replication);

        uint256 amount = o.escrow;
        if (amount > 0) {
            uint256 allowance = token.allowance(msg.sender, address(this));
            if (allowance < amount) revert InsufficientAllowance(allowance, amount);
            uint256 balance = token.balanceOf(msg.sender);
            if (balance < amount) revert InsufficientBalance(balance, amount);
            token.safeTransferFrom(msg.sender, address(this), amount);
        }
    }

    /// @notice Ends an order at the current era (see the contract notice for who may) and sends
    ///         the escrow of its remaining eras back to the owner.
    function endOrder(uint256 orderId) external nonReentrant {
        Order storage o = _order(orderId);
        if (o.status != Status.Active) revert OrderNotActive(orderId);
        uint64 era = currentEra();
        if (msg.sender != o.owner && era < o.endEra) {
            (, DatasetRegistry.Status status,) = datasets.terms(o.datasetId);
            if (status != DatasetRegistry.Status.Deleted) revert NotOrderOwner(orderId, msg.sender);
        }
        uint64 end = era < o.startEra ? o.startEra : era;
        uint256 refund;
        if (end < o.endEra) {
            refund = o.pricePerEra * (o.endEra - end);
            o.endEra = end;
            o.escrow -= refund;
        }
        o.status = Status.Ended;
        for (uint256 i = 0; i < o.nodes.length; ++i) _release(orderId, o, o.nodes[i]);
        bytes32 datasetId = o.datasetId;
        if (--_liveOrders[datasetId] == 0 && datasetCredit[datasetId] > 0) {
            uint256 credit = datasetCredit[datasetId];
            datasetCredit[datasetId] = 0;
            _accrue(o.owner, credit);
        }
        emit OrderEnded(orderId, refund);
        if (refund > 0) token.safeTransfer(o.owner, refund);
    }

    // ------------------------------------------------------------------ nodes' proofs

    /// @notice Posts a node's signed work report (anyone may post it; the signature counts).
    function submitWorkReport(WorkReport calldata r, bytes calldata signature) external {
        uint64 era = currentEra();
        if (r.era != era && r.era + 1 != era) revert ReportEraOutOfWindow(r.era, era);
        if (r.orderIds.length > MAX_REPORT_ORDERS) revert TooManyReportOrders(r.orderIds.length, MAX_REPORT_ORDERS);
        if (_nodes[r.node].operator == address(0)) revert UnknownNode(r.node);
        if (!workers.isEligible(r.node)) revert WorkerNotEligible(r.node);
        if (reported[r.node][r.era]) revert AlreadyReported(r.node, r.era);
        if (_recover(workReportDigest(r), signature) != r.node) revert BadReportSignature(r.node);
        reported[r.node][r.era] = true;
        uint256 proved;
        if (r.blocksFailed == 0) {
            for (uint256 i = 0; i < r.orderIds.length; ++i) {
                uint256 id = r.orderIds[i];
                if (id >= _orders.length || !_assigned[id][r.node]) continue;
                Mark storage m = _marks[id][r.era][r.node];
                if (m.proved) continue;
                m.proved = true;
                _provers[id][r.era].push(r.node);
                ++proved;
            }
        }
        emit WorkReportAccepted(r.node, r.era, r.heldRoot, r.bytesHeld, r.blocksSampled, r.blocksFailed, proved);
    }

    /// @notice Records a failed challenge signed by another operator's eligible worker (anyone
    ///         may post it): forfeit, stake penalty, and removal + replacement at `maxFailures`.
    function recordChallengeFailure(Challenge calldata c, bytes calldata challengerSignature) external nonReentrant {
        if (c.reason != REASON_NOT_SERVED && c.reason != REASON_BAD_BYTES) revert InvalidChallengeReason(c.reason);
        if (c.issuedAt > c.deadline) revert BadChallengeTimes(c.issuedAt, c.deadline);
        if (c.reason == REASON_NOT_SERVED && c.deadline >= block.timestamp) revert ChallengeDeadlineNotPassed(c.deadline);
        Order storage o = _order(c.orderId);
        uint64 era = currentEra();
        if ((c.era != era && c.era + 1 != era) || c.era < o.startEra || c.era >= o.endEra) revert ChallengeEraOutOfWindow(c.era, era);
        if (!_assigned[c.orderId][c.node]) revert NodeNotAssigned(c.orderId, c.node);
        _checkChallengeEndpoint(c);
        address challenger = _recover(challengeDigest(c), challengerSignature);
        if (challenger == address(0)) revert BadChallengeSignature();
        if (!workers.isEligible(challenger)) revert ChallengerNotEligible(challenger);
        address operator = _nodes[c.node].operator;
        if (workers.getWorker(challenger).operator == operator) revert SameOperatorChallenger(challenger, operator);
        Mark storage m = _marks[c.orderId][c.era][c.node];
        if (m.failed) revert FailureAlreadyRecorded(c.orderId, c.era, c.node);
        m.failed = true;

        Node storage n = _nodes[c.node];
        n.failures += 1;
        uint32 failures = ++orderFailures[c.orderId][c.node];
        uint256 slashed = _penalize(c.orderId, c.node);
        emit ChallengeFailed(c.orderId, c.node, challenger, c.era, c.reason, slashed, failures);
        if (failures >= _params.maxFailures && o.status == Status.Active) {
            _removed[c.orderId][c.node] = true;
            _release(c.orderId, o, c.node);
            _assigned[c.orderId][c.node] = false;
            _dropNode(o, c.node);
            emit OrderNodeRemoved(c.orderId, c.node);
            _fill(c.orderId, o);
        }
    }

    /// @notice Tries again to bring an under-replicated active order to full replication.
    function repair(uint256 orderId) external returns (uint256 assigned) {
        Order storage o = _order(orderId);
        if (o.status != Status.Active) revert OrderNotActive(orderId);
        return _fill(orderId, o);
    }

    // ------------------------------------------------------------------ rewards

    /// @notice Credits one era of an order to the nodes that proved it (see the contract notice).
    function settle(uint256 orderId, uint64 era) external nonReentrant {
        Order storage o = _order(orderId);
        uint64 now_ = currentEra();
        if (era < o.startEra || era >= o.endEra || era + 1 >= now_) revert EraNotSettleable(orderId, era, now_);
        if (settled[orderId][era]) revert AlreadySettled(orderId, era);
        settled[orderId][era] = true;
        o.escrow -= o.pricePerEra;

        address[] storage provers = _provers[orderId][era];
        uint256 count;
        for (uint256 i = 0; i < provers.length; ++i) if (!_marks[orderId][era][provers[i]].failed) ++count;
        uint256 amount = o.pricePerEra;
        uint256 perNode;
        if (count > 0) {
            amount += datasetCredit[o.datasetId];
            datasetCredit[o.datasetId] = 0;
            perNode = amount / count;
            for (uint256 i = 0; i < provers.length; ++i) {
                if (!_marks[orderId][era][provers[i]].failed) _accrue(_nodes[provers[i]].operator, perNode);
            }
        }
        _accrue(o.owner, amount - perNode * count);
        emit Settled(orderId, era, amount, count, perNode);
    }

    /// @notice Jobs only: the storage share of a job's payout (Jobs transfers the tokens in the
    ///         same transaction). O(1).
    function creditDataset(bytes32 datasetId, uint256 amount) external {
        if (msg.sender != jobs || jobs == address(0)) revert NotJobs(msg.sender);
        if (_liveOrders[datasetId] == 0) {
            (address owner_,,) = datasets.terms(datasetId);
            _accrue(owner_, amount);
        } else {
            datasetCredit[datasetId] += amount;
        }
        emit DatasetCredited(datasetId, amount);
    }

    /// @notice Withdraws everything accrued to the caller.
    function claimStorageEarnings() external nonReentrant returns (uint256 amount) {
        amount = _earnings[msg.sender];
        if (amount == 0) revert NothingToClaim(msg.sender);
        _earnings[msg.sender] = 0;
        totalEarnings -= amount;
        emit Claimed(msg.sender, amount);
        token.safeTransfer(msg.sender, amount);
    }

    // ------------------------------------------------------------------ views

    function governance() external view returns (address) {
        return owner();
    }

    function params() external view returns (Params memory) {
        return _params;
    }

    function currentEra() public view returns (uint64) {
        return _eraOrigin + (uint64(block.number) - _eraOriginBlock) / _params.eraLength;
    }

    function storageEarnings(address account) external view returns (uint256) {
        return _earnings[account];
    }

    function nodeCount() external view returns (uint256) {
        return _nodeList.length;
    }

    function getNode(address worker) public view returns (NodeView memory) {
        Node storage n = _nodes[worker];
        if (n.operator == address(0)) revert UnknownNode(worker);
        return NodeView({worker: worker, info: n, eligible: workers.isEligible(worker), orderCount: _nodeOrders[worker].length()});
    }

    /// @notice Every registered node with its current eligibility.
    function nodes() external view returns (NodeView[] memory items) {
        items = new NodeView[](_nodeList.length);
        for (uint256 i = 0; i < items.length; ++i) items[i] = getNode(_nodeList[i]);
    }

    function orderCount() external view returns (uint256) {
        return _orders.length;
    }

    function getOrder(uint256 orderId) external view returns (Order memory) {
        return _order(orderId);
    }

    /// @notice A page of orders by id.
    function orderSlice(uint256 offset, uint256 limit) external view returns (Order[] memory items) {
        uint256 n = _orders.length;
        uint256 end = offset >= n ? offset : (limit > n - offset ? n : offset + limit);
        items = new Order[](end - offset);
        for (uint256 i = 0; i < items.length; ++i) items[i] = _orders[offset + i];
    }

    /// @notice The active orders a node is assigned to now.
    function ordersOfNode(address node) external view returns (uint256[] memory) {
        return _nodeOrders[node].values();
    }

    /// @notice Every order ever placed for the dataset.
    function ordersOfDataset(bytes32 datasetId) external view returns (uint256[] memory) {
        return _datasetOrders[datasetId];
    }

    /// @notice Whether `node` proved `orderId` in `era`, and whether it failed a challenge for it.
    function proofOf(uint256 orderId, uint64 era, address node) external view returns (bool proved, bool failed) {
        Mark storage m = _marks[orderId][era][node];
        return (m.proved, m.failed);
    }

    /// @notice What a node's enclave signs (EIP-191) for its work report.
    function workReportDigest(WorkReport calldata r) public view returns (bytes32) {
        return keccak256(abi.encode(WORK_REPORT_TAG, block.chainid, address(this), r));
    }

    /// @notice What a challenger's enclave signs (EIP-191) for a failed challenge.
    function challengeDigest(Challenge calldata c) public view returns (bytes32) {
        return keccak256(abi.encode(CHALLENGE_TAG, block.chainid, address(this), c));
    }

    // ------------------------------------------------------------------ internal

    /// @dev The endpoint the challenger fetched from is the node's: registered now, or the one it
    ///      replaced after the challenge was issued (a node cannot void a failure by moving).
    function _checkChallengeEndpoint(Challenge calldata c) private view {
        if (c.endpointHash == keccak256(bytes(_nodes[c.node].endpoint))) return;
        EndpointChange storage ch = _endpointChanges[c.node];
        if (ch.changedAt != 0 && ch.changedAt >= c.issuedAt && c.endpointHash == ch.previous) return;
        revert ChallengeEndpointMismatch(c.node, c.endpointHash);
    }

    function _checkOwner(bytes32 datasetId) private view {
        if (!datasets.exists(datasetId)) revert UnknownDataset(datasetId);
        (address owner_, DatasetRegistry.Status status,) = datasets.terms(datasetId);
        if (owner_ != msg.sender) revert NotDatasetOwner(datasetId, msg.sender);
        if (status == DatasetRegistry.Status.Deleted) revert DatasetDeleted(datasetId);
    }

    function _checkRoots(string[] calldata roots) private pure {
        if (roots.length == 0) revert NoRoots();
        if (roots.length > MAX_ROOTS) revert TooManyRoots(roots.length, MAX_ROOTS);
        for (uint256 i = 0; i < roots.length; ++i) {
            uint256 len = bytes(roots[i]).length;
            if (len == 0 || len > MAX_CID_BYTES) revert BadRoot(i);
        }
    }

    function _order(uint256 orderId) private view returns (Order storage) {
        if (orderId >= _orders.length) revert UnknownOrder(orderId);
        return _orders[orderId];
    }

    /// @dev Assigns nodes until the order has `replication` of them or the bounded scan ends;
    ///      returns how many it has then.
    function _fill(uint256 orderId, Order storage o) private returns (uint256) {
        uint256 n = _nodeList.length;
        uint256 scan = n < MAX_ASSIGN_SCAN ? n : MAX_ASSIGN_SCAN;
        uint256 cursor = _cursor;
        for (uint256 i = 0; i < scan && o.nodes.length < o.replication; ++i) {
            uint256 index = (cursor + i) % n;
            address candidate = _nodeList[index];
            if (!_fits(orderId, o, candidate)) continue;
            o.nodes.push(candidate);
            _assigned[orderId][candidate] = true;
            _nodes[candidate].usedBytes += o.sizeBytes;
            _nodeOrders[candidate].add(orderId);
            _cursor = index + 1;
            emit OrderAssigned(orderId, candidate);
        }
        if (o.nodes.length < o.replication) emit OrderUnderReplicated(orderId, o.nodes.length, o.replication);
        return o.nodes.length;
    }

    /// @dev Free capacity, not on the order (now or before), another operator than its nodes', eligible.
    function _fits(uint256 orderId, Order storage o, address candidate) private view returns (bool) {
        Node storage c = _nodes[candidate];
        if (_assigned[orderId][candidate] || _removed[orderId][candidate]) return false;
        if (c.usedBytes + uint256(o.sizeBytes) > c.capacityBytes) return false;
        for (uint256 j = 0; j < o.nodes.length; ++j) if (_nodes[o.nodes[j]].operator == c.operator) return false;
        return workers.isEligible(candidate);
    }

    /// @dev Frees the node's capacity and takes the order off its list (it stays `_assigned`, so
    ///      a report for an era before the end still proves it).
    function _release(uint256 orderId, Order storage o, address node) private {
        if (!_nodeOrders[node].remove(orderId)) return;
        Node storage n = _nodes[node];
        n.usedBytes = n.usedBytes > o.sizeBytes ? n.usedBytes - o.sizeBytes : 0;
    }

    function _dropNode(Order storage o, address node) private {
        uint256 last = o.nodes.length - 1;
        for (uint256 i = 0; i <= last; ++i) {
            if (o.nodes[i] == node) {
                o.nodes[i] = o.nodes[last];
                o.nodes.pop();
                return;
            }
        }
    }

    /// @dev A failing penalty (e.g. this contract no longer a slasher) must not block the
    ///      forfeit and the repair, so it is reported (SlashFailed) instead of reverting.
    function _penalize(uint256 orderId, address node) private returns (uint256 amount) {
        amount = _params.challengeSlash;
        uint256 stake = workers.getWorker(node).stake;
        if (amount > stake) amount = stake;
        if (amount == 0) return 0;
        try workers.penalize(node, amount, "w3a: storage challenge failed") {
            return amount;
        } catch {
            emit SlashFailed(orderId, node);
            return 0;
        }
    }

    function _accrue(address account, uint256 amount) private {
        if (amount == 0) return;
        _earnings[account] += amount;
        totalEarnings += amount;
        emit EarningsAccrued(account, amount);
    }

    /// @dev v as 27/28 or 0/1; zero for a wrong length, a high-s twin or no signer.
    function _recover(bytes32 digest, bytes calldata signature) private pure returns (address) {
        if (signature.length != 65) return address(0);
        bytes32 r = bytes32(signature[0:32]);
        bytes32 s = bytes32(signature[32:64]);
        uint8 v = uint8(signature[64]);
        if (v < 27) v += 27;
        (address signer, ECDSA.RecoverError err,) = ECDSA.tryRecover(MessageHashUtils.toEthSignedMessageHash(digest), v, r, s);
        return err == ECDSA.RecoverError.NoError ? signer : address(0);
    }

    function _setParams(Params memory p) private {
        if (p.eraLength == 0) revert InvalidParameter("eraLength");
        if (p.maxFailures == 0) revert InvalidParameter("maxFailures");
        _params = p;
        emit ParamsSet(p);
    }
}
