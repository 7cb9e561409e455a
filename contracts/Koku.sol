// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {AccessControlDefaultAdminRules} from "@openzeppelin/contracts/access/extensions/AccessControlDefaultAdminRules.sol";
import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC20Burnable} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Burnable.sol";

/**
 * @title KOKU, the Kokudaka community currency (石高コイン), denominated in rice.
 * @notice One KOKU is one 石 (koku) of rice. The token has 3 decimals, so its smallest unit is one
 * 合 (go, about 150 g of rice): every amount in this contract is an integer number of go.
 *
 * @dev Issuance follows the USDC minter model: the admin (DEFAULT_ADMIN_ROLE) gives each minter an
 * allowance with {configureMinter}; every mint spends it. A leaked minter key can therefore create
 * at most its remaining allowance, and the town tops it up deliberately, season by season.
 *
 * Every mint carries a `ref`, the off-chain issuance id (a UUID, see `kokudaka.chain.refs`), and a
 * ref can be minted only once. This makes the chain itself the exactly-once guard for the outbox
 * worker in the service: after a crash the worker may resend a transaction whose fate it does not
 * know, and the contract guarantees the resend cannot double-issue.
 *
 * - {mint} reverts with {AlreadyMinted} on a used ref: a single, explicit call should fail loudly.
 * - {mintBatch} SKIPS used refs (no event, no allowance spent) and mints the rest. A batch resent
 *   after a crash, or one whose items partly landed through another transaction, is then harmless,
 *   and one stale item cannot block the fresh items beside it. Every minted item emits {Minted};
 *   the service reconciles from those events, so a skipped item is never mistaken for a mint.
 *
 * Burns by the custodial service ({burnWithReference}, for corrections of reversed issuances) carry
 * their own exactly-once ref in a separate namespace, and name the issuance they reverse: a minter
 * can destroy only what was issued for that issuance, only from the address it was issued to, and
 * never more than that in total. A leaked minter key therefore cannot empty a holder's balance
 * beyond what the service itself issued to it, and cannot touch KOKU a holder received otherwise.
 * Holders may burn their own tokens ({ERC20Burnable-burn}), for example when redeeming rice.
 *
 * The admin (DEFAULT_ADMIN_ROLE) is held by exactly one account and handed over in two steps with
 * a delay ({AccessControlDefaultAdminRules}): it cannot be granted to a second account, revoked,
 * or renounced without a scheduled, delayed transfer, and the constructor refuses the zero address.
 */
