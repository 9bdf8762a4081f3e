// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {Ownable2Step} from "@openzeppelin/contracts/access/Ownable2Step.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {MessageHashUtils} from "@openzeppelin/contracts/utils/cryptography/MessageHashUtils.sol";
import {EnumerableSet} from "@openzeppelin/contracts/utils/structs/EnumerableSet.sol";

/// @title W3A worker registry
/// @notice Which TEE workers may hold data: their attested keys, measurement, roles, stake and
///         liveness; the measurement allow-list; the keeper set; the cluster public key of each
///         custody epoch and the keepers' published custody state roots.
///         The byte-level protocol (report data, sim quote, approvals) is described in
///         docs/design/custody-protocol.md; the TypeScript helpers in src/chain/worker.ts
///         produce the same digests byte for byte.
/// @dev The contract owner (two-step transfer) is the network's governance. Slashed stake goes
///      to governance (the treasury for now). `slash` is reserved to contracts named by
///      governance (`setSlasher`), e.g. the future jobs contract.
contract WorkerRegistry is Ownable2Step {
    using SafeERC20 for IERC20;
    using EnumerableSet for EnumerableSet.AddressSet;

    // ------------------------------------------------------------------ types

    /// @notice TEE kinds, as `RegisterParams.teeType`.
    uint8 public constant TEE_SIM = 0;
    uint8 public constant TEE_TDX = 1;
    uint8 public constant TEE_SGX = 2;

    /// @notice Role bits of `RegisterParams.roles`.
    uint8 public constant ROLE_COMPUTE = 1;
    uint8 public constant ROLE_KEEPER = 2;
    uint8 public constant ROLE_STORAGE = 4;
    uint8 private constant ALL_ROLES = ROLE_COMPUTE | ROLE_KEEPER | ROLE_STORAGE;

    /// @notice An endpoint is a URL; the bound keeps registration gas predictable.
    uint256 public constant MAX_ENDPOINT_BYTES = 256;

    /// @notice Bounds of the TCB policy lists (entries per list, bytes per entry).
    uint256 public constant MAX_TCB_POLICY_ENTRIES = 64;
    uint256 public constant MAX_TCB_POLICY_ENTRY_BYTES = 64;

    /// @dev Domain tags. Report data uses a bytes32 tag; registration and approval digests
    ///      abi-encode a string tag (dynamic encoding), exactly as the protocol writes them.
    bytes32 public constant REPORT_DATA_TAG = bytes32("w3a.worker.v1");
    string private constant REGISTER_TAG = "w3a.register.v1";
    string private constant APPROVE_TAG = "w3a.approve.v2";
    bytes16 private constant SIM_QUOTE_TAG = "W3A-SIM-QUOTE-v1";
    bytes4 private constant SIM_QUOTE_MAGIC = "W3AQ";
    uint8 private constant SIM_QUOTE_VERSION = 1;

    /// @notice Lifecycle. `Exiting`: the operator asked to leave; the stake stays slashable for
    ///         `heartbeatTimeout` more seconds. `Withdrawn`: the stake went back; the worker
    ///         address can never register again (a fresh enclave makes a fresh key).
    enum Status {
        None,
        Active,
        Exiting,
        Withdrawn
    }

    /// @notice Governance parameters, as the constructor takes them.
    struct Params {
        bool allowSim;
        address devAttestationSigner;
        uint256 minStake;
        uint64 heartbeatTimeout;
        uint64 epochLength;
    }

    /// @notice What an operator registers. `attestationHash` = keccak256(quote). `attestedAt`
    ///         (tdx/sgx only, ignored for sim): when the approving keepers (or governance, at
    ///         bootstrap) verified the quote; it is in the approval digest, and a registration
    ///         whose attestation is older than the TCB policy's `maxQuoteAge` is refused.
    struct RegisterParams {
        address worker;
        uint8 teeType;
        bytes32 measurement;
        bytes32 hpkePublicKey;
        uint8 roles;
        string endpoint;
        bytes32 attestationHash;
        uint64 attestedAt;
    }

    /// @dev The first seven fields pack into one slot (20 + 1 + 1 + 1 + 1 + 8 bytes).
    struct Worker {
        address operator;
        uint8 teeType;
        uint8 roles;
        Status status;
        bool slashed;
        uint64 registeredAt;
        uint64 lastHeartbeat;
        uint64 exitRequestedAt;
        bytes32 measurement;
        bytes32 hpkePublicKey;
        bytes32 attestationHash;
        uint256 stake;
        string endpoint;
    }

    /// @notice Which Intel TCB levels the network accepts for tdx/sgx workers (sim is gated by
    ///         `allowSim` alone). Verifiers off chain (keepers approving a registration or
    ///         releasing a job, clients checking a worker) apply it with src/tee/tcb-policy.ts:
    ///         a quote's TCB status is accepted when it is in `statuses`, or when it is in
    ///         `advisoryStatuses` and every advisory id of the quote is in `advisoryIds`; a quote
    ///         verified, or a worker registered, more than `maxQuoteAge` seconds ago is refused.
    struct TcbPolicy {
        string[] statuses;
        string[] advisoryStatuses;
        string[] advisoryIds;
        uint64 maxQuoteAge;
    }

    /// @notice A worker with the registry's current verdict on it (one call for clients).
    struct WorkerView {
        address worker;
        Worker info;
        bool online;
        bool eligible;
        bool measurementAllowed;
        bool isKeeper;
    }

    struct StateRoot {
        uint256 inboxCount;
        bytes32 root;
        uint64 blockNumber;
        uint64 timestamp;
    }

    // ------------------------------------------------------------------ state

    /// @notice Staking token (the network's payment token).
    IERC20 public immutable token;

    /// @notice Dev networks only: accept the simulated TEE, whose quotes a public dev key signs.
    bool public allowSim;
    /// @notice The dev attestation key that signs sim quotes (public knowledge, insecure by design).
    address public devAttestationSigner;
    /// @notice Tokens an operator stakes per registered worker.
    uint256 public minStake;
    /// @notice A worker is online while its last heartbeat is at most this many seconds old;
    ///         also the delay between `requestExit` and `withdrawStake`.
    uint64 public heartbeatTimeout;
    /// @notice Custody epoch length in blocks: epoch = block.number / epochLength.
    uint64 public epochLength;
    /// @notice The smallest custody keeper set that may release a dataset key or refuse a job.
    ///         Part of every enclave's measured network config (a keeper booted with another
    ///         value has another measurement), so a keeper whose host hides the other keepers
    ///         from it releases nothing on its own. 1 on a dev network (one keeper).
    uint8 public minKeepers;

    /// @dev The allow-list: an array for enumeration, and 1-based positions for O(1) removal.
    bytes32[] private _measurements;
    mapping(bytes32 measurement => uint256) private _measurementPosition;
    TcbPolicy private _tcbPolicy;
    mapping(address account => bool) public isSlasher;

    mapping(address worker => Worker) private _workers;
    address[] private _workerList;
    /// @dev The active sets: Active, unslashed workers of each role, O(1) add and remove
    ///      (swap-and-pop), so assignment and the keeper count never walk exited workers. A worker
    ///      leaves on exit or slash, or when anyone `prune`s it while ineligible (offline, build
    ///      disallowed); its next heartbeat while eligible brings it back.
    EnumerableSet.AddressSet private _computeSet;
    EnumerableSet.AddressSet private _keeperSet;

    /// @dev The agreed key of each epoch: set once, by the vote that gives a key a strict
    ///      majority of the active keepers (`publishEpochKey`), and never changed after.
    mapping(uint64 epoch => bytes32) private _epochKeys;
    /// @dev Each keeper's one vote per epoch (zero: not voted).
    mapping(uint64 epoch => mapping(address keeper => bytes32)) private _epochKeyVotes;
    /// @dev Votes per (epoch, key): the tally is O(1) per vote, never a loop over the voters.
    mapping(uint64 epoch => mapping(bytes32 key => uint256)) private _epochKeyVoteCounts;
    /// @dev Set by the first epoch key publication; from then on the epoch length is fixed.
    bool public epochLengthLocked;
    mapping(uint64 epoch => mapping(address keeper => StateRoot)) private _stateRoots;
    mapping(uint64 epoch => address[]) private _stateRootKeepers;

    // ------------------------------------------------------------------ events

    event MeasurementAllowed(bytes32 indexed measurement);
    event MeasurementDisallowed(bytes32 indexed measurement);
    event AllowSimSet(bool allowSim);
    event DevAttestationSignerSet(address signer);
    event MinStakeSet(uint256 minStake);
    event HeartbeatTimeoutSet(uint64 heartbeatTimeout);
    event EpochLengthSet(uint64 epochLength);
    event MinKeepersSet(uint8 minKeepers);
    event SlasherSet(address indexed slasher, bool allowed);
    event TcbPolicySet(string[] statuses, string[] advisoryStatuses, string[] advisoryIds, uint64 maxQuoteAge);

    event WorkerRegistered(
        address indexed worker,
        address indexed operator,
        uint8 teeType,
        bytes32 measurement,
        uint8 roles,
        bytes32 attestationHash,
        uint256 stake
    );
    event WorkerHeartbeat(address indexed worker, uint64 timestamp);
    event ExitRequested(address indexed worker, uint64 withdrawableAt);
    event StakeWithdrawn(address indexed worker, address indexed operator, uint256 amount);
    event WorkerSlashed(address indexed worker, address indexed slasher, uint256 amount, string reason);
    event WorkerPenalized(address indexed worker, address indexed slasher, uint256 amount, string reason);
    event WorkerPruned(address indexed worker);
    /// @notice One keeper's vote for the key of `epoch` (a vote for another key than the
    ///         agreed one is that keeper's contest, and stays in the log).
    event EpochKeyPublished(uint64 indexed epoch, bytes32 key, address indexed keeper);
    /// @notice `key` became the agreed key of `epoch`: `votes` of the `activeKeepers` active at
    ///         that vote chose it (a strict majority).
    event EpochKeyAgreed(uint64 indexed epoch, bytes32 key, uint256 votes, uint256 activeKeepers);
    event StateRootPublished(uint64 indexed epoch, address indexed keeper, uint256 inboxCount, bytes32 root);

    // ------------------------------------------------------------------ errors

    error ZeroAddress();
    error InvalidParameter(string name);
    error InvalidMeasurement();
    error EpochLengthIsLocked();
    error InvalidTeeType(uint8 teeType);
    error InvalidRoles(uint8 roles);
    error InvalidHpkePublicKey();
    error EndpointTooLong(uint256 length, uint256 max);
    error AlreadyRegistered(address worker);
    error BadWorkerSignature(address worker);
    error SimNotAllowed();
    error MeasurementNotAllowed(bytes32 measurement);
    error BadAttestationSignature();
    error AttestationHashMismatch(bytes32 expected, bytes32 given);
    error AttestationTooOld(uint64 attestedAt, uint64 maxQuoteAge);
    error AttestationInFuture(uint64 attestedAt);
    error BootstrapRequiresGovernance();
    error NotEnoughApprovals(uint256 valid, uint256 needed);
    error InsufficientAllowance(uint256 allowance, uint256 needed);
    error InsufficientStake(uint256 balance, uint256 needed);
    error UnknownWorker(address worker);
    error NotActiveWorker(address worker);
    error NotOperator(address worker, address caller);
    error NotExiting(address worker);
    error ExitDelayNotOver(uint64 withdrawableAt);
    error NotSlasher(address caller);
    error SlashExceedsStake(uint256 amount, uint256 stake);
    error NotKeeper(address caller);
    error InvalidEpochKey();
    error EpochTooFarAhead(uint64 epoch, uint64 currentEpoch);
    error AlreadyVoted(uint64 epoch, address keeper, bytes32 key);
    error EpochInFuture(uint64 epoch, uint64 currentEpoch);
    error StaleStateRoot(uint256 inboxCount, uint256 publishedInboxCount);
    error IndexOutOfRange(uint256 index, uint256 count);

    constructor(IERC20 token_, address governance_, Params memory params_) Ownable(governance_) {
        if (address(token_) == address(0)) revert ZeroAddress();
        token = token_;
        _setAllowSim(params_.allowSim);
        _setDevAttestationSigner(params_.devAttestationSigner);
        _setMinStake(params_.minStake);
        _setHeartbeatTimeout(params_.heartbeatTimeout);
        _setEpochLength(params_.epochLength);
        minKeepers = 1;
        // Default TCB policy: UpToDate; SWHardeningNeeded only with listed advisories (none yet); 30 days.
        string[] memory statuses = new string[](1);
        statuses[0] = "UpToDate";
        string[] memory advisoryStatuses = new string[](1);
        advisoryStatuses[0] = "SWHardeningNeeded";
        _setTcbPolicy(statuses, advisoryStatuses, new string[](0), 30 days);
    }

    // ------------------------------------------------------------------ governance

    /// @notice Adds a worker build to the allow-list. Idempotent (no event when already allowed),
    ///         so a dev network can allow its current build on every start.
    function allowMeasurement(bytes32 measurement) external onlyOwner {
        if (measurement == bytes32(0)) revert InvalidMeasurement();
        if (_measurementPosition[measurement] != 0) return;
        _measurements.push(measurement);
        _measurementPosition[measurement] = _measurements.length;
        emit MeasurementAllowed(measurement);
    }

    /// @notice Removes a build: its workers become ineligible at once (e.g. after a vulnerability).
    ///         Idempotent.
    function disallowMeasurement(bytes32 measurement) external onlyOwner {
        uint256 position = _measurementPosition[measurement];
        if (position == 0) return;
        bytes32 last = _measurements[_measurements.length - 1];
        _measurements[position - 1] = last;
        _measurementPosition[last] = position;
        _measurements.pop();
        delete _measurementPosition[measurement];
        emit MeasurementDisallowed(measurement);
    }

    /// @notice Dev networks only. Turning it off also makes every sim worker ineligible.
    function setAllowSim(bool allowSim_) external onlyOwner {
        _setAllowSim(allowSim_);
    }

    function setDevAttestationSigner(address signer) external onlyOwner {
        _setDevAttestationSigner(signer);
    }

    /// @notice Applies to registrations made afterwards; stakes already made are unchanged.
    function setMinStake(uint256 minStake_) external onlyOwner {
        _setMinStake(minStake_);
    }

    function setHeartbeatTimeout(uint64 seconds_) external onlyOwner {
        _setHeartbeatTimeout(seconds_);
    }

    /// @notice Only before the first epoch key is published: epoch numbers are derived from
    ///         block numbers, so a later change would move past blocks into other epochs and
    ///         break the keepers' key schedule and replay.
    function setEpochLength(uint64 blocks) external onlyOwner {
        if (epochLengthLocked) revert EpochLengthIsLocked();
        _setEpochLength(blocks);
    }

    /// @notice Changes the measured network config: keepers re-join under the new measurement
    ///         (allow it first), as for any change of what decides a release.
    function setMinKeepers(uint8 count) external onlyOwner {
        if (count == 0) revert InvalidParameter("minKeepers");
        minKeepers = count;
        emit MinKeepersSet(count);
    }

    /// @notice Sets the TCB levels the network accepts (see `TcbPolicy`). Replaces the whole
    ///         policy; lists hold at most MAX_TCB_POLICY_ENTRIES non-empty entries of at most
    ///         MAX_TCB_POLICY_ENTRY_BYTES bytes; `maxQuoteAge` must be positive.
    function setTcbPolicy(TcbPolicy calldata policy) external onlyOwner {
        _setTcbPolicy(policy.statuses, policy.advisoryStatuses, policy.advisoryIds, policy.maxQuoteAge);
    }

    /// @notice Names (or removes) a contract allowed to slash, e.g. the jobs contract.
    function setSlasher(address slasher, bool allowed) external onlyOwner {
        if (slasher == address(0)) revert ZeroAddress();
        isSlasher[slasher] = allowed;
        emit SlasherSet(slasher, allowed);
    }

    // ------------------------------------------------------------------ registration

    /// @notice Registers a worker; the caller is its operator and stakes `minStake` tokens
    ///         (approve this contract first).
    /// @param workerSig The worker key's signature over `workerPossessionDigest(msg.sender)`
    ///        (a raw digest signature, no message prefix): proves the enclave holds the key and
    ///        consents to this operator, so nobody can register someone else's key.
    /// @param simQuoteSig `sim` only: the dev attestation key's signature from the sim quote.
    ///        Report data is recomputed here from (worker, hpkePublicKey, chain, registry), so a
    ///        quote cannot be replayed for other keys, chains or networks.
    /// @param keeperApprovals `tdx`/`sgx` only: signatures of more than half of the active
    ///        keepers over `keeperApprovalDigest(...)` (EIP-191); each keeper verified the DCAP
    ///        quote itself. Duplicates and non-keepers are ignored. While no keeper is active
    ///        (bootstrap), only governance may register a tdx/sgx worker.
    function register(
        RegisterParams calldata p,
        bytes calldata workerSig,
        bytes calldata simQuoteSig,
        bytes[] calldata keeperApprovals
    ) external {
        if (p.worker == address(0)) revert ZeroAddress();
        if (_workers[p.worker].status != Status.None) revert AlreadyRegistered(p.worker);
        if (p.teeType > TEE_SGX) revert InvalidTeeType(p.teeType);
        if (p.roles == 0 || p.roles & ~ALL_ROLES != 0) revert InvalidRoles(p.roles);
        if (p.hpkePublicKey == bytes32(0)) revert InvalidHpkePublicKey();
        uint256 endpointLength = bytes(p.endpoint).length;
        if (endpointLength > MAX_ENDPOINT_BYTES) revert EndpointTooLong(endpointLength, MAX_ENDPOINT_BYTES);
        if (_recover(workerPossessionDigest(msg.sender), workerSig) != p.worker) revert BadWorkerSignature(p.worker);

        if (p.teeType == TEE_SIM) {
            if (!allowSim) revert SimNotAllowed();
            if (!isMeasurementAllowed(p.measurement)) revert MeasurementNotAllowed(p.measurement);
            _checkSimQuote(p, simQuoteSig);
        } else {
            if (!isMeasurementAllowed(p.measurement)) revert MeasurementNotAllowed(p.measurement);
            if (p.attestedAt > block.timestamp) revert AttestationInFuture(p.attestedAt);
            if (block.timestamp - p.attestedAt > _tcbPolicy.maxQuoteAge) revert AttestationTooOld(p.attestedAt, _tcbPolicy.maxQuoteAge);
            _checkKeeperApprovals(p, keeperApprovals);
        }

        uint256 stake = minStake;
        _store(p, stake);
        emit WorkerRegistered(p.worker, msg.sender, p.teeType, p.measurement, p.roles, p.attestationHash, stake);
        _takeStake(stake);
    }

    /// @notice Liveness signal, sent by the worker key itself.
    function heartbeat() external {
        Worker storage w = _workers[msg.sender];
        if (w.status != Status.Active || w.slashed) revert NotActiveWorker(msg.sender);
        w.lastHeartbeat = uint64(block.timestamp);
        if (isEligible(msg.sender)) _enterSets(msg.sender, w.roles); // back after a prune
        emit WorkerHeartbeat(msg.sender, uint64(block.timestamp));
    }

    /// @notice Anyone: takes the ineligible workers of `list` (offline, build disallowed) out of
    ///         the active sets, so they cost assignment and keeper counting nothing; eligible
    ///         ones are skipped. A pruned worker keeps its stake and status, and its next
    ///         heartbeat while eligible puts it back. Returns how many left a set.
    function prune(address[] calldata list) external returns (uint256 pruned) {
        for (uint256 i = 0; i < list.length; ++i) {
            if (isEligible(list[i]) || !_leaveSets(list[i])) continue;
            ++pruned;
            emit WorkerPruned(list[i]);
        }
    }

    /// @notice Operator: stop serving. The worker is ineligible at once; the stake can be
    ///         withdrawn `heartbeatTimeout` seconds later, so misbehaviour just before the exit
    ///         can still be slashed. Allowed after a (partial) slash to recover the rest.
    function requestExit(address worker) external {
        Worker storage w = _operatedWorker(worker);
        if (w.status != Status.Active) revert NotActiveWorker(worker);
        w.status = Status.Exiting;
        w.exitRequestedAt = uint64(block.timestamp);
        _leaveSets(worker);
        emit ExitRequested(worker, uint64(block.timestamp) + heartbeatTimeout);
    }

    /// @notice Operator: takes the remaining stake back once the exit delay has passed.
    function withdrawStake(address worker) external {
        Worker storage w = _operatedWorker(worker);
        if (w.status != Status.Exiting) revert NotExiting(worker);
        uint64 withdrawableAt = w.exitRequestedAt + heartbeatTimeout;
        if (block.timestamp < withdrawableAt) revert ExitDelayNotOver(withdrawableAt);
        uint256 amount = w.stake;
        w.stake = 0;
        w.status = Status.Withdrawn;
        emit StakeWithdrawn(worker, msg.sender, amount);
        if (amount > 0) token.safeTransfer(msg.sender, amount);
    }

    /// @notice Slashers only: moves `amount` of the worker's stake to governance (the treasury)
    ///         and marks the worker slashed, which makes it ineligible for good.
    function slash(address worker, uint256 amount, string calldata reason) external {
        _takeStake(worker, amount).slashed = true;
        _leaveSets(worker);
        emit WorkerSlashed(worker, msg.sender, amount, reason);
    }

    /// @notice Slashers only: moves `amount` of the worker's stake to governance (the treasury)
    ///         for a liveness fault (a job not finished in time) and leaves the worker eligible:
    ///         a late answer costs stake, it does not prove misbehaviour the way `slash` does.
    function penalize(address worker, uint256 amount, string calldata reason) external {
        _takeStake(worker, amount);
        emit WorkerPenalized(worker, msg.sender, amount, reason);
    }

    /// @dev Slashers only: `amount` of the worker's stake goes to governance (the treasury).
    function _takeStake(address worker, uint256 amount) private returns (Worker storage w) {
        if (!isSlasher[msg.sender]) revert NotSlasher(msg.sender);
        w = _workers[worker];
        if (w.status == Status.None) revert UnknownWorker(worker);
        if (amount > w.stake) revert SlashExceedsStake(amount, w.stake);
        w.stake -= amount;
        if (amount > 0) token.safeTransfer(owner(), amount);
    }

    // ------------------------------------------------------------------ custody epochs

    /// @notice A keeper votes for the cluster public key of `epoch` (the current or the next
    ///         one): the key its own enclave derived. A keeper votes once per epoch. The key
    ///         becomes the epoch's agreed key (`epochKey`) at the vote that gives it more than
    ///         half of the keepers active at that vote; an agreed key is final for the epoch.
    ///         A keeper whose derivation differs votes for its own key: with no majority the
    ///         epoch has no agreed key, and the `EpochKeyPublished` log shows the dispute.
    ///         Keepers joining or leaving mid-epoch: votes already cast stay counted (even if
    ///         their keeper later goes offline); each vote compares its key's count with
    ///         `activeKeeperCount()` at that vote, so a newcomer raises the bar for later votes
    ///         and a departure lowers it; nothing is re-tallied afterwards.
    function publishEpochKey(uint64 epoch, bytes32 publicKey) external {
        if (!isKeeper(msg.sender)) revert NotKeeper(msg.sender);
        if (publicKey == bytes32(0)) revert InvalidEpochKey();
        uint64 current = currentEpoch();
        if (epoch > current + 1) revert EpochTooFarAhead(epoch, current);
        bytes32 voted = _epochKeyVotes[epoch][msg.sender];
        if (voted != bytes32(0)) revert AlreadyVoted(epoch, msg.sender, voted);
        _epochKeyVotes[epoch][msg.sender] = publicKey;
        uint256 votes = ++_epochKeyVoteCounts[epoch][publicKey];
        if (!epochLengthLocked) epochLengthLocked = true;
        emit EpochKeyPublished(epoch, publicKey, msg.sender);
        if (_epochKeys[epoch] == bytes32(0)) {
            uint256 active = activeKeeperCount(); // the voter is active, so active >= 1
            if (votes * 2 > active) {
                _epochKeys[epoch] = publicKey;
                emit EpochKeyAgreed(epoch, publicKey, votes, active);
            }
        }
    }

    /// @notice A keeper publishes the root of its custody state after replaying the first
    ///         `inboxCount` inbox entries. Roots are kept per (epoch, keeper): keepers that
    ///         replayed the same entries must agree, and anyone can compare them. A keeper may
    ///         update its root within an epoch, never to a smaller inbox count.
    function publishStateRoot(uint64 epoch, uint256 inboxCount, bytes32 root) external {
        if (!isKeeper(msg.sender)) revert NotKeeper(msg.sender);
        uint64 current = currentEpoch();
        if (epoch > current) revert EpochInFuture(epoch, current);
        StateRoot storage s = _stateRoots[epoch][msg.sender];
        if (s.blockNumber == 0) {
            _stateRootKeepers[epoch].push(msg.sender);
        } else if (inboxCount < s.inboxCount) {
            revert StaleStateRoot(inboxCount, s.inboxCount);
        }
        s.inboxCount = inboxCount;
        s.root = root;
        s.blockNumber = uint64(block.number);
        s.timestamp = uint64(block.timestamp);
        emit StateRootPublished(epoch, msg.sender, inboxCount, root);
    }

    // ------------------------------------------------------------------ views

    /// @notice The network's governance (the contract owner, transferred in two steps).
    function governance() external view returns (address) {
        return owner();
    }

    /// @notice The TCB policy every verifier of a tdx/sgx quote applies (see `TcbPolicy`).
    function tcbPolicy() external view returns (TcbPolicy memory) {
        return _tcbPolicy;
    }

    function isMeasurementAllowed(bytes32 measurement) public view returns (bool) {
        return _measurementPosition[measurement] != 0;
    }

    /// @notice The allow-list (order changes when an entry is removed).
    function allowedMeasurements() external view returns (bytes32[] memory) {
        return _measurements;
    }

    /// @notice Active, not slashed, and heard from within `heartbeatTimeout` seconds.
    function isOnline(address worker) public view returns (bool) {
        Worker storage w = _workers[worker];
        return w.status == Status.Active && !w.slashed && block.timestamp <= uint256(w.lastHeartbeat) + heartbeatTimeout;
    }

    /// @notice May be given work (and secrets): online, measurement still allowed, and not a
    ///         sim worker on a network that no longer allows sim.
    function isEligible(address worker) public view returns (bool) {
        Worker storage w = _workers[worker];
        return isOnline(worker) && isMeasurementAllowed(w.measurement) && (w.teeType != TEE_SIM || allowSim);
    }

    /// @notice An active keeper: eligible and registered with the keeper role.
    function isKeeper(address worker) public view returns (bool) {
        return _workers[worker].roles & ROLE_KEEPER != 0 && isEligible(worker);
    }

    /// @notice The active keepers (the set whose majority approves tdx/sgx registrations).
    ///         Walks the keeper set only (never exited or slashed keepers).
    function keepers() external view returns (address[] memory list) {
        uint256 n = _keeperSet.length();
        address[] memory tmp = new address[](n);
        uint256 count;
        for (uint256 i = 0; i < n; ++i) {
            address k = _keeperSet.at(i);
            if (isKeeper(k)) tmp[count++] = k;
        }
        list = new address[](count);
        for (uint256 i = 0; i < count; ++i) list[i] = tmp[i];
    }

    function activeKeeperCount() public view returns (uint256 count) {
        uint256 n = _keeperSet.length();
        for (uint256 i = 0; i < n; ++i) {
            if (isKeeper(_keeperSet.at(i))) ++count;
        }
    }

    /// @notice Size of the compute set (Active, unslashed, not pruned compute workers).
    function computeSetSize() external view returns (uint256) {
        return _computeSet.length();
    }

    /// @notice Round-robin assignment's step: from position `start` of the compute set (taken
    ///         modulo its size), the first eligible worker other than `exclude`, looking at most
    ///         `maxScan` entries; (0, 0) when none. `index` is the worker's position in the set.
    function nextEligibleCompute(uint256 start, address exclude, uint256 maxScan) external view returns (address worker, uint256 index) {
        uint256 n = _computeSet.length();
        if (n == 0) return (address(0), 0);
        if (maxScan > n) maxScan = n;
        start %= n;
        for (uint256 i = 0; i < maxScan; ++i) {
            index = (start + i) % n;
            worker = _computeSet.at(index);
            if (worker != exclude && isEligible(worker)) return (worker, index);
        }
        return (address(0), 0);
    }

    function currentEpoch() public view returns (uint64) {
        return uint64(block.number / epochLength);
    }

    /// @notice The agreed key of `epoch` (a strict majority of the active keepers voted for
    ///         it), or zero while there is none. Owners seal custody commands only to this key.
    function epochKey(uint64 epoch) external view returns (bytes32) {
        return _epochKeys[epoch];
    }

    /// @notice The key `keeper` voted for in `epoch`, or zero.
    function epochKeyVote(uint64 epoch, address keeper) external view returns (bytes32) {
        return _epochKeyVotes[epoch][keeper];
    }

    /// @notice How many keepers voted for `key` in `epoch`.
    function epochKeyVotes(uint64 epoch, bytes32 key) external view returns (uint256) {
        return _epochKeyVoteCounts[epoch][key];
    }

    function stateRoot(uint64 epoch, address keeper) external view returns (StateRoot memory) {
        return _stateRoots[epoch][keeper];
    }

    /// @notice Every keeper's root for `epoch`, in order of first publication.
    function stateRoots(uint64 epoch) external view returns (address[] memory keepers_, StateRoot[] memory roots) {
        keepers_ = _stateRootKeepers[epoch];
        roots = new StateRoot[](keepers_.length);
        for (uint256 i = 0; i < keepers_.length; ++i) roots[i] = _stateRoots[epoch][keepers_[i]];
    }

    function getWorker(address worker) public view returns (Worker memory) {
        Worker storage w = _workers[worker];
        if (w.status == Status.None) revert UnknownWorker(worker);
        return w;
    }

    function viewWorker(address worker) public view returns (WorkerView memory) {
        return WorkerView({
            worker: worker,
            info: getWorker(worker),
            online: isOnline(worker),
            eligible: isEligible(worker),
            measurementAllowed: isMeasurementAllowed(_workers[worker].measurement),
            isKeeper: isKeeper(worker)
        });
    }

    /// @notice Number of workers ever registered (exited and slashed ones included).
    function workerCount() external view returns (uint256) {
        return _workerList.length;
    }

    function workerAt(uint256 index) external view returns (address) {
        if (index >= _workerList.length) revert IndexOutOfRange(index, _workerList.length);
        return _workerList[index];
    }

    /// @notice A page of workers in registration order, with their current verdicts.
    function viewWorkers(uint256 offset, uint256 limit) external view returns (WorkerView[] memory items) {
        uint256 n = _workerList.length;
        uint256 end = offset >= n ? offset : (limit > n - offset ? n : offset + limit);
        items = new WorkerView[](end - offset);
        for (uint256 i = offset; i < end; ++i) items[i - offset] = viewWorker(_workerList[i]);
    }

    // ------------------------------------------------------------------ protocol digests

    /// @notice The 64 bytes a worker's quote must carry:
    ///         keccak256(abi.encode(bytes32("w3a.worker.v1"), worker, hpkePublicKey, chainId, registry)) ‖ 32 zero bytes.
    function reportDataFor(address worker, bytes32 hpkePublicKey) public view returns (bytes memory) {
        return abi.encodePacked(keccak256(abi.encode(REPORT_DATA_TAG, worker, hpkePublicKey, block.chainid, address(this))), bytes32(0));
    }

    /// @notice What the worker key signs (raw digest) to consent to registration by `operator`.
    function workerPossessionDigest(address operator) public view returns (bytes32) {
        return keccak256(abi.encode(REGISTER_TAG, block.chainid, address(this), operator));
    }

    /// @notice What a keeper signs (EIP-191 over this digest) to approve a tdx/sgx registration,
    ///         after checking that the quote (`attestationHash`) verifies under the TCB policy and
    ///         that its report data binds `worker` and `hpkePublicKey` on this chain and registry.
    ///         The HPKE key is in the digest, so approvals cannot be reused with another key;
    ///         `attestedAt` (when the keeper verified the quote) too, so an old approval cannot
    ///         pass for a fresh one.
    function keeperApprovalDigest(
        address worker,
        bytes32 measurement,
        bytes32 hpkePublicKey,
        bytes32 attestationHash,
        uint8 roles,
        uint64 attestedAt
    ) public view returns (bytes32) {
        return keccak256(
            abi.encode(APPROVE_TAG, block.chainid, address(this), worker, measurement, hpkePublicKey, attestationHash, roles, attestedAt)
        );
    }

    /// @notice What the dev attestation key signs (EIP-191 over this digest) in a sim quote.
    function simQuoteDigest(bytes32 measurement, bytes memory reportData) public pure returns (bytes32) {
        return keccak256(abi.encodePacked(SIM_QUOTE_TAG, measurement, reportData));
    }

    /// @notice The 169-byte sim quote: "W3AQ" ‖ version 1 ‖ tee 0 ‖ 2 zero bytes ‖ measurement ‖
    ///         reportData(64) ‖ signature(65). Its keccak256 is the registered attestationHash.
    function simQuote(bytes32 measurement, bytes memory reportData, bytes memory signature) public pure returns (bytes memory) {
        return abi.encodePacked(SIM_QUOTE_MAGIC, SIM_QUOTE_VERSION, TEE_SIM, bytes2(0), measurement, reportData, signature);
    }

    // ------------------------------------------------------------------ internal

    function _checkSimQuote(RegisterParams calldata p, bytes calldata signature) private view {
        bytes memory reportData = reportDataFor(p.worker, p.hpkePublicKey);
        bytes32 digest = MessageHashUtils.toEthSignedMessageHash(simQuoteDigest(p.measurement, reportData));
        address signer = _recover(digest, signature);
        if (signer == address(0) || signer != devAttestationSigner) revert BadAttestationSignature();
        // The quote is fully determined by what was checked: bind the registered hash to it.
        bytes32 expected = keccak256(simQuote(p.measurement, reportData, signature));
        if (expected != p.attestationHash) revert AttestationHashMismatch(expected, p.attestationHash);
    }

    function _checkKeeperApprovals(RegisterParams calldata p, bytes[] calldata approvals) private view {
        uint256 active = activeKeeperCount();
        if (active == 0) {
            // Bootstrap: nobody can vouch for the first hardware keeper but governance.
            if (msg.sender != owner()) revert BootstrapRequiresGovernance();
            return;
        }
        bytes32 digest = MessageHashUtils.toEthSignedMessageHash(
            keeperApprovalDigest(p.worker, p.measurement, p.hpkePublicKey, p.attestationHash, p.roles, p.attestedAt)
        );
        address[] memory seen = new address[](approvals.length);
        uint256 valid;
        for (uint256 i = 0; i < approvals.length; ++i) {
            address k = _recover(digest, approvals[i]);
            if (k == address(0) || !isKeeper(k)) continue;
            bool duplicate;
            for (uint256 j = 0; j < valid; ++j) {
                if (seen[j] == k) {
                    duplicate = true;
                    break;
                }
            }
            if (!duplicate) seen[valid++] = k;
        }
        uint256 needed = active / 2 + 1; // more than half
        if (valid < needed) revert NotEnoughApprovals(valid, needed);
    }

    function _store(RegisterParams calldata p, uint256 stake) private {
        Worker storage w = _workers[p.worker];
        w.operator = msg.sender;
        w.teeType = p.teeType;
        w.roles = p.roles;
        w.status = Status.Active;
        w.registeredAt = uint64(block.timestamp);
        w.lastHeartbeat = uint64(block.timestamp); // registration counts as the first heartbeat
        w.measurement = p.measurement;
        w.hpkePublicKey = p.hpkePublicKey;
        w.attestationHash = p.attestationHash;
        w.stake = stake;
        w.endpoint = p.endpoint;
        _workerList.push(p.worker);
        _enterSets(p.worker, p.roles);
    }

    function _enterSets(address worker, uint8 roles) private {
        if (roles & ROLE_COMPUTE != 0) _computeSet.add(worker);
        if (roles & ROLE_KEEPER != 0) _keeperSet.add(worker);
    }

    /// @return left whether the worker was in a set.
    function _leaveSets(address worker) private returns (bool left) {
        left = _computeSet.remove(worker);
        if (_keeperSet.remove(worker)) left = true;
    }

    /// @dev Checked up front so that a missing approval or balance fails with this contract's
    ///      own error rather than the token's (which clients may not be able to decode).
    function _takeStake(uint256 amount) private {
        if (amount == 0) return;
        uint256 allowance = token.allowance(msg.sender, address(this));
        if (allowance < amount) revert InsufficientAllowance(allowance, amount);
        uint256 balance = token.balanceOf(msg.sender);
        if (balance < amount) revert InsufficientStake(balance, amount);
        token.safeTransferFrom(msg.sender, address(this), amount);
    }

    function _operatedWorker(address worker) private view returns (Worker storage w) {
        w = _workers[worker];
        if (w.status == Status.None) revert UnknownWorker(worker);
        if (w.operator != msg.sender) revert NotOperator(worker, msg.sender);
    }

    /// @dev ECDSA recovery that accepts v as 27/28 or 0/1 and returns zero for anything invalid
    ///      (wrong length, malleable s, no signer) instead of reverting, so that one bad keeper
    ///      approval does not sink the others.
    function _recover(bytes32 digest, bytes calldata signature) private pure returns (address) {
        if (signature.length != 65) return address(0);
        bytes32 r = bytes32(signature[0:32]);
        bytes32 s = bytes32(signature[32:64]);
        uint8 v = uint8(signature[64]);
        if (v < 27) v += 27;
        (address signer, ECDSA.RecoverError err,) = ECDSA.tryRecover(digest, v, r, s);
        return err == ECDSA.RecoverError.NoError ? signer : address(0);
    }

    function _setAllowSim(bool allowSim_) private {
        allowSim = allowSim_;
        emit AllowSimSet(allowSim_);
    }

    function _setDevAttestationSigner(address signer) private {
        devAttestationSigner = signer;
        emit DevAttestationSignerSet(signer);
    }

    function _setMinStake(uint256 minStake_) private {
        minStake = minStake_;
        emit MinStakeSet(minStake_);
    }

    function _setHeartbeatTimeout(uint64 seconds_) private {
        if (seconds_ == 0) revert InvalidParameter("heartbeatTimeout");
        heartbeatTimeout = seconds_;
        emit HeartbeatTimeoutSet(seconds_);
    }

    function _setTcbPolicy(
        string[] memory statuses,
        string[] memory advisoryStatuses,
        string[] memory advisoryIds,
        uint64 maxQuoteAge
    ) private {
        if (maxQuoteAge == 0) revert InvalidParameter("maxQuoteAge");
        _copyTcbList(_tcbPolicy.statuses, statuses, "statuses");
        _copyTcbList(_tcbPolicy.advisoryStatuses, advisoryStatuses, "advisoryStatuses");
        _copyTcbList(_tcbPolicy.advisoryIds, advisoryIds, "advisoryIds");
        _tcbPolicy.maxQuoteAge = maxQuoteAge;
        emit TcbPolicySet(statuses, advisoryStatuses, advisoryIds, maxQuoteAge);
    }

    function _copyTcbList(string[] storage to, string[] memory from, string memory name) private {
        if (from.length > MAX_TCB_POLICY_ENTRIES) revert InvalidParameter(name);
        while (to.length > 0) to.pop();
        for (uint256 i = 0; i < from.length; ++i) {
            uint256 n = bytes(from[i]).length;
            if (n == 0 || n > MAX_TCB_POLICY_ENTRY_BYTES) revert InvalidParameter(name);
            to.push(from[i]);
        }
    }

    function _setEpochLength(uint64 blocks) private {
        if (blocks == 0) revert InvalidParameter("epochLength");
        epochLength = blocks;
        emit EpochLengthSet(blocks);
    }
}
