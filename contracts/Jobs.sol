// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {Ownable2Step} from "@openzeppelin/contracts/access/Ownable2Step.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {MessageHashUtils} from "@openzeppelin/contracts/utils/cryptography/MessageHashUtils.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {DatasetRegistry} from "./DatasetRegistry.sol";
import {WorkerRegistry} from "./WorkerRegistry.sol";
import {Market} from "./Market.sol";
import {CustodyInbox} from "./CustodyInbox.sol";
import {StorageMarket} from "./StorageMarket.sol";

/// @title W3A jobs: analysis requests, worker assignment, signed results, payouts and refunds
/// @notice An analyst holding a credit submits a job (dataset, sealed analysis CID + hash, privacy
///         parameters hash, worker fee). The job takes one credit (Market.reserve) and the fee
///         (into this contract) and is assigned to an eligible compute worker. The worker ends it:
///         - `submitResult`: a result commitment signed (EIP-191) by the worker key over
///           `resultDigest`; the credit's escrowed price is split owner / worker / treasury by
///           governance shares (basis points, at payout time) and the fee goes to the worker;
///         - `submitFailure`: a TEE-signed error report over `failureDigest`; by its reason code,
///           the analyst's doing (refused or malformed analysis, budget or access refused) is paid
///           out like a result, while a failure of the worker or the network gives the credit back
///           to the analyst and refunds the fee (`isAnalystFault`).
///         After the deadline anyone may call `timeout`: the worker loses `slashAmount` of its
///         stake (capped at it; `WorkerRegistry.penalize`, so it stays eligible) and the job is reassigned once to another eligible worker with a
///         new deadline; on the second timeout (or when nobody else is eligible) it is refunded.
/// @dev Payments are pull-based: amounts accrue to `earningsOf(account)` and `claim()` withdraws.
///      Worker payments accrue to the worker's *operator* (who staked it), not to the enclave key.
///      Refunded fees accrue to the analyst the same way; refunded credits return to the market.
///
///      Assignment is round-robin over the WorkerRegistry's compute set (Active, unslashed compute
///      workers, swap-and-pop): from a cursor that moves past each assigned worker, the first
///      that `isEligible` (online, measurement allowed, sim allowed) and is not excluded, looking
///      at most MAX_ASSIGN_SCAN entries. It is deterministic and predictable on purpose (a
///      blockhash would be no less manipulable); the work per call is bounded.
///
///      inputCidsHash = keccak256(bytes(manifestCid)) of the dataset's manifest CID string as
///      registered at submission (snapshotted in the job, so a later manifest update does not
///      change what the worker must sign).
///      resultDigest  = keccak256(abi.encode("w3a.result.v1", chainId, jobs, jobId,
///                      inputCidsHash, analysisHash, outputHash, privacyParamsHash))
///      failureDigest = keccak256(abi.encode("w3a.failure.v1", chainId, jobs, jobId,
///                      inputCidsHash, analysisHash, privacyParamsHash, uint8 reasonCode, reasonHash))
///      poolResultDigest = keccak256(abi.encode("w3a.pool-result.v1", chainId, jobs, jobId,
///                      inputCidsHash, analysisHash, outputHash, privacyParamsHash, weightsRoot, uint256 totalWeight))
///
///      Pools (DatasetRegistry.isPool): a pool job ends with `submitPoolResult`, whose signed
///      commitment carries the root of the per-contributor weights the worker computed (units of
///      each contributor whose rows entered the job) and their total. The owner share is not paid
///      to anyone then: it is kept for the job (O(1) gas whatever the number of contributors), and
///      each contributor pulls `amount × weight / totalWeight` with a Merkle proof of its leaf
///      (`claimRoyalties`, src/chain/royalty-tree.ts): leaf = keccak256(bytes.concat(keccak256(
///      abi.encode(address contributor, uint256 weight)))), pairs hashed sorted (OpenZeppelin
///      MerkleProof). Floor rounding leaves under one base unit per contributor unclaimed.
///      (tags abi-encoded as dynamic strings). Signatures: ECDSA over
///      toEthSignedMessageHash(digest), 65 bytes, v 27/28 or 0/1, high-s rejected.
contract Jobs is Ownable2Step, ReentrancyGuard {
    using SafeERC20 for IERC20;

    enum Status {
        Open,
        Completed,
        Failed,
        Refunded
    }

    /// @notice Governance parameters. Shares are basis points summing to 10 000. `storageBps`
    ///         (at most `ownerShareBps`) is taken out of the owners' share and sent to the storage
    ///         market for the nodes storing the dataset (`StorageMarket.creditDataset`); it is
    ///         paid to the owner instead while no storage market is set.
    struct Params {
        uint16 ownerShareBps;
        uint16 workerShareBps;
        uint16 treasuryShareBps;
        uint16 storageBps;
        uint64 jobTimeout;
        uint256 slashAmount;
        address treasury;
    }

    struct Job {
        address analyst;
        Status status;
        /// @notice 1 for the first assignment, 2 after a reassignment.
        uint8 attempt;
        uint64 createdAt;
        uint64 deadline;
        address worker;
        bytes32 datasetId;
        bytes32 analysisHash;
        bytes32 privacyParamsHash;
        bytes32 inputCidsHash;
        /// @notice Set by a result; the failure report's reasonHash for a failure.
        bytes32 outputHash;
        uint8 reasonCode;
        uint256 fee;
        /// @notice The escrowed price of the reserved credit.
        uint256 creditValue;
        /// @notice The ε the analyst asked for, in millionths (0 = no differential privacy).
        uint64 epsilonMicros;
        string analysisCid;
        /// @notice The dataset is a pool: its result must carry the contributors' weights.
        bool pool;
        /// @notice The analysis kind the analyst declares (0 SQL, 1 per-unit function); keepers
        ///         check it against the policy before charging, and against the sealed analysis at release.
        uint8 analysisKind;
        /// @notice A function job's functionHash (src/analysis/analysis-request.ts), zero for SQL.
        bytes32 functionHash;
        /// @notice The purpose the analyst declares: pool contributors' consent is checked against it.
        string purpose;
    }

    /// @notice What the analyst declares in clear about a job (see `submitJob`).
    struct Declared {
        uint8 analysisKind;
        bytes32 functionHash;
        string purpose;
    }

    /// @notice What a pool job owes its contributors, claimed with proofs against `weightsRoot`.
    struct Royalty {
        bytes32 weightsRoot;
        uint256 totalWeight;
        uint256 amount;
        bytes32 poolId;
    }

    uint256 public constant BPS = 10_000;
    uint256 public constant MAX_CID_BYTES = 128;
    uint256 public constant MAX_PURPOSE_BYTES = 128;
    uint8 public constant KIND_SQL = 0;
    uint8 public constant KIND_FUNCTION = 1;
    /// @notice Bound on the workers one assignment looks at: the work of `submitJob` and
    ///         `timeout` never grows with the registry. Exited and slashed workers are not in the
    ///         compute set at all; offline ones are until anyone `prune`s them.
    uint256 public constant MAX_ASSIGN_SCAN = 64;
    /// @dev Bit n set: reason code n is the analyst's doing (see `isAnalystFault`).
    uint256 private constant ANALYST_FAULT_CODES = (1 << 1) | (1 << 2) | (1 << 4) | (1 << 5) | (1 << 9);
    string private constant RESULT_TAG = "w3a.result.v1";
    string private constant FAILURE_TAG = "w3a.failure.v1";
    string private constant POOL_RESULT_TAG = "w3a.pool-result.v1";
    string private constant CHARGE_TAG = "w3a.job-charge.v3";

    Market public immutable market;
    DatasetRegistry public immutable datasets;
    WorkerRegistry public immutable workers;
    IERC20 public immutable token;
    /// @notice Where each job's charge is posted, so that every keeper charges uses and ε in
    ///         the same order as the custody commands (see `submitJob`).
    CustodyInbox public immutable inbox;

    Params private _params;
    Job[] private _jobs;
    mapping(address account => uint256) private _earnings;
    /// @notice Sum of all unclaimed earnings (what this contract owes, besides royalties).
    uint256 public totalEarnings;
    mapping(uint256 jobId => Royalty) private _royalties;
    mapping(uint256 jobId => mapping(address contributor => bool)) public royaltyClaimed;
    /// @notice Per pool and contributor, the royalties claimed so far (what `w3a earnings` shows per pool).
    mapping(bytes32 poolId => mapping(address contributor => uint256)) public royaltiesOf;
    /// @notice Royalties kept for pool jobs and not yet claimed (rounding dust included).
    uint256 public totalRoyalties;
    uint256 private _cursor;
    /// @notice Where the storage share of payouts goes (zero: none; set by governance).
    StorageMarket public storageMarket;

    event ParamsSet(Params params);
    event StorageMarketSet(address storageMarket);
    /// @notice The storage share of a job's payout went to the storage market for `datasetId`.
    event StorageCredited(uint256 indexed jobId, bytes32 indexed datasetId, uint256 amount);
    event JobSubmitted(
        uint256 indexed jobId,
        address indexed analyst,
        bytes32 indexed datasetId,
        string analysisCid,
        bytes32 analysisHash,
        bytes32 privacyParamsHash,
        bytes32 inputCidsHash,
        uint256 fee,
        uint256 creditValue
    );
    event JobAssigned(uint256 indexed jobId, address indexed worker, uint8 attempt, uint64 deadline);
    event JobCompleted(
        uint256 indexed jobId,
        address indexed worker,
        bytes32 outputHash,
        uint256 ownerAmount,
        uint256 workerAmount,
        uint256 treasuryAmount,
        uint256 fee
    );
    event JobFailed(uint256 indexed jobId, address indexed worker, uint8 reasonCode, bytes32 reasonHash);
    /// @notice A failure of the analyst's doing (`isAnalystFault`): credit and fee paid out, not refunded.
    event FailureCharged(
        uint256 indexed jobId, address indexed analyst, uint256 ownerAmount, uint256 workerAmount, uint256 treasuryAmount, uint256 fee
    );
    event JobTimedOut(uint256 indexed jobId, address indexed worker, uint8 attempt, uint256 slashed);
    event JobRefunded(uint256 indexed jobId, address indexed analyst, uint256 creditValue, uint256 fee);
    event SlashFailed(uint256 indexed jobId, address indexed worker);
    event EarningsAccrued(address indexed account, uint256 indexed jobId, uint256 amount);
    event Claimed(address indexed account, uint256 amount);
    event PoolJobCompleted(uint256 indexed jobId, bytes32 indexed poolId, bytes32 weightsRoot, uint256 totalWeight, uint256 amount);
    event RoyaltyClaimed(uint256 indexed jobId, bytes32 indexed poolId, address indexed contributor, uint256 weight, uint256 amount);

    error ZeroAddress();
    error InvalidParameter(string name);
    error UnknownJob(uint256 jobId);
    error UnknownDataset(bytes32 datasetId);
    error DatasetNotActive(bytes32 datasetId);
    error NoCredits(address analyst, bytes32 datasetId);
    error EmptyAnalysisCid();
    error AnalysisCidTooLong(uint256 length, uint256 max);
    error InsufficientAllowance(uint256 allowance, uint256 needed);
    error InsufficientBalance(uint256 balance, uint256 needed);
    error NoEligibleWorker();
    error JobNotOpen(uint256 jobId, Status status);
    error NotAssignedWorker(uint256 jobId, address caller);
    error BadResultSignature(uint256 jobId);
    error BadFailureSignature(uint256 jobId);
    error DeadlineNotReached(uint256 jobId, uint64 deadline);
    error NothingToClaim(address account);
    error IndexOutOfRange(uint256 index, uint256 count);
    error BadAnalysisKind(uint8 kind);
    error PurposeTooLong(uint256 length, uint256 max);
    error PurposeRequired(bytes32 datasetId);
    error PoolJob(uint256 jobId);
    error NotPoolJob(uint256 jobId);
    error BadPoolResultSignature(uint256 jobId);
    error NoRoyalty(uint256 jobId);
    error RoyaltyAlreadyClaimed(uint256 jobId, address contributor);
    error BadRoyaltyProof(uint256 jobId, address contributor);
    error LengthMismatch();

    constructor(Market market_, WorkerRegistry workers_, CustodyInbox inbox_, address governance_, Params memory params_) Ownable(governance_) {
        if (address(market_) == address(0) || address(workers_) == address(0) || address(inbox_) == address(0)) revert ZeroAddress();
        inbox = inbox_;
        market = market_;
        datasets = market_.datasets();
        workers = workers_;
        token = market_.token();
        _setParams(params_);
    }

    // ------------------------------------------------------------------ governance

    /// @notice Shares apply to payouts made afterwards, the timeout to assignments made afterwards.
    function setParams(Params calldata params_) external onlyOwner {
        _setParams(params_);
    }

    /// @notice Names the storage market that receives the storage share (zero: none).
    function setStorageMarket(StorageMarket storageMarket_) external onlyOwner {
        storageMarket = storageMarket_;
        emit StorageMarketSet(address(storageMarket_));
    }

    // ------------------------------------------------------------------ analysts

    /// @notice Submits a job on a dataset the caller holds a credit for; approve `fee` tokens to
    ///         this contract first. Returns the job id (also in JobSubmitted / JobAssigned).
    ///         The job's charge (job id, analyst, dataset, analysis and privacy hashes, ε, and
    ///         whether the market listing admits the analyst, `Market.mayBuy`) is
    ///         posted, in clear, to the custody inbox with this contract as sender: keepers
    ///         charge the dataset's privacy budget and the analyst's grant from it, in inbox order,
    ///         and release the dataset key only for a job whose charge they applied.
    ///         `analysisKind` / `functionHash` (what the sealed analysis is, declared in clear) let
    ///         the keepers refuse a kind or function the policy does not allow before anything is
    ///         spent; a release checks the sealed analysis is what was declared. `purpose` is what
    ///         the result is for; on a pool it is required, and only contributors who consent to it count.
    function submitJob(
        bytes32 datasetId,
        string calldata analysisCid,
        bytes32 analysisHash,
        bytes32 privacyParamsHash,
        uint64 epsilonMicros,
        uint256 fee,
        Declared calldata declared
    ) external nonReentrant returns (uint256 jobId) {
        uint256 cidLength = bytes(analysisCid).length;
        if (cidLength == 0) revert EmptyAnalysisCid();
        if (cidLength > MAX_CID_BYTES) revert AnalysisCidTooLong(cidLength, MAX_CID_BYTES);
        _checkDeclared(datasetId, declared);
        if (!datasets.exists(datasetId)) revert UnknownDataset(datasetId);
        DatasetRegistry.Dataset memory d = datasets.get(datasetId);
        if (d.status != DatasetRegistry.Status.Active) revert DatasetNotActive(datasetId);
        // Checked here too so that the error is this contract's (clients decode it with its ABI).
        if (market.creditsOf(msg.sender, datasetId) == 0) revert NoCredits(msg.sender, datasetId);

        uint256 creditValue = market.reserve(msg.sender, datasetId);
        address worker = _pickWorker(address(0));
        if (worker == address(0)) revert NoEligibleWorker();

        jobId = _jobs.length;
        Job storage j = _jobs.push();
        j.analyst = msg.sender;
        j.status = Status.Open;
        j.attempt = 1;
        j.createdAt = uint64(block.timestamp);
        j.deadline = uint64(block.timestamp) + _params.jobTimeout;
        j.worker = worker;
        j.datasetId = datasetId;
        j.analysisHash = analysisHash;
        j.privacyParamsHash = privacyParamsHash;
        j.inputCidsHash = keccak256(bytes(d.manifestCid));
        j.fee = fee;
        j.creditValue = creditValue;
        j.epsilonMicros = epsilonMicros;
        j.analysisCid = analysisCid;
        j.pool = datasets.isPool(datasetId);
        j.analysisKind = declared.analysisKind;
        j.functionHash = declared.functionHash;
        j.purpose = declared.purpose;
        _emitSubmitted(jobId, j);
        emit JobAssigned(jobId, worker, 1, j.deadline);
        _postCharge(jobId, j);

        if (fee > 0) {
            uint256 allowance = token.allowance(msg.sender, address(this));
            if (allowance < fee) revert InsufficientAllowance(allowance, fee);
            uint256 balance = token.balanceOf(msg.sender);
            if (balance < fee) revert InsufficientBalance(balance, fee);
            token.safeTransferFrom(msg.sender, address(this), fee);
        }
    }

    // ------------------------------------------------------------------ workers

    /// @notice The assigned worker posts its signed result commitment; pays out.
    function submitResult(uint256 jobId, bytes32 outputHash, bytes calldata signature) external nonReentrant {
        Job storage j = _openJobOfCaller(jobId);
        if (j.pool) revert PoolJob(jobId);
        if (_recover(resultDigest(jobId, outputHash), signature) != j.worker) revert BadResultSignature(jobId);
        j.status = Status.Completed;
        j.outputHash = outputHash;
        (uint256 o, uint256 w, uint256 t) = _payOut(jobId, j);
        emit JobCompleted(jobId, j.worker, outputHash, o, w, t, j.fee);
    }

    /// @notice A pool job's result: as `submitResult`, and the signed commitment also carries the
    ///         root of the contributors' weights and their total. The owner share is kept for the
    ///         job (claimRoyalties); with no weight at all (nobody's rows entered) it goes to the curator.
    function submitPoolResult(uint256 jobId, bytes32 outputHash, bytes32 weightsRoot, uint256 totalWeight, bytes calldata signature) external nonReentrant {
        Job storage j = _openJobOfCaller(jobId);
        if (!j.pool) revert NotPoolJob(jobId);
        bytes32 digest = poolResultDigestFor(jobId, j.inputCidsHash, j.analysisHash, outputHash, j.privacyParamsHash, weightsRoot, totalWeight);
        if (_recover(digest, signature) != j.worker) revert BadPoolResultSignature(jobId);
        j.status = Status.Completed;
        j.outputHash = outputHash;
        (uint256 o, uint256 w, uint256 t) = _split(j);
        if (totalWeight == 0) {
            (address curator,,) = datasets.terms(j.datasetId);
            _accrue(curator, jobId, o);
        } else if (o > 0) {
            _royalties[jobId] = Royalty({weightsRoot: weightsRoot, totalWeight: totalWeight, amount: o, poolId: j.datasetId});
            totalRoyalties += o;
        }
        emit PoolJobCompleted(jobId, j.datasetId, weightsRoot, totalWeight, o);
        _payWorker(jobId, j, w, t);
        emit JobCompleted(jobId, j.worker, outputHash, o, w, t, j.fee);
    }

    /// @notice A contributor takes its royalties of several pool jobs at once: for each, its
    ///         weight and the Merkle proof of its leaf under the job's `weightsRoot`. The amounts
    ///         accrue to the caller's earnings (`claim` withdraws). Each (job, contributor) once.
    function claimRoyalties(uint256[] calldata jobIds, uint256[] calldata weights, bytes32[][] calldata proofs) external nonReentrant returns (uint256 total) {
        if (jobIds.length != weights.length || jobIds.length != proofs.length) revert LengthMismatch();
        for (uint256 i = 0; i < jobIds.length; ++i) {
            uint256 jobId = jobIds[i];
            Royalty storage r = _royalties[jobId];
            if (r.totalWeight == 0) revert NoRoyalty(jobId);
            if (royaltyClaimed[jobId][msg.sender]) revert RoyaltyAlreadyClaimed(jobId, msg.sender);
            bytes32 leaf = keccak256(bytes.concat(keccak256(abi.encode(msg.sender, weights[i]))));
            if (weights[i] == 0 || weights[i] > r.totalWeight || !MerkleProof.verifyCalldata(proofs[i], r.weightsRoot, leaf)) revert BadRoyaltyProof(jobId, msg.sender);
            royaltyClaimed[jobId][msg.sender] = true;
            uint256 amount = (r.amount * weights[i]) / r.totalWeight;
            totalRoyalties -= amount;
            royaltiesOf[r.poolId][msg.sender] += amount;
            emit RoyaltyClaimed(jobId, r.poolId, msg.sender, weights[i], amount);
            _accrue(msg.sender, jobId, amount);
            total += amount;
        }
    }

    /// @notice The assigned worker reports, signed by its TEE key, why the job cannot be done
    ///         (bad query, budget exhausted, data deleted…) without revealing data. Who pays
    ///         follows the signed reason code (`isAnalystFault`): the analyst's doing consumes
    ///         the credit and the fee (paid out as for a result: the check ran, ε may be spent);
    ///         the worker's or the network's refunds both.
    /// @param reasonHash keccak256 of the (public) error report.
    function submitFailure(uint256 jobId, uint8 reasonCode, bytes32 reasonHash, bytes calldata signature) external nonReentrant {
        Job storage j = _openJobOfCaller(jobId);
        if (_recover(failureDigest(jobId, reasonCode, reasonHash), signature) != j.worker) revert BadFailureSignature(jobId);
        j.status = Status.Failed;
        j.outputHash = reasonHash;
        j.reasonCode = reasonCode;
        emit JobFailed(jobId, j.worker, reasonCode, reasonHash);
        if (isAnalystFault(reasonCode)) {
            (uint256 o, uint256 w, uint256 t) = _payOut(jobId, j);
            emit FailureCharged(jobId, j.analyst, o, w, t, j.fee);
        } else {
            _refund(jobId, j);
        }
    }

    /// @notice Whether a failure's reason code is the analyst's doing (the credit and fee are
    ///         consumed) rather than the worker's or the network's (refunded). The one table of
    ///         it on chain (src/analysis/failure-fault.ts is the other; a test keeps them equal):
    ///         1 query-refused, 2 budget-exhausted, 4 access-denied, 5 bad-analysis, 9 query-failed
    ///         (the query failed on the data: paid, so a failure is no free oracle): analyst;
    ///         3 dataset-deleted, 6 data-unavailable, 7 internal, 8 worker-unavailable, 10 analysis-not-allowed, and any code
    ///         not listed: refund.
    ///         A new code is one more bit in ANALYST_FAULT_CODES.
    function isAnalystFault(uint8 reasonCode) public pure returns (bool) {
        return (ANALYST_FAULT_CODES >> reasonCode) & 1 == 1;
    }

    // ------------------------------------------------------------------ anyone

    /// @notice After the deadline: takes part of the assigned worker's stake, then reassigns the job once (new
    ///         deadline) or, on the second timeout or with nobody else eligible, refunds it.
    function timeout(uint256 jobId) external nonReentrant {
        Job storage j = _job(jobId);
        if (j.status != Status.Open) revert JobNotOpen(jobId, j.status);
        if (block.timestamp <= j.deadline) revert DeadlineNotReached(jobId, j.deadline);
        address late = j.worker;
        uint256 slashed = _slash(jobId, late);
        emit JobTimedOut(jobId, late, j.attempt, slashed);

        address next = j.attempt == 1 ? _pickWorker(late) : address(0);
        if (next != address(0)) {
            j.attempt = 2;
            j.worker = next;
            j.deadline = uint64(block.timestamp) + _params.jobTimeout;
            emit JobAssigned(jobId, next, 2, j.deadline);
        } else {
            j.status = Status.Refunded;
            _refund(jobId, j);
        }
    }

    /// @notice Withdraws everything accrued to the caller.
    function claim() external nonReentrant returns (uint256 amount) {
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

    function jobCount() external view returns (uint256) {
        return _jobs.length;
    }

    function getJob(uint256 jobId) external view returns (Job memory) {
        return _job(jobId);
    }

    /// @notice A page of jobs by id, so clients list in few calls.
    function slice(uint256 offset, uint256 limit) external view returns (Job[] memory items) {
        uint256 n = _jobs.length;
        uint256 end = offset >= n ? offset : (limit > n - offset ? n : offset + limit);
        items = new Job[](end - offset);
        for (uint256 i = 0; i < items.length; ++i) items[i] = _jobs[offset + i];
    }

    function earningsOf(address account) external view returns (uint256) {
        return _earnings[account];
    }

    /// @notice What a completed pool job keeps for its contributors (zero root: none).
    function royaltyOf(uint256 jobId) external view returns (Royalty memory) {
        return _royalties[jobId];
    }

    /// @notice What the assigned worker signs (EIP-191) to post a pool job's result.
    function poolResultDigestFor(
        uint256 jobId,
        bytes32 inputCidsHash,
        bytes32 analysisHash,
        bytes32 outputHash,
        bytes32 privacyParamsHash,
        bytes32 weightsRoot,
        uint256 totalWeight
    ) public view returns (bytes32) {
        return keccak256(
            abi.encode(POOL_RESULT_TAG, block.chainid, address(this), jobId, inputCidsHash, analysisHash, outputHash, privacyParamsHash, weightsRoot, totalWeight)
        );
    }

    /// @notice What the assigned worker signs (EIP-191) to post `outputHash` for `jobId`.
    function resultDigest(uint256 jobId, bytes32 outputHash) public view returns (bytes32) {
        Job storage j = _job(jobId);
        return resultDigestFor(jobId, j.inputCidsHash, j.analysisHash, outputHash, j.privacyParamsHash);
    }

    function resultDigestFor(uint256 jobId, bytes32 inputCidsHash, bytes32 analysisHash, bytes32 outputHash, bytes32 privacyParamsHash)
        public
        view
        returns (bytes32)
    {
        return keccak256(abi.encode(RESULT_TAG, block.chainid, address(this), jobId, inputCidsHash, analysisHash, outputHash, privacyParamsHash));
    }

    /// @notice What the assigned worker signs (EIP-191) to report a failure of `jobId`.
    function failureDigest(uint256 jobId, uint8 reasonCode, bytes32 reasonHash) public view returns (bytes32) {
        Job storage j = _job(jobId);
        return keccak256(
            abi.encode(FAILURE_TAG, block.chainid, address(this), jobId, j.inputCidsHash, j.analysisHash, j.privacyParamsHash, reasonCode, reasonHash)
        );
    }

    // ------------------------------------------------------------------ internal

    /// @dev Epoch 0: the entry is not sealed (keepers tell it by its sender, this contract).
    ///      `admitted`: keepers count the listing's admission as access (src/custody/release-check.ts).
    function _postCharge(uint256 jobId, Job storage j) private {
        bool admitted = market.mayBuy(j.datasetId, j.analyst);
        inbox.post(
            0,
            abi.encode(
                CHARGE_TAG, jobId, j.analyst, j.datasetId, j.analysisHash, j.privacyParamsHash, j.epsilonMicros, admitted, j.analysisKind, j.functionHash, j.purpose
            )
        );
    }

    function _emitSubmitted(uint256 jobId, Job storage j) private {
        emit JobSubmitted(jobId, j.analyst, j.datasetId, j.analysisCid, j.analysisHash, j.privacyParamsHash, j.inputCidsHash, j.fee, j.creditValue);
    }

    function _checkDeclared(bytes32 datasetId, Declared calldata d) private view {
        if (d.analysisKind > KIND_FUNCTION || (d.analysisKind == KIND_SQL && d.functionHash != bytes32(0))) revert BadAnalysisKind(d.analysisKind);
        uint256 len = bytes(d.purpose).length;
        if (len > MAX_PURPOSE_BYTES) revert PurposeTooLong(len, MAX_PURPOSE_BYTES);
        if (len == 0 && datasets.isPool(datasetId)) revert PurposeRequired(datasetId);
    }

    function _job(uint256 jobId) private view returns (Job storage) {
        if (jobId >= _jobs.length) revert UnknownJob(jobId);
        return _jobs[jobId];
    }

    function _openJobOfCaller(uint256 jobId) private view returns (Job storage j) {
        j = _job(jobId);
        if (j.status != Status.Open) revert JobNotOpen(jobId, j.status);
        if (msg.sender != j.worker) revert NotAssignedWorker(jobId, msg.sender);
    }

    /// @dev Round-robin over the registry's compute set from the cursor, at most MAX_ASSIGN_SCAN
    ///      entries; zero when none of them is eligible (other than `exclude`).
    function _pickWorker(address exclude) private returns (address worker) {
        uint256 index;
        (worker, index) = workers.nextEligibleCompute(_cursor, exclude, MAX_ASSIGN_SCAN);
        if (worker != address(0)) _cursor = index + 1;
    }

    /// @dev A failing slash (e.g. this contract no longer a slasher) must not lock the analyst's
    ///      refund, so it is reported (SlashFailed) instead of reverting.
    function _slash(uint256 jobId, address worker) private returns (uint256 amount) {
        amount = _params.slashAmount;
        uint256 stake = workers.getWorker(worker).stake;
        if (amount > stake) amount = stake;
        try workers.penalize(worker, amount, "w3a: job timeout") {
            return amount;
        } catch {
            emit SlashFailed(jobId, worker);
            return 0;
        }
    }

    /// @dev The credit's escrowed price split owner / worker / treasury, the fee to the worker's operator.
    ///      A pool's failure charged to the analyst has no weights: its owner share goes to the curator.
    function _payOut(uint256 jobId, Job storage j) private returns (uint256 ownerAmount, uint256 workerAmount, uint256 treasuryAmount) {
        (ownerAmount, workerAmount, treasuryAmount) = _split(j);
        (address datasetOwner,,) = datasets.terms(j.datasetId);
        _accrue(datasetOwner, jobId, ownerAmount);
        _payWorker(jobId, j, workerAmount, treasuryAmount);
    }

    /// @dev `ownerAmount` is net of the storage share (`_storageShare`).
    function _split(Job storage j) private view returns (uint256 ownerAmount, uint256 workerAmount, uint256 treasuryAmount) {
        uint256 value = j.creditValue;
        ownerAmount = (value * _params.ownerShareBps) / BPS;
        treasuryAmount = (value * _params.treasuryShareBps) / BPS;
        workerAmount = value - ownerAmount - treasuryAmount; // rounding dust to the worker
        ownerAmount -= _storageShare(value);
    }

    function _storageShare(uint256 value) private view returns (uint256) {
        return address(storageMarket) == address(0) ? 0 : (value * _params.storageBps) / BPS;
    }

    /// @dev After the credit's tokens came in: the storage share to the storage market. O(1). A
    ///      failing market (e.g. a bad address set) must not lock the payout: the share then
    ///      goes to the dataset's owner.
    function _payStorage(uint256 jobId, Job storage j) private {
        uint256 amount = _storageShare(j.creditValue);
        if (amount == 0) return;
        try storageMarket.creditDataset(j.datasetId, amount) {
            token.safeTransfer(address(storageMarket), amount);
            emit StorageCredited(jobId, j.datasetId, amount);
        } catch {
            (address datasetOwner,,) = datasets.terms(j.datasetId);
            _accrue(datasetOwner, jobId, amount);
        }
    }

    /// @dev The worker's and treasury's parts, and the credit's tokens in from the market.
    function _payWorker(uint256 jobId, Job storage j, uint256 workerAmount, uint256 treasuryAmount) private {
        address operator = workers.getWorker(j.worker).operator;
        _accrue(operator, jobId, workerAmount + j.fee);
        _accrue(_params.treasury, jobId, treasuryAmount);
        market.consume(j.analyst, j.datasetId, j.creditValue); // the credit's tokens come here
        _payStorage(jobId, j);
    }

    function _refund(uint256 jobId, Job storage j) private {
        emit JobRefunded(jobId, j.analyst, j.creditValue, j.fee);
        _accrue(j.analyst, jobId, j.fee);
        market.release(j.analyst, j.datasetId, j.creditValue);
    }

    function _accrue(address account, uint256 jobId, uint256 amount) private {
        if (amount == 0) return;
        _earnings[account] += amount;
        totalEarnings += amount;
        emit EarningsAccrued(account, jobId, amount);
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
        if (uint256(p.ownerShareBps) + p.workerShareBps + p.treasuryShareBps != BPS) revert InvalidParameter("shares");
        if (p.storageBps > p.ownerShareBps) revert InvalidParameter("storageBps");
        if (p.jobTimeout == 0) revert InvalidParameter("jobTimeout");
        if (p.treasury == address(0)) revert ZeroAddress();
        _params = p;
        emit ParamsSet(p);
    }
}
