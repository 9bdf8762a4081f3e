// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";

/// @title W3A dev token ("PHA")
/// @notice The payment token of dev networks. Production networks use any existing ERC-20:
///         the other W3A contracts take the token address as a constructor parameter and never
///         rely on anything beyond IERC20 (and ERC-2612 permit where available).
/// @dev Minting is unrestricted for the owner on purpose: dev networks fund their accounts with it.
contract W3AToken is ERC20, ERC20Permit, Ownable {
    constructor(address initialOwner) ERC20("W3A Dev Token", "PHA") ERC20Permit("W3A Dev Token") Ownable(initialOwner) {}

    /// @notice Creates `amount` base units (18 decimals) for `to`. Owner only.
    function mint(address to, uint256 amount) external onlyOwner {
        _mint(to, amount);
    }
}
