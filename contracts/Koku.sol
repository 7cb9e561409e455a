// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {AccessControlDefaultAdminRules} from "@openzeppelin/contracts/access/extensions/AccessControlDefaultAdminRules.sol";
import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/**
 * @title KOKU, the Kokudaka community currency (石高コイン), denominated in rice.
 * @notice One KOKU is one 石 (koku) of rice. The token has 3 decimals, so its smallest unit is one
 * 合 (go, about 150 g of rice): every amount in this contract is an integer number of go.
 *
 * @dev **Towns are the issuers.** Each municipality (a `town`, the 32-byte form of its id in the
 * service) has one minter key, set by the admin with {setTownMinter}, and a cap per season, set
 * with {setSeasonCap}: the town's yearly cap for that season's rice. Every mint names its season
 * and spends the town's room in it; a mint past the cap reverts. A leaked town key can therefore
 * create at most what is left of its own town's caps, never another town's, and a cap changed in
 * the service's database changes nothing here until the admin signs it. Caps and what was minted
 * belong to the town, not to the key, so a rotated-in minter carries on where the old one stopped.
 *
 * Every mint carries a `ref`, the off-chain issuance id (a UUID, see `kokudaka.chain.refs`), and a
 * town can mint a ref only once. Refs are kept per town, so one town's minter cannot use up
 * another town's ref. This makes the chain itself the exactly-once guard for the outbox worker in
 * the service: after a crash the worker may resend a transaction whose fate it does not know, and
 * the contract guarantees the resend cannot double-issue.
 *
 * - {mint} reverts with {AlreadyMinted} on a used ref: a single, explicit call should fail loudly.
 * - {mintBatch} skips used refs and mints the rest, emitting {MintSkipped} for each skipped item,
 *   so a skip is observable and never mistaken for a mint. A batch resent after a crash, or one
 *   whose items partly landed through another transaction, is then harmless, and one stale item
 *   cannot block the fresh items beside it.
 *
 * Burns by the custodial service ({burnWithReference}, for corrections of reversed issuances and
 * the harvest's conversion of boards into rice bills; {burnBatch} for many, skipping used refs
 * with {BurnSkipped} as {mintBatch} does) carry their own exactly-once ref, and name the issuance they reverse: a town's minter can destroy only
 * what was issued for one of its town's issuances, only from the address it was issued to, and
 * never more than that in total.
 *
 * **No path around the ledger.** Every balance change on this contract is a mint or a burn the
 * service's ledger records by its ref. Transfers between holders are not a feature yet, so
 * `transfer` and `transferFrom` revert ({TransfersDisabled}); there is no holder burn; a minter
 * cannot renounce its role (only the admin removes a town's minter, with an event).
 *
 * **The audit anchor.** The service appends every staff action to a hash-chained log; an account
 * holding {ANCHOR_ROLE} records the log's head here now and then ({anchorAuditLog}), so a row
 * changed later in the database no longer matches what the chain saw.
 *
 * The admin (DEFAULT_ADMIN_ROLE) is held by exactly one account and handed over in two steps with
 * a delay ({AccessControlDefaultAdminRules}): it cannot be granted to a second account, revoked,
 * or renounced without a scheduled, delayed transfer, and the constructor refuses the zero address.
 */
