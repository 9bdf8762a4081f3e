// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {Ownable2Step} from "@openzeppelin/contracts/access/Ownable2Step.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {DatasetRegistry} from "./DatasetRegistry.sol";

/// @title W3A market: public policy summaries and usage credits held in escrow
/// @notice Listing is the DatasetRegistry's (owner, price per query, status); the market adds the
///         owner's public policy summary and access rule for buyers (open, or admitted one by one),
///         sells usage credits to the buyers it admits, and refunds unused credits of a dataset
///         that no longer sells to them. A credit is the right to run one
///         query on one dataset; it belongs to (analyst, dataset), never expires and is paid
///         upfront: `credits × pricePerQuery` tokens move into this contract's escrow.
/// @dev Only the jobs contract (`jobs`, set once by governance) moves credits: `reserve` when a
///      job is submitted, `release` when it fails or is refunded (the credit comes back), and
///      `consume` when it succeeds (the credit's escrowed tokens go to the jobs contract, which
///      splits them). Credits bought at different prices share one escrow per (analyst, dataset):
///      a reserved credit carries `escrow / credits` (floor; the last credit takes the remainder),
///      so the sum paid out always equals the sum paid in.
contract Market is Ownable2Step, ReentrancyGuard {
    using SafeERC20 for IERC20;

    struct Account {
        /// @notice Credits available for new jobs.
        uint128 credits;
        /// @notice Credits reserved by open jobs.
        uint128 reserved;
        /// @notice Tokens escrowed for the available credits.
        uint256 escrow;
    }

    /// @notice Bound on the public policy summary (a short text, or a URI + hash of a longer one).
    uint256 public constant MAX_POLICY_SUMMARY_BYTES = 1024;

    DatasetRegistry public immutable datasets;
    IERC20 public immutable token;
    /// @notice The only contract that may reserve, release and consume credits.
    address public jobs;

    mapping(bytes32 datasetId => string) private _policySummaries;
    /// @notice The owner's public access rule for buyers: open to anyone, or (default) only to
    ///         the buyers the owner admitted one by one (`setBuyer`).
    mapping(bytes32 datasetId => bool) public openToBuyers;
    mapping(bytes32 datasetId => mapping(address buyer => bool)) private _admittedBuyers;
    mapping(address analyst => mapping(bytes32 datasetId => Account)) private _accounts;
    /// @notice Tokens held for open jobs (reserved credits), for accounting checks.
    uint256 public reservedEscrow;

    event JobsSet(address jobs);
    event PolicySummarySet(bytes32 indexed datasetId, address indexed owner, bytes32 summaryHash, string summary);
    event CreditsPurchased(bytes32 indexed datasetId, address indexed analyst, uint256 credits, uint256 cost);
    event CreditReserved(bytes32 indexed datasetId, address indexed analyst, uint256 value);
    event CreditReleased(bytes32 indexed datasetId, address indexed analyst, uint256 value);
    event CreditConsumed(bytes32 indexed datasetId, address indexed analyst, uint256 value);
    event BuyerAccessSet(bytes32 indexed datasetId, bool open);
    event BuyerSet(bytes32 indexed datasetId, address indexed buyer, bool admitted);
    event CreditsRefunded(bytes32 indexed datasetId, address indexed analyst, uint256 credits, uint256 amount);

    error ZeroAddress();
    error JobsAlreadySet(address jobs);
    error NotJobs(address caller);
    error UnknownDataset(bytes32 datasetId);
    error NotDatasetOwner(bytes32 datasetId, address caller);
    error DatasetDeleted(bytes32 datasetId);
    error DatasetNotActive(bytes32 datasetId);
    error DatasetNotListed(bytes32 datasetId);
    error PolicySummaryTooLong(uint256 length, uint256 max);
    error ZeroCredits();
    error TooManyCredits(uint256 credits);
    error InsufficientAllowance(uint256 allowance, uint256 needed);
    error InsufficientBalance(uint256 balance, uint256 needed);
    error NoCredits(address analyst, bytes32 datasetId);
    error NoReservedCredit(address analyst, bytes32 datasetId);
    error NotAdmitted(bytes32 datasetId, address buyer);
    error StillOnSale(bytes32 datasetId, address analyst);

    constructor(DatasetRegistry datasets_, address governance_) Ownable(governance_) {
        if (address(datasets_) == address(0)) revert ZeroAddress();
        datasets = datasets_;
        token = datasets_.token();
    }

    modifier onlyJobs() {
        if (msg.sender != jobs || msg.sender == address(0)) revert NotJobs(msg.sender);
        _;
    }

    // ------------------------------------------------------------------ governance

    /// @notice Names the jobs contract, once: it controls the escrow, so it cannot be swapped later.
    function setJobs(address jobs_) external onlyOwner {
        if (jobs_ == address(0)) revert ZeroAddress();
        if (jobs != address(0)) revert JobsAlreadySet(jobs);
        jobs = jobs_;
        emit JobsSet(jobs_);
    }

    // ------------------------------------------------------------------ owners

    /// @notice The dataset owner publishes the public summary of its policy (what may be asked,
    ///         k, ε budget…). The enforced policy lives in custody state; this is its public face.
    function setPolicySummary(bytes32 datasetId, string calldata summary) external {
        _ownerOf(datasetId);
        uint256 len = bytes(summary).length;
        if (len > MAX_POLICY_SUMMARY_BYTES) revert PolicySummaryTooLong(len, MAX_POLICY_SUMMARY_BYTES);
        _policySummaries[datasetId] = summary;
        emit PolicySummarySet(datasetId, msg.sender, keccak256(bytes(summary)), summary);
    }

    /// @notice The owner opens the dataset to every buyer, or closes it to all but the buyers
    ///         admitted one by one. Keepers treat what this admits as access (the job charge
    ///         carries it, Jobs._postCharge), so a buyer the listing admits never pays for nothing.
    function setBuyerAccess(bytes32 datasetId, bool open) external {
        _ownerOf(datasetId);
        openToBuyers[datasetId] = open;
        emit BuyerAccessSet(datasetId, open);
    }

    /// @notice The owner admits (or no longer admits) one buyer.
    function setBuyer(bytes32 datasetId, address buyer, bool admitted) external {
        _ownerOf(datasetId);
        if (buyer == address(0)) revert ZeroAddress();
        _admittedBuyers[datasetId][buyer] = admitted;
        emit BuyerSet(datasetId, buyer, admitted);
    }

    // ------------------------------------------------------------------ analysts

    /// @notice Buys `credits` usage credits of an Active (listed) dataset at its current price; the
    ///         tokens (credits × pricePerQuery) go into escrow. Approve this contract first. An
    ///         Unlisted dataset (registered, not yet listed by its owner) sells nothing, and only
    ///         to a buyer the listing admits (`mayBuy`): nobody pays for queries they may not run.
    function buyCredits(bytes32 datasetId, uint256 credits) external nonReentrant {
        if (credits == 0) revert ZeroCredits();
        if (credits > type(uint64).max) revert TooManyCredits(credits);
        (, DatasetRegistry.Status status, uint256 price) = _terms(datasetId);
        if (status == DatasetRegistry.Status.Unlisted) revert DatasetNotListed(datasetId);
        if (status != DatasetRegistry.Status.Active) revert DatasetNotActive(datasetId);
        if (!mayBuy(datasetId, msg.sender)) revert NotAdmitted(datasetId, msg.sender);
        uint256 cost = credits * price;
        Account storage a = _accounts[msg.sender][datasetId];
        a.credits += uint128(credits);
        a.escrow += cost;
        emit CreditsPurchased(datasetId, msg.sender, credits, cost);
        if (cost > 0) {
            uint256 allowance = token.allowance(msg.sender, address(this));
            if (allowance < cost) revert InsufficientAllowance(allowance, cost);
            uint256 balance = token.balanceOf(msg.sender);
            if (balance < cost) revert InsufficientBalance(balance, cost);
            token.safeTransferFrom(msg.sender, address(this), cost);
        }
    }

    /// @notice Takes back the escrow of the caller's unused credits once the dataset no longer
    ///         sells to them: paused, deleted or unlisted, or its listing no longer admits them.
    ///         Credits reserved by open jobs stay; one that comes back (failure, timeout) can be
    ///         refunded by calling again.
    function refund(bytes32 datasetId) external nonReentrant returns (uint256 credits, uint256 amount) {
        (, DatasetRegistry.Status status,) = _terms(datasetId);
        if (status == DatasetRegistry.Status.Active && mayBuy(datasetId, msg.sender)) revert StillOnSale(datasetId, msg.sender);
        Account storage a = _accounts[msg.sender][datasetId];
        credits = a.credits;
        if (credits == 0) revert NoCredits(msg.sender, datasetId);
        amount = a.escrow;
        a.credits = 0;
        a.escrow = 0;
        emit CreditsRefunded(datasetId, msg.sender, credits, amount);
        if (amount > 0) token.safeTransfer(msg.sender, amount);
    }

    // ------------------------------------------------------------------ jobs contract

    /// @notice Takes one available credit of (analyst, dataset) for a job; returns its escrowed value.
    function reserve(address analyst, bytes32 datasetId) external onlyJobs returns (uint256 value) {
        Account storage a = _accounts[analyst][datasetId];
        uint256 credits = a.credits;
        if (credits == 0) revert NoCredits(analyst, datasetId);
        value = credits == 1 ? a.escrow : a.escrow / credits;
        a.credits = uint128(credits - 1);
        a.escrow -= value;
        a.reserved += 1;
        reservedEscrow += value;
        emit CreditReserved(datasetId, analyst, value);
    }

    /// @notice Gives a reserved credit back to the analyst (failed or refunded job).
    function release(address analyst, bytes32 datasetId, uint256 value) external onlyJobs {
        Account storage a = _accounts[analyst][datasetId];
        if (a.reserved == 0) revert NoReservedCredit(analyst, datasetId);
        a.reserved -= 1;
        a.credits += 1;
        a.escrow += value;
        reservedEscrow -= value;
        emit CreditReleased(datasetId, analyst, value);
    }

    /// @notice Spends a reserved credit (successful job): its tokens go to the jobs contract.
    function consume(address analyst, bytes32 datasetId, uint256 value) external onlyJobs nonReentrant {
        Account storage a = _accounts[analyst][datasetId];
        if (a.reserved == 0) revert NoReservedCredit(analyst, datasetId);
        a.reserved -= 1;
        reservedEscrow -= value;
        emit CreditConsumed(datasetId, analyst, value);
        if (value > 0) token.safeTransfer(msg.sender, value);
    }

    // ------------------------------------------------------------------ views

    /// @notice The network's governance (the contract owner, transferred in two steps).
    function governance() external view returns (address) {
        return owner();
    }

    /// @notice Credits available to `analyst` for new jobs on `datasetId`.
    function creditsOf(address analyst, bytes32 datasetId) external view returns (uint256) {
        return _accounts[analyst][datasetId].credits;
    }

    /// @notice Available and reserved credits and the escrow of the available ones.
    function accountOf(address analyst, bytes32 datasetId) external view returns (Account memory) {
        return _accounts[analyst][datasetId];
    }

    /// @notice Whether the listing admits `buyer`: open to buyers, admitted one by one, or the owner.
    function mayBuy(bytes32 datasetId, address buyer) public view returns (bool) {
        (address owner_,,) = _terms(datasetId);
        return openToBuyers[datasetId] || _admittedBuyers[datasetId][buyer] || buyer == owner_;
    }

    function policySummary(bytes32 datasetId) external view returns (string memory) {
        return _policySummaries[datasetId];
    }

    /// @notice keccak256 of the summary bytes (zero hash of "" when none was set).
    function policySummaryHash(bytes32 datasetId) external view returns (bytes32) {
        return keccak256(bytes(_policySummaries[datasetId]));
    }

    /// @dev Reverts unless the caller owns the dataset and it is not deleted.
    function _ownerOf(bytes32 datasetId) private view {
        (address owner_, DatasetRegistry.Status status,) = _terms(datasetId);
        if (owner_ != msg.sender) revert NotDatasetOwner(datasetId, msg.sender);
        if (status == DatasetRegistry.Status.Deleted) revert DatasetDeleted(datasetId);
    }

    function _terms(bytes32 datasetId) private view returns (address, DatasetRegistry.Status, uint256) {
        if (!datasets.exists(datasetId)) revert UnknownDataset(datasetId);
        return datasets.terms(datasetId);
    }
}
