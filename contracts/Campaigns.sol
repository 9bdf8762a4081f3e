// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {MessageHashUtils} from "@openzeppelin/contracts/utils/cryptography/MessageHashUtils.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {WorkerRegistry} from "./WorkerRegistry.sol";

/// @title W3A federated campaigns: a question asked to many devices, paid per counted answer
/// @notice An analyst posts a campaign: the per-unit function (its hash and where its source is),
///         the declared answer type, the purpose, reward per answer, minimum and maximum number of
///         respondents, privacy parameters (k, ε) and a deadline. `maxRespondents × rewardPerAnswer`
///         tokens are escrowed here, and the campaign is assigned to an eligible (attested, online)
///         worker of the registry: its aggregator. Respondents' devices seal their answers to that
///         worker's attested HPKE key; only its enclave opens them (src/enclave/campaign-*.ts).
///
///         After the deadline the aggregator's signed result is posted (by anyone: the signature,
///         checked with ecrecover against the assigned worker key, is what counts):
///         - `counted ≥ minRespondents`: the result's `payoutRoot` (a Merkle root of the counted
///           respondents' payout addresses) is stored, each of them `claim`s `rewardPerAnswer` once
///           with a proof (pull: no transfer per respondent when the result is posted), and the
///           escrow of the answers not given goes back to the analyst;
///         - `counted < minRespondents`: nothing is released and the whole escrow goes back.
///         Before the deadline no result is accepted, so no partial count leaves on chain.
///         If the aggregator posts nothing within `resultWindow` after the deadline, anyone may
///         `expire` the campaign: full refund.
///
/// @dev paramsHash    = keccak256(abi.encode("w3a.campaign.v1", chainId, this, campaignId, who, terms))
///      who           = keccak256(abi.encode(analyst, aggregator, functionHash, keccak256(bytes(functionCid)),
///                      keccak256(bytes(output)), keccak256(bytes(purpose))))
///      terms         = keccak256(abi.encode(rewardPerAnswer, uint32 minRespondents, uint32 maxRespondents,
///                      uint32 k, uint64 epsilonMicros, uint64 deadline))
///      resultDigest  = keccak256(abi.encode("w3a.campaign-result.v1", chainId, this, campaignId,
///                      paramsHash, outputHash, counted, payoutRoot))
///      payout leaf   = keccak256(bytes.concat(keccak256(abi.encode(campaignId, account))))
///      Merkle tree: OpenZeppelin's (pairs hashed sorted); src/campaigns/campaign-params.ts and
///      payout-tree.ts compute the same bytes. Signatures: EIP-191 over the digest, 65 bytes.
contract Campaigns is ReentrancyGuard {
    using SafeERC20 for IERC20;

    enum Status {
        None,
        Open,
        Released,
        BelowMinimum,
        Expired
    }

    struct CreateParams {
        bytes32 functionHash;
        string functionCid;
        /// @notice The declared answer type, e.g. "category:male,female" (src/analysis/unit-function/output-type.ts).
        string output;
        string purpose;
        uint256 rewardPerAnswer;
        uint32 minRespondents;
        uint32 maxRespondents;
        uint32 k;
        uint64 epsilonMicros;
        uint64 deadline;
    }

    struct Campaign {
        address analyst;
        Status status;
        uint64 createdAt;
        uint64 deadline;
        address aggregator;
        uint32 minRespondents;
        uint32 maxRespondents;
        uint32 k;
        uint32 counted;
        uint64 epsilonMicros;
        uint256 rewardPerAnswer;
        bytes32 functionHash;
        bytes32 paramsHash;
        bytes32 outputHash;
        bytes32 payoutRoot;
        uint32 claims;
        string functionCid;
        string output;
        string purpose;
    }

    string private constant PARAMS_TAG = "w3a.campaign.v1";
    string private constant RESULT_TAG = "w3a.campaign-result.v1";
    uint256 public constant MAX_TEXT_BYTES = 256;
    uint256 public constant MAX_RESPONDENTS = 1_000_000;
    uint256 public constant MAX_ASSIGN_SCAN = 64;
    /// @notice Smallest k a campaign may ask for (a histogram of fewer devices singles one out).
    uint32 public constant MIN_K = 2;

    WorkerRegistry public immutable workers;
    IERC20 public immutable token;
    /// @notice Seconds after the deadline the aggregator has to post its result.
    uint64 public immutable resultWindow;

    Campaign[] private _campaigns;
    mapping(uint256 campaignId => mapping(address account => bool)) private _claimed;
    uint256 private _cursor;

    event CampaignCreated(uint256 indexed campaignId, address indexed analyst, address indexed aggregator, bytes32 paramsHash, uint64 deadline, uint256 escrow);
    event CampaignReleased(uint256 indexed campaignId, bytes32 outputHash, uint32 counted, bytes32 payoutRoot, uint256 refund);
    event CampaignBelowMinimum(uint256 indexed campaignId, uint32 counted, uint256 refund);
    event CampaignExpired(uint256 indexed campaignId, uint256 refund);
    event RewardClaimed(uint256 indexed campaignId, address indexed account, uint256 amount);

    error ZeroAddress();
    error InvalidParameter(string name);
    error UnknownCampaign(uint256 campaignId);
    error NoEligibleWorker();
    error InsufficientAllowance(uint256 allowance, uint256 needed);
    error InsufficientBalance(uint256 balance, uint256 needed);
    error CampaignNotOpen(uint256 campaignId, Status status);
    error DeadlineNotReached(uint256 campaignId, uint64 deadline);
    error ResultWindowOpen(uint256 campaignId, uint64 until);
    error BadResultSignature(uint256 campaignId);
    error TooManyCounted(uint256 campaignId, uint32 counted, uint32 maxRespondents);
    error NotReleased(uint256 campaignId, Status status);
    error AlreadyClaimed(uint256 campaignId, address account);
    error NotCounted(uint256 campaignId, address account);

    constructor(WorkerRegistry workers_, uint64 resultWindow_) {
        if (address(workers_) == address(0)) revert ZeroAddress();
        if (resultWindow_ == 0) revert InvalidParameter("resultWindow");
        workers = workers_;
        token = workers_.token();
        resultWindow = resultWindow_;
    }

    // ------------------------------------------------------------------ analysts

    /// @notice Posts a campaign and escrows `maxRespondents × rewardPerAnswer` (approve this
    ///         contract first). Returns its id (also in CampaignCreated).
    function create(CreateParams calldata p) external nonReentrant returns (uint256 campaignId) {
        _check(p);
        (address aggregator, uint256 index) = workers.nextEligibleCompute(_cursor, address(0), MAX_ASSIGN_SCAN);
        if (aggregator == address(0)) revert NoEligibleWorker();
        _cursor = index + 1;

        campaignId = _campaigns.length;
        Campaign storage c = _campaigns.push();
        c.analyst = msg.sender;
        c.status = Status.Open;
        c.createdAt = uint64(block.timestamp);
        c.deadline = p.deadline;
        c.aggregator = aggregator;
        c.minRespondents = p.minRespondents;
        c.maxRespondents = p.maxRespondents;
        c.k = p.k;
        c.epsilonMicros = p.epsilonMicros;
        c.rewardPerAnswer = p.rewardPerAnswer;
        c.functionHash = p.functionHash;
        c.functionCid = p.functionCid;
        c.output = p.output;
        c.purpose = p.purpose;
        c.paramsHash = paramsHashOf(campaignId, c);

        uint256 escrow = uint256(p.maxRespondents) * p.rewardPerAnswer;
        emit CampaignCreated(campaignId, msg.sender, aggregator, c.paramsHash, p.deadline, escrow);
        if (escrow > 0) {
            uint256 allowance = token.allowance(msg.sender, address(this));
            if (allowance < escrow) revert InsufficientAllowance(allowance, escrow);
            uint256 balance = token.balanceOf(msg.sender);
            if (balance < escrow) revert InsufficientBalance(balance, escrow);
            token.safeTransferFrom(msg.sender, address(this), escrow);
        }
    }

    // ------------------------------------------------------------------ aggregator (anyone relays)

    /// @notice The aggregator's signed result, after the deadline. Below the minimum the output
    ///         and root are ignored (the enclave signs zeros there) and everything is refunded.
    function submitResult(uint256 campaignId, bytes32 outputHash, uint32 counted, bytes32 payoutRoot, bytes calldata signature) external nonReentrant {
        Campaign storage c = _campaign(campaignId);
        if (c.status != Status.Open) revert CampaignNotOpen(campaignId, c.status);
        if (block.timestamp <= c.deadline) revert DeadlineNotReached(campaignId, c.deadline);
        if (counted > c.maxRespondents) revert TooManyCounted(campaignId, counted, c.maxRespondents);
        if (_recover(resultDigest(campaignId, outputHash, counted, payoutRoot), signature) != c.aggregator) revert BadResultSignature(campaignId);
        c.counted = counted;
        if (counted < c.minRespondents) {
            c.status = Status.BelowMinimum;
            uint256 all = uint256(c.maxRespondents) * c.rewardPerAnswer;
            emit CampaignBelowMinimum(campaignId, counted, all);
            _pay(c.analyst, all);
            return;
        }
        c.status = Status.Released;
        c.outputHash = outputHash;
        c.payoutRoot = payoutRoot;
        uint256 refund = uint256(c.maxRespondents - counted) * c.rewardPerAnswer;
        emit CampaignReleased(campaignId, outputHash, counted, payoutRoot, refund);
        _pay(c.analyst, refund);
    }

    // ------------------------------------------------------------------ anyone

    /// @notice Pays `account` its reward for a counted answer, once. Anyone may send it (the
    ///         tokens go to `account`), so a respondent's payout address needs no gas of its own.
    function claim(uint256 campaignId, address account, bytes32[] calldata proof) external nonReentrant {
        Campaign storage c = _campaign(campaignId);
        if (c.status != Status.Released) revert NotReleased(campaignId, c.status);
        if (_claimed[campaignId][account]) revert AlreadyClaimed(campaignId, account);
        bytes32 leaf = keccak256(bytes.concat(keccak256(abi.encode(campaignId, account))));
        if (!MerkleProof.verifyCalldata(proof, c.payoutRoot, leaf)) revert NotCounted(campaignId, account);
        _claimed[campaignId][account] = true;
        c.claims += 1;
        emit RewardClaimed(campaignId, account, c.rewardPerAnswer);
        _pay(account, c.rewardPerAnswer);
    }

    /// @notice No result within `resultWindow` after the deadline: the whole escrow goes back.
    function expire(uint256 campaignId) external nonReentrant {
        Campaign storage c = _campaign(campaignId);
        if (c.status != Status.Open) revert CampaignNotOpen(campaignId, c.status);
        uint64 until = c.deadline + resultWindow;
        if (block.timestamp <= until) revert ResultWindowOpen(campaignId, until);
        c.status = Status.Expired;
        uint256 all = uint256(c.maxRespondents) * c.rewardPerAnswer;
        emit CampaignExpired(campaignId, all);
        _pay(c.analyst, all);
    }

    // ------------------------------------------------------------------ views

    function campaignCount() external view returns (uint256) {
        return _campaigns.length;
    }

    function getCampaign(uint256 campaignId) external view returns (Campaign memory) {
        return _campaign(campaignId);
    }

    /// @notice A page of campaigns by id.
    function slice(uint256 offset, uint256 limit) external view returns (Campaign[] memory items) {
        uint256 n = _campaigns.length;
        uint256 end = offset >= n ? offset : (limit > n - offset ? n : offset + limit);
        items = new Campaign[](end - offset);
        for (uint256 i = 0; i < items.length; ++i) items[i] = _campaigns[offset + i];
    }

    function claimed(uint256 campaignId, address account) external view returns (bool) {
        return _claimed[campaignId][account];
    }

    function resultDigest(uint256 campaignId, bytes32 outputHash, uint32 counted, bytes32 payoutRoot) public view returns (bytes32) {
        Campaign storage c = _campaign(campaignId);
        return keccak256(abi.encode(RESULT_TAG, block.chainid, address(this), campaignId, c.paramsHash, outputHash, counted, payoutRoot));
    }

    /// @dev In three hashes only to stay within the stack (see the layout in the contract's doc).
    function paramsHashOf(uint256 campaignId, Campaign storage c) private view returns (bytes32) {
        bytes32 who = keccak256(abi.encode(c.analyst, c.aggregator, c.functionHash, keccak256(bytes(c.functionCid)), keccak256(bytes(c.output)), keccak256(bytes(c.purpose))));
        bytes32 terms = keccak256(abi.encode(c.rewardPerAnswer, c.minRespondents, c.maxRespondents, c.k, c.epsilonMicros, c.deadline));
        return keccak256(abi.encode(PARAMS_TAG, block.chainid, address(this), campaignId, who, terms));
    }

    // ------------------------------------------------------------------ internal

    function _check(CreateParams calldata p) private view {
        if (p.functionHash == bytes32(0)) revert InvalidParameter("functionHash");
        if (bytes(p.functionCid).length == 0 || bytes(p.functionCid).length > MAX_TEXT_BYTES) revert InvalidParameter("functionCid");
        if (bytes(p.output).length == 0 || bytes(p.output).length > MAX_TEXT_BYTES) revert InvalidParameter("output");
        if (bytes(p.purpose).length == 0 || bytes(p.purpose).length > MAX_TEXT_BYTES) revert InvalidParameter("purpose");
        if (p.k < MIN_K) revert InvalidParameter("k");
        if (p.minRespondents < p.k) revert InvalidParameter("minRespondents");
        if (p.maxRespondents < p.minRespondents || p.maxRespondents > MAX_RESPONDENTS) revert InvalidParameter("maxRespondents");
        if (p.epsilonMicros == 0) revert InvalidParameter("epsilonMicros");
        if (p.deadline <= block.timestamp) revert InvalidParameter("deadline");
    }

    function _campaign(uint256 campaignId) private view returns (Campaign storage) {
        if (campaignId >= _campaigns.length) revert UnknownCampaign(campaignId);
        return _campaigns[campaignId];
    }

    function _pay(address to, uint256 amount) private {
        if (amount > 0) token.safeTransfer(to, amount);
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
}