contract Koku is ERC20, AccessControlDefaultAdminRules {
    /// @notice Role of the towns' minter keys (one per town).
    /// @dev Granted and revoked only through {setTownMinter} and {removeTownMinter}, never by
    /// {grantRole}/{revokeRole}/{renounceRole}, so that role and town cannot drift apart.
    bytes32 public constant MINTER_ROLE = keccak256("MINTER_ROLE");

    /// @notice Role of the service key that anchors the staff audit log; it can do nothing else.
    bytes32 public constant ANCHOR_ROLE = keccak256("ANCHOR_ROLE");

    /// @dev A town's cap for a season and what its minters minted in it (go). One slot.
    struct Season {
        uint128 cap;
        uint128 minted;
    }

    mapping(address minter => bytes32 town) private _townOf;
    mapping(bytes32 town => address minter) private _minterOf;
    mapping(bytes32 town => mapping(uint16 season => Season)) private _seasons;

    /// @dev Issuances minted, keyed by keccak256(town, ref): the on-chain exactly-once record, and
    /// what a correction may still burn for each. One word per issuance: the recipient in the high
    /// 160 bits, the amount not yet burned (in go) in the low 96. A minted word is never zero again
    /// (the recipient is never the zero address).
    mapping(bytes32 key => uint256 issued) private _issued;

    /// @dev Correction refs already burned, keyed by keccak256(town, ref).
    mapping(bytes32 key => bool burned) private _burned;

    uint64 private _anchorSequence;
    bytes32 private _anchorHead;

    /// @notice `town`'s minter is now `minter` (zero: the town has none); `previous` lost the role.
    event TownMinterSet(bytes32 indexed town, address indexed minter, address previous);

    /// @notice The admin set `town`'s cap for `season` to `cap` go.
    event SeasonCapSet(bytes32 indexed town, uint16 indexed season, uint256 cap);

    /// @notice `amount` go were issued to `to` for `town`'s issuance `ref` (by the tx's sender).
    event Minted(bytes32 indexed ref, address indexed to, uint256 amount, bytes32 indexed town);

    /// @notice A batch item for a ref `town` had already minted was skipped (nothing minted).
    event MintSkipped(bytes32 indexed ref, address indexed to, uint256 amount, bytes32 indexed town);

    /// @notice `amount` go were burned from `from` for `town`'s correction `ref`.
    event Burned(bytes32 indexed ref, address indexed from, uint256 amount, bytes32 indexed town);

    /// @notice A {burnBatch} item for a correction ref `town` had already burned was skipped
    /// (nothing burned).
    event BurnSkipped(bytes32 indexed ref, address indexed from, uint256 amount, bytes32 indexed town);

    /// @notice The staff audit log's row `sequence` had the hash `head` when this was mined.
    event AuditLogAnchored(uint64 indexed sequence, bytes32 head, address indexed anchoredBy);

    /// @notice A correction may burn only what is left of the issuance `issuanceRef`, and only from
    /// the address it was issued to (`holder`; zero when the issuance was never minted).
    error BurnExceedsIssued(bytes32 issuanceRef, address holder, uint256 requested, uint256 burnable);

    /// @notice One issuance is at most 2**96 - 1 go (about 79 billion billion KOKU).
    error AmountTooLarge(uint256 amount);

    /// @notice The mint would take `town` past its cap for `season` (`requested` > `left`).
    error AllowanceExceeded(bytes32 town, uint16 season, uint256 requested, uint256 left);

    /// @notice A cap may not be set below what the town already minted in the season.
    error CapBelowMinted(bytes32 town, uint16 season, uint256 cap, uint256 minted);

    /// @notice The issuance `ref` was minted before.
    error AlreadyMinted(bytes32 ref);

    /// @notice The correction `ref` was burned before.
    error AlreadyBurned(bytes32 ref);

    /// @notice A ref or town must not be zero: zero is what a forgotten id looks like.
    error InvalidRef();

    /// @notice An issuance or burn of nothing is a bug upstream, not a transaction worth paying for.
    error ZeroAmount();

    /// @notice The batch arrays must all have the same length.
    error LengthMismatch(uint256 recipients, uint256 amounts, uint256 refs);

    /// @notice Minter membership changes only through {setTownMinter} and {removeTownMinter}.
    error UseMinterFunctions();

    /// @notice `minter` already mints for `town`: one key serves one town.
    error MinterOfAnotherTown(address minter, bytes32 town);

    /// @notice Transfers between holders are not a feature yet: every balance change is a mint
    /// or a burn the service's ledger records.
    error TransfersDisabled();

    /// @notice An anchor must name a later row of the log than the last one (`last`).
    error AnchorNotNewer(uint64 sequence, uint64 last);

    /// @param adminDelay Seconds a scheduled admin handover (or a delay change) must wait.
    /// @param admin Receives DEFAULT_ADMIN_ROLE: the key that sets minters and caps. Not zero.
    constructor(uint48 adminDelay, address admin)
        ERC20("Kokudaka", "KOKU")
        AccessControlDefaultAdminRules(adminDelay, admin)
    {}

    /// @notice 3 decimals: the smallest unit is one 合 (go), 1 KOKU = 1,000 go.
    function decimals() public pure override returns (uint8) {
        return 3;
    }

    // ----------------------------------------------------------------- towns (admin)

    /**
     * @notice Make `minter` the minter of `town`; the town's previous minter loses the role.
     * @dev Caps and minted amounts stay with the town, so a rotation keeps what is left.
     */
    function setTownMinter(bytes32 town, address minter) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (town == bytes32(0)) revert InvalidRef();
        if (minter == address(0)) revert ERC20InvalidReceiver(minter);
        bytes32 current = _townOf[minter];
        if (current != bytes32(0) && current != town) revert MinterOfAnotherTown(minter, current);
        address previous = _minterOf[town];
        if (previous == minter) return;
        if (previous != address(0)) {
            _revokeRole(MINTER_ROLE, previous);
            delete _townOf[previous];
        }
        _grantRole(MINTER_ROLE, minter);
        _townOf[minter] = town;
        _minterOf[town] = minter;
        emit TownMinterSet(town, minter, previous);
    }

    /// @notice `town` has no minter any more (its caps and refs stay).
    function removeTownMinter(bytes32 town) external onlyRole(DEFAULT_ADMIN_ROLE) {
        address previous = _minterOf[town];
        if (previous == address(0)) return;
        _revokeRole(MINTER_ROLE, previous);
        delete _townOf[previous];
        delete _minterOf[town];
        emit TownMinterSet(town, address(0), previous);
    }

    /**
     * @notice Set `town`'s cap for `season` to `cap` go: an absolute figure, so setting the same
     * cap twice changes nothing, and a resent transaction cannot raise it twice.
     */
    function setSeasonCap(bytes32 town, uint16 season, uint256 cap) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (town == bytes32(0)) revert InvalidRef();
        Season storage s = _seasons[town][season];
        if (cap < s.minted) revert CapBelowMinted(town, season, cap, s.minted);
        if (cap > type(uint128).max) revert AmountTooLarge(cap);
        s.cap = uint128(cap);
        emit SeasonCapSet(town, season, cap);
    }

    /// @notice The town `minter` mints for (zero for none).
    function townOf(address minter) external view returns (bytes32) {
        return _townOf[minter];
    }

    /// @notice The minter of `town` (zero for none).
    function minterOf(bytes32 town) external view returns (address) {
        return _minterOf[town];
    }

    /// @notice `town`'s cap for `season`, in go.
    function seasonCap(bytes32 town, uint16 season) external view returns (uint256) {
        return _seasons[town][season].cap;
    }

    /// @notice What `town` minted in `season`, in go (burns do not give it back).
    function seasonMinted(bytes32 town, uint16 season) external view returns (uint256) {
        return _seasons[town][season].minted;
    }

    /// @notice What `town` may still mint in `season`, in go.
    function allowanceLeft(bytes32 town, uint16 season) external view returns (uint256) {
        Season storage s = _seasons[town][season];
        return s.cap - s.minted;
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

    /// @dev A minter cannot step down by itself: its town would lose its minter without the
    /// admin's {TownMinterSet}. The admin role follows {AccessControlDefaultAdminRules}.
    function renounceRole(bytes32 role, address callerConfirmation) public override {
        if (role == MINTER_ROLE) revert UseMinterFunctions();
        super.renounceRole(role, callerConfirmation);
    }

    // ----------------------------------------------------------------- issuance

    /// @notice Whether `town` minted the issuance `ref`.
    function isMinted(bytes32 town, bytes32 ref) external view returns (bool) {
        return _issued[_key(town, ref)] != 0;
    }

    /// @notice Where `town`'s issuance `ref` was minted to, and how much of it a correction may
    /// still burn.
    function issuedOf(bytes32 town, bytes32 ref) external view returns (address holder, uint256 burnable) {
        uint256 word = _issued[_key(town, ref)];
        return (address(uint160(word >> 96)), word & type(uint96).max);
    }

    /// @notice Whether `town` burned the correction `ref`.
    function isBurned(bytes32 town, bytes32 ref) external view returns (bool) {
        return _burned[_key(town, ref)];
    }

    /**
     * @notice Issue `amount` go to `to` for the caller's town's issuance `ref`, in `season`.
     * @dev Reverts with {AlreadyMinted} if `ref` was used: a single mint is explicit, so a
     * duplicate is an error the caller must see. Use {mintBatch} for crash-safe resending.
     */
    function mint(uint16 season, address to, uint256 amount, bytes32 ref) external onlyRole(MINTER_ROLE) {
        if (ref == bytes32(0)) revert InvalidRef();
        if (amount == 0) revert ZeroAmount();
        bytes32 town = _townOf[msg.sender];
        bytes32 key = _key(town, ref);
        if (_issued[key] != 0) revert AlreadyMinted(ref);
        _spend(town, season, amount);
        _issued[key] = _issuedWord(to, amount);
        _mint(to, amount);
        emit Minted(ref, to, amount, town);
    }

    /**
     * @notice Issue `amounts[i]` go to `to[i]` for each of the caller's town's issuances `refs[i]`,
     * all in `season`, skipping refs the town already minted ({MintSkipped}).
     * @dev Skip, not revert: see the contract notes. The cap is checked against the sum of the
     * items actually minted and written once per batch; if the sum exceeds what is left the whole
     * batch reverts with {AllowanceExceeded} and nothing is minted. A zero ref, a zero amount or a
     * zero recipient reverts the whole batch: those are bugs upstream, not duplicates. A ref
     * repeated inside the batch is minted once (its later occurrences are skipped).
     */
    function mintBatch(
        uint16 season,
        address[] calldata to,
        uint256[] calldata amounts,
        bytes32[] calldata refs
    ) external onlyRole(MINTER_ROLE) {
        uint256 n = to.length;
        if (amounts.length != n || refs.length != n) revert LengthMismatch(n, amounts.length, refs.length);
        bytes32 town = _townOf[msg.sender];
        uint256 total;
        for (uint256 i; i < n; ) {
            bytes32 ref = refs[i];
            if (ref == bytes32(0)) revert InvalidRef();
            uint256 amount = amounts[i];
            if (amount == 0) revert ZeroAmount();
            bytes32 key = _key(town, ref);
            address recipient = to[i];
            if (_issued[key] == 0) {
                _issued[key] = _issuedWord(recipient, amount);
                // _mint checks totalSupply for overflow, so `total` (<= totalSupply growth) cannot overflow.
                _mint(recipient, amount);
                emit Minted(ref, recipient, amount, town);
                unchecked {
                    total += amount;
                }
            } else {
                emit MintSkipped(ref, recipient, amount, town);
            }
            unchecked {
                ++i;
            }
        }
        if (total != 0) _spend(town, season, total);
    }

    // ----------------------------------------------------------------- corrections

    /**
     * @notice Burn `amount` go from `from` for the correction `ref`, which reverses the caller's
     * town's issuance `issuanceRef`.
     * @dev The wallets are custodial (users sign in with Google or Apple, not a seed phrase), so the
     * service corrects balances itself rather than asking the holder for an approval. Restricted
     * to minters, exactly-once per ref, bounded by the issuance: `from` must be the address it was
     * minted to and `amount` at most what earlier corrections left of it ({BurnExceedsIssued}).
     * It does not give the town its cap back: a re-issue after a correction must fit the cap.
     */
    function burnWithReference(address from, uint256 amount, bytes32 ref, bytes32 issuanceRef)
        external
        onlyRole(MINTER_ROLE)
    {
        if (!_burnItem(_townOf[msg.sender], from, amount, ref, issuanceRef)) revert AlreadyBurned(ref);
    }

    /**
     * @notice {burnWithReference} for each item: burn `amounts[i]` go from `from[i]` for the
     * caller's town's burn `refs[i]`, drawn on its issuance `issuanceRefs[i]`.
     * @dev A burn ref the town used before is skipped with {BurnSkipped} instead of reverting,
     * so a batch resent after a crash (or one whose items partly landed through another
     * transaction) is harmless, as with {mintBatch}. Any other refusal (past what the issuance
     * left, another holder, a zero ref or amount) reverts the whole batch: those are bugs
     * upstream or a leaked key at work, not duplicates.
     */
    function burnBatch(
        address[] calldata from,
        uint256[] calldata amounts,
        bytes32[] calldata refs,
        bytes32[] calldata issuanceRefs
    ) external onlyRole(MINTER_ROLE) {
        uint256 n = from.length;
        if (amounts.length != n || refs.length != n) revert LengthMismatch(n, amounts.length, refs.length);
        if (issuanceRefs.length != n) revert LengthMismatch(n, n, issuanceRefs.length);
        bytes32 town = _townOf[msg.sender];
        for (uint256 i; i < n; ) {
            if (!_burnItem(town, from[i], amounts[i], refs[i], issuanceRefs[i])) {
                emit BurnSkipped(refs[i], from[i], amounts[i], town);
            }
            unchecked {
                ++i;
            }
        }
    }

    // ----------------------------------------------------------------- the audit anchor

    /// @notice Record that the staff audit log's row `sequence` has the hash `head`.
    function anchorAuditLog(uint64 sequence, bytes32 head) external onlyRole(ANCHOR_ROLE) {
        uint64 last = _anchorSequence;
        if (sequence <= last) revert AnchorNotNewer(sequence, last);
        _anchorSequence = sequence;
        _anchorHead = head;
        emit AuditLogAnchored(sequence, head, msg.sender);
    }

    /// @notice The last anchored row of the staff audit log and its hash (0, 0 before the first).
    function lastAnchor() external view returns (uint64 sequence, bytes32 head) {
        return (_anchorSequence, _anchorHead);
    }

    // ----------------------------------------------------------------- internals

    /// @dev Every balance change is a mint (from zero) or a burn (to zero); see the contract notes.
    function _update(address from, address to, uint256 value) internal override {
        if (from != address(0) && to != address(0)) revert TransfersDisabled();
        super._update(from, to, value);
    }

    /// @dev One burn of `town`'s correction `ref` on its issuance `issuanceRef`; false when
    /// `ref` was burned before (nothing done). Reverts past what the issuance left, or from
    /// another address than it was minted to.
    function _burnItem(bytes32 town, address from, uint256 amount, bytes32 ref, bytes32 issuanceRef)
        private
        returns (bool)
    {
        if (ref == bytes32(0) || issuanceRef == bytes32(0)) revert InvalidRef();
        if (amount == 0) revert ZeroAmount();
        bytes32 burnKey = _key(town, ref);
        if (_burned[burnKey]) return false;
        bytes32 issuedKey = _key(town, issuanceRef);
        uint256 word = _issued[issuedKey];
        address holder = address(uint160(word >> 96));
        uint256 burnable = word & type(uint96).max;
        if (holder != from || amount > burnable) {
            revert BurnExceedsIssued(issuanceRef, holder, amount, burnable);
        }
        _burned[burnKey] = true;
        unchecked {
            _issued[issuedKey] = word - amount; // the low 96 bits hold burnable >= amount
        }
        _burn(from, amount);
        emit Burned(ref, from, amount, town);
        return true;
    }

    /// @dev Spend `amount` of `town`'s room in `season`, or revert with {AllowanceExceeded}.
    function _spend(bytes32 town, uint16 season, uint256 amount) private {
        Season storage s = _seasons[town][season];
        uint256 left = s.cap - s.minted;
        if (amount > left) revert AllowanceExceeded(town, season, amount, left);
        s.minted += uint128(amount); // amount <= left <= 2**128 - 1
    }

    /// @dev The storage key of `town`'s ref: refs live in one namespace per town.
    function _key(bytes32 town, bytes32 ref) private pure returns (bytes32 key) {
        assembly ("memory-safe") {
            mstore(0x00, town)
            mstore(0x20, ref)
            key := keccak256(0x00, 0x40)
        }
    }

    /// @dev The `_issued` word of an issuance of `amount` go to `to`.
    function _issuedWord(address to, uint256 amount) private pure returns (uint256) {
        if (amount > type(uint96).max) revert AmountTooLarge(amount);
        return (uint256(uint160(to)) << 96) | amount;
    }
}