contract Koku is ERC20, ERC20Burnable, AccessControlDefaultAdminRules {
    /// @notice Role of the accounts allowed to mint (within their allowance) and to burn with a ref.
    /// @dev Granted and revoked only through {configureMinter} and {removeMinter}, never by
    /// {grantRole}/{revokeRole}, so that role and allowance cannot drift apart.
    bytes32 public constant MINTER_ROLE = keccak256("MINTER_ROLE");

    /// @dev Remaining amount (in go) each minter may still mint.
    mapping(address minter => uint256 allowance) private _minterAllowance;

    /// @dev Issuance refs already minted: the on-chain exactly-once record, and what a correction
    /// may still burn for each. One word per ref, as a plain "minted" flag would take: the
    /// recipient in the high 160 bits, the amount not yet burned (in go) in the low 96. A minted
    /// ref's word is never zero again (the recipient is never the zero address).
    mapping(bytes32 ref => uint256 issued) private _issued;

    /// @dev Correction refs already burned, kept apart from the issuance refs.
    mapping(bytes32 ref => bool burned) private _burned;

    /// @notice The admin set `minter`'s allowance to `allowance` go (replacing, not adding to, the old one).
    event MinterConfigured(address indexed minter, uint256 allowance);

    /// @notice The admin removed `minter`: its role and remaining allowance are gone.
    event MinterRemoved(address indexed minter);

    /// @notice `amount` go were issued to `to` by `minter` for the off-chain issuance `ref`.
    event Minted(bytes32 indexed ref, address indexed to, uint256 amount, address indexed minter);

    /// @notice `amount` go were burned from `from` by `minter` for the off-chain correction `ref`.
    event Burned(bytes32 indexed ref, address indexed from, uint256 amount, address indexed minter);

    /// @notice A correction may burn only what is left of the issuance `issuanceRef`, and only from
    /// the address it was issued to (`holder`; zero when the issuance was never minted).
    error BurnExceedsIssued(bytes32 issuanceRef, address holder, uint256 requested, uint256 burnable);

    /// @notice One issuance is at most 2**96 - 1 go (about 79 billion billion KOKU).
    error AmountTooLarge(uint256 amount);

    /// @notice The mint would take `minter` past its allowance (`requested` > `allowance`).
    error AllowanceExceeded(address minter, uint256 requested, uint256 allowance);

    /// @notice The issuance `ref` was minted before.
    error AlreadyMinted(bytes32 ref);

    /// @notice The correction `ref` was burned before.
    error AlreadyBurned(bytes32 ref);

    /// @notice A ref must not be zero: zero is what a forgotten id looks like.
    error InvalidRef();

    /// @notice An issuance or burn of nothing is a bug upstream, not a transaction worth paying for.
    error ZeroAmount();

    /// @notice The batch arrays must all have the same length.
    error LengthMismatch(uint256 recipients, uint256 amounts, uint256 refs);

    /// @notice Minter membership changes only through {configureMinter} and {removeMinter}.
    error UseMinterFunctions();

    /// @param adminDelay Seconds a scheduled admin handover (or a delay change) must wait.
    /// @param admin Receives DEFAULT_ADMIN_ROLE: the key that configures minters. Not zero.
    constructor(uint48 adminDelay, address admin)
        ERC20("Kokudaka", "KOKU")
        AccessControlDefaultAdminRules(adminDelay, admin)
    {}

    /// @notice 3 decimals: the smallest unit is one 合 (go), 1 KOKU = 1,000 go.
    function decimals() public pure override returns (uint8) {
        return 3;
    }

    // ----------------------------------------------------------------- minter administration

    /**
     * @notice Make `minter` a minter with exactly `allowance` go left to mint.
     * @dev Sets rather than adds, like USDC: the admin states the intended cap, and a resent
     * configuration transaction cannot raise it twice.
     */
    function configureMinter(address minter, uint256 allowance) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _grantRole(MINTER_ROLE, minter);
        _minterAllowance[minter] = allowance;
        emit MinterConfigured(minter, allowance);
    }

    /// @notice Revoke `minter`: it can neither mint nor burn with a ref any more.
    function removeMinter(address minter) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _revokeRole(MINTER_ROLE, minter);
        delete _minterAllowance[minter];
        emit MinterRemoved(minter);
    }

    /// @notice Amount (in go) `minter` may still mint; zero for a non-minter.
    function minterAllowance(address minter) external view returns (uint256) {
        return _minterAllowance[minter];
    }

    /// @notice Whether `minter` currently holds the minter role.
    function isMinter(address minter) external view returns (bool) {
        return hasRole(MINTER_ROLE, minter);
    }

    /// @dev Blocks the generic path for MINTER_ROLE, see {MINTER_ROLE}.
    function grantRole(bytes32 role, address account) public override {
        if (role == MINTER_ROLE) revert UseMinterFunctions();
        super.grantRole(role, account);
    }

    /// @dev Blocks the generic path for MINTER_ROLE, see {MINTER_ROLE}.
    function revokeRole(bytes32 role, address account) public override {
        if (role == MINTER_ROLE) revert UseMinterFunctions();
        super.revokeRole(role, account);
    }

    /// @dev A minter may step down by itself; its allowance goes with the role. The admin role
    /// follows {AccessControlDefaultAdminRules}: renounced only after a scheduled, delayed transfer.
    function renounceRole(bytes32 role, address callerConfirmation) public override {
        super.renounceRole(role, callerConfirmation);
        if (role == MINTER_ROLE) delete _minterAllowance[callerConfirmation];
    }

    // ----------------------------------------------------------------- issuance

    /// @notice Whether the issuance `ref` has been minted.
    function isMinted(bytes32 ref) external view returns (bool) {
        return _issued[ref] != 0;
    }

    /// @notice Where the issuance `ref` was minted to, and how much of it a correction may still burn.
    function issuedOf(bytes32 ref) external view returns (address holder, uint256 burnable) {
        uint256 word = _issued[ref];
        return (address(uint160(word >> 96)), word & type(uint96).max);
    }

    /// @notice Whether the correction `ref` has been burned.
    function isBurned(bytes32 ref) external view returns (bool) {
        return _burned[ref];
    }

    /**
     * @notice Issue `amount` go to `to` for the issuance `ref`.
     * @dev Reverts with {AlreadyMinted} if `ref` was used: a single mint is explicit, so a
     * duplicate is an error the caller must see. Use {mintBatch} for crash-safe resending.
     */
    function mint(address to, uint256 amount, bytes32 ref) external onlyRole(MINTER_ROLE) {
        if (ref == bytes32(0)) revert InvalidRef();
        if (amount == 0) revert ZeroAmount();
        if (_issued[ref] != 0) revert AlreadyMinted(ref);
        uint256 allowance = _minterAllowance[msg.sender];
        if (amount > allowance) revert AllowanceExceeded(msg.sender, amount, allowance);
        unchecked {
            _minterAllowance[msg.sender] = allowance - amount;
        }
        _issued[ref] = _issuedWord(to, amount);
        _mint(to, amount);
        emit Minted(ref, to, amount, msg.sender);
    }

    /**
     * @notice Issue `amounts[i]` go to `to[i]` for each issuance `refs[i]`, skipping refs already minted.
     * @dev Skip, not revert: see the contract notes. The allowance is checked against the sum of the
     * items actually minted and written once per batch; if the sum exceeds it the whole batch
     * reverts with {AllowanceExceeded} and nothing is minted. A zero ref, a zero amount or a zero
     * recipient reverts the whole batch: those are bugs upstream, not duplicates.
     * A ref repeated inside the batch is minted once (its later occurrences are skipped).
     */
    function mintBatch(
        address[] calldata to,
        uint256[] calldata amounts,
        bytes32[] calldata refs
    ) external onlyRole(MINTER_ROLE) {
        uint256 n = to.length;
        if (amounts.length != n || refs.length != n) revert LengthMismatch(n, amounts.length, refs.length);
        uint256 total;
        for (uint256 i; i < n; ) {
            bytes32 ref = refs[i];
            if (ref == bytes32(0)) revert InvalidRef();
            uint256 amount = amounts[i];
            if (amount == 0) revert ZeroAmount();
            if (_issued[ref] == 0) {
                address recipient = to[i];
                _issued[ref] = _issuedWord(recipient, amount);
                // _mint checks totalSupply for overflow, so `total` (<= totalSupply growth) cannot overflow.
                _mint(recipient, amount);
                emit Minted(ref, recipient, amount, msg.sender);
                unchecked {
                    total += amount;
                }
            }
            unchecked {
                ++i;
            }
        }
        if (total != 0) {
            uint256 allowance = _minterAllowance[msg.sender];
            if (total > allowance) revert AllowanceExceeded(msg.sender, total, allowance);
            unchecked {
                _minterAllowance[msg.sender] = allowance - total;
            }
        }
    }

    // ----------------------------------------------------------------- corrections

    /**
     * @notice Burn `amount` go from `from` for the correction `ref`, which reverses the issuance
     * `issuanceRef`.
     * @dev The wallets are custodial (users sign in with Google or Apple, not a seed phrase), so the
     * service corrects balances itself rather than asking the holder for an approval. Restricted
     * to minters, exactly-once per ref, bounded by the issuance: `from` must be the address it was
     * minted to and `amount` at most what earlier corrections left of it ({BurnExceedsIssued}).
     * It does not give the minter its allowance back: a re-issue after a correction must be
     * budgeted again by the admin.
     */
    function burnWithReference(address from, uint256 amount, bytes32 ref, bytes32 issuanceRef)
        external
        onlyRole(MINTER_ROLE)
    {
        if (ref == bytes32(0) || issuanceRef == bytes32(0)) revert InvalidRef();
        if (amount == 0) revert ZeroAmount();
        if (_burned[ref]) revert AlreadyBurned(ref);
        uint256 word = _issued[issuanceRef];
        address holder = address(uint160(word >> 96));
        uint256 burnable = word & type(uint96).max;
        if (holder != from || amount > burnable) {
            revert BurnExceedsIssued(issuanceRef, holder, amount, burnable);
        }
        _burned[ref] = true;
        unchecked {
            _issued[issuanceRef] = word - amount; // the low 96 bits hold burnable >= amount
        }
        _burn(from, amount);
        emit Burned(ref, from, amount, msg.sender);
    }

    /// @dev The `_issued` word of an issuance of `amount` go to `to`.
    function _issuedWord(address to, uint256 amount) private pure returns (uint256) {
        if (amount > type(uint96).max) revert AmountTooLarge(amount);
        return (uint256(uint160(to)) << 96) | amount;
    }
}
