// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {AccessControlDefaultAdminRules} from "@openzeppelin/contracts/access/extensions/AccessControlDefaultAdminRules.sol";
import {ERC1155} from "@openzeppelin/contracts/token/ERC1155/ERC1155.sol";
import {ERC1155Supply} from "@openzeppelin/contracts/token/ERC1155/extensions/ERC1155Supply.sol";

/**
 * @title Kokudaka rice bills (米手形): one ERC-1155 token id per work, a claim on its harvested rice.
 * @notice After a work's harvest each supporter's board on it becomes a bill sized by the actual
 * yield. The token id is the work's id (its UUID read as a uint256, as refs are); amounts are
 * integer 合 (go, about 150 g of polished rice), as in KOKU ({decimals} is 3).
 *
 * @dev **Towns are the issuers, as in KOKU.** The admin sets one minter key per town
 * ({setTownMinter}) and each town's bill allowance per season ({setSeasonCap}): the most rice the
 * town's bills may claim that season. The town's minter then registers each of its works once
 * ({registerWork}) with the work's cap, the bill total its countersigned harvest gives; the cap is
 * taken from the town's allowance for the work's season (AllowanceExceeded past it). Mints of the
 * work fill its cap and never pass it (WorkCapExceeded). Registration is by the town's key, not
 * the admin's, because the admin key is cold and works are harvested every day of the season; the
 * bound the admin signs is the season's allowance, once per town and season, like KOKU's caps.
 *
 * What a leaked town key can do: register and mint bills of works not yet registered, within
 * what is left of its own town's allowance; burn only what its own town issued. It cannot mint a
 * work registered to another town, pass a work's cap or its town's allowance, or touch another
 * town's refs. It could register another town's work id before that town does (ids are public
 * once a work is listed); the admin then unbinds it with {releaseWork} (the bills minted under
 * the squat stay the squatting town's issuances, which its rotated-in minter can burn) and the
 * right town registers it.
 *
 * **Exactly once per town.** Every mint carries a `ref` (the off-chain bill issuance id); a town
 * mints a ref once. {mintBatch} skips a used ref with {BillMintSkipped} instead of reverting, so
 * a batch resent after a crash is harmless. Burns carry their own ref (once per town) and name the
 * issuance they draw on: {burnWithReference} reverts on a used ref, {burnBatch} skips it with
 * {BillBurnSkipped}. A burn can take from an issuance only what is left of it, only from the
 * address it was minted to and only of its work (redemption shipping, expiry, corrections).
 *
 * **No path around the ledger.** Every balance change is a mint or a burn the service's ledger
 * records by its ref: `safeTransferFrom`, `safeBatchTransferFrom` and `setApprovalForAll` revert
 * ({TransfersDisabled}) until transfers are a feature, and there is no holder burn. Mints do not
 * call `onERC1155Received`: the holders are the service's custodial accounts (keys, not contracts),
 * and no recipient may run code in the middle of a batch or block the batch by refusing. EIP-1155
 * asks that a mint to a contract implementing the receiver interface call it; should contract
 * holders ever be a feature, they need that call, outside the batches. Every mint and burn emits the standard
 * `TransferSingle` from or to the zero address, so a plain ERC-1155 reader follows every balance.
 *
 * The admin (DEFAULT_ADMIN_ROLE) is one account, handed over in two delayed steps
 * ({AccessControlDefaultAdminRules}).
 */
contract KokuBills is ERC1155Supply, AccessControlDefaultAdminRules {
    /// @notice Role of the towns' minter keys (one per town), granted only by {setTownMinter}.
    bytes32 public constant MINTER_ROLE = keccak256("MINTER_ROLE");

    /// @notice For wallets and explorers; ERC-1155 itself has no name.
    string public constant name = "Kokudaka rice bills";
    string public constant symbol = "KOMETEGATA";

    /// @dev A town's bill allowance for a season and what its works' caps reserve of it (go).
    struct Season {
        uint128 cap;
        uint128 reserved;
    }

    /// @dev A registered work: its town, its season, its cap and what was minted of it (go).
    /// `minted` shares a slot with `season` and `cap`, so filling a cap rewrites a live slot.
    struct Work {
        bytes32 town;
        uint16 season;
        uint96 cap;
        uint96 minted;
    }

    mapping(address minter => bytes32 town) private _townOf;
    mapping(bytes32 town => address minter) private _minterOf;
    mapping(bytes32 town => mapping(uint16 season => Season)) private _seasons;
    mapping(uint256 workId => Work) private _works;

    /// @dev Bill issuances, keyed by keccak256(town, ref): the exactly-once record and what burns
    /// may still take. One word: the high 160 bits commit to the holder and the work
    /// ({_holding}), the low 96 hold the go not yet burned. Never zero once minted.
    mapping(bytes32 key => uint256 issued) private _issued;

    /// @dev Burn refs used, keyed by keccak256(town, ref).
    mapping(bytes32 key => bool burned) private _burned;

    event TownMinterSet(bytes32 indexed town, address indexed minter, address previous);
    event SeasonCapSet(bytes32 indexed town, uint16 indexed season, uint256 cap);

    /// @notice `town` registered `workId` for `season` with a cap of `cap` go (or changed it).
    event WorkRegistered(uint256 indexed workId, bytes32 indexed town, uint16 indexed season, uint256 cap);

    /// @notice The admin unbound `workId` from `town`; `minted` go of it had been minted.
    event WorkReleased(uint256 indexed workId, bytes32 indexed town, uint16 indexed season, uint256 minted);

    /// @notice `amount` go of the work `workId` were issued to `to` for `town`'s bill `ref`.
    event BillMinted(bytes32 indexed ref, address indexed to, uint256 workId, uint256 amount, bytes32 indexed town);

    /// @notice A batch item for a ref `town` had already minted was skipped (nothing minted).
    event BillMintSkipped(bytes32 indexed ref, address indexed to, uint256 workId, uint256 amount, bytes32 indexed town);

    /// @notice `amount` go of `workId` were burned from `from` for `town`'s burn `ref`, drawn on
    /// the issuance `issuanceRef`.
    event BillBurned(
        bytes32 indexed ref,
        address indexed from,
        uint256 workId,
        uint256 amount,
        bytes32 indexed town,
        bytes32 issuanceRef
    );

    /// @notice A {burnBatch} item whose ref `town` had burned before was skipped.
    event BillBurnSkipped(
        bytes32 indexed ref,
        address indexed from,
        uint256 workId,
        uint256 amount,
        bytes32 indexed town,
        bytes32 issuanceRef
    );

    error BurnExceedsIssued(bytes32 issuanceRef, address holder, uint256 workId, uint256 requested, uint256 burnable);
    error AmountTooLarge(uint256 amount);
    error AllowanceExceeded(bytes32 town, uint16 season, uint256 requested, uint256 left);
    error CapBelowMinted(bytes32 town, uint16 season, uint256 cap, uint256 minted);
    /// @notice `workId` is registered to `town`, not to the caller's town (zero: to no town).
    error NotTownWork(uint256 workId, bytes32 town);
    /// @notice A registered work keeps its season (`season`).
    error WorkSeasonFixed(uint256 workId, uint16 season);
    /// @notice A work's cap may not go below what was minted of it.
    error WorkCapBelowMinted(uint256 workId, uint256 cap, uint256 minted);
    /// @notice The mint would take `workId` past its cap (`requested` > `left`).
    error WorkCapExceeded(uint256 workId, uint256 requested, uint256 left);
    error AlreadyMinted(bytes32 ref);
    error AlreadyBurned(bytes32 ref);
    /// @notice A ref, town or work id must not be zero: zero is what a forgotten id looks like.
    error InvalidRef();
    error ZeroAmount();
    error LengthMismatch(uint256 expected, uint256 found);
    error UseMinterFunctions();
    error MinterOfAnotherTown(address minter, bytes32 town);
    error TransfersDisabled();

    /// @param uri_ The ERC-1155 metadata URI template (`{id}` is the work id in hex).
    /// @param adminDelay Seconds a scheduled admin handover must wait.
    /// @param admin Receives DEFAULT_ADMIN_ROLE. Not zero.
    constructor(string memory uri_, uint48 adminDelay, address admin)
        ERC1155(uri_)
        AccessControlDefaultAdminRules(adminDelay, admin)
    {}

    /// @notice Amounts are go: 1 石 (koku) = 1,000 go, as KOKU's 3 decimals.
    function decimals() external pure returns (uint8) {
        return 3;
    }

    function supportsInterface(bytes4 interfaceId)
        public
        view
        override(ERC1155, AccessControlDefaultAdminRules)
        returns (bool)
    {
        return super.supportsInterface(interfaceId);
    }

    // ----------------------------------------------------------------- the admin

    /// @notice Make `minter` the minter of `town`; the town's previous minter loses the role.
    function setTownMinter(bytes32 town, address minter) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (town == bytes32(0)) revert InvalidRef();
        if (minter == address(0)) revert ERC1155InvalidReceiver(minter);
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

    /// @notice `town` has no minter any more (its works, allowances and refs stay).
    function removeTownMinter(bytes32 town) external onlyRole(DEFAULT_ADMIN_ROLE) {
        address previous = _minterOf[town];
        if (previous == address(0)) return;
        _revokeRole(MINTER_ROLE, previous);
        delete _townOf[previous];
        delete _minterOf[town];
        emit TownMinterSet(town, address(0), previous);
    }

    /// @notice Set `town`'s bill allowance for `season` to `cap` go (absolute, idempotent).
    function setSeasonCap(bytes32 town, uint16 season, uint256 cap) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (town == bytes32(0)) revert InvalidRef();
        Season storage s = _seasons[town][season];
        if (cap < s.reserved) revert CapBelowMinted(town, season, cap, s.reserved);
        if (cap > type(uint128).max) revert AmountTooLarge(cap);
        s.cap = uint128(cap);
        emit SeasonCapSet(town, season, cap);
    }

    /**
     * @notice Unbind `workId` from its town, e.g. after another town's leaked key registered it.
     * @dev The unminted part of its cap goes back to that town's allowance; bills minted of it
     * stay, as that town's issuances (which its minter can burn), and count in its season.
     */
    function releaseWork(uint256 workId) external onlyRole(DEFAULT_ADMIN_ROLE) {
        Work memory work = _works[workId];
        if (work.town == bytes32(0)) return;
        _seasons[work.town][work.season].reserved -= work.cap - work.minted;
        delete _works[workId];
        emit WorkReleased(workId, work.town, work.season, work.minted);
    }

    /// @notice The metadata URI template every work's bill shares.
    function setURI(string calldata newUri) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _setURI(newUri);
    }

    function grantRole(bytes32 role, address account) public override {
        if (role == MINTER_ROLE) revert UseMinterFunctions();
        super.grantRole(role, account);
    }

    function revokeRole(bytes32 role, address account) public override {
        if (role == MINTER_ROLE) revert UseMinterFunctions();
        super.revokeRole(role, account);
    }

    /// @dev A minter cannot step down by itself; see KOKU.
    function renounceRole(bytes32 role, address callerConfirmation) public override {
        if (role == MINTER_ROLE) revert UseMinterFunctions();
        super.renounceRole(role, callerConfirmation);
    }

    // ----------------------------------------------------------------- reads

    function townOf(address minter) external view returns (bytes32) {
        return _townOf[minter];
    }

    function minterOf(bytes32 town) external view returns (address) {
        return _minterOf[town];
    }

    function seasonCap(bytes32 town, uint16 season) external view returns (uint256) {
        return _seasons[town][season].cap;
    }

    /// @notice What `town`'s registered works' caps take of its allowance for `season`.
    function seasonReserved(bytes32 town, uint16 season) external view returns (uint256) {
        return _seasons[town][season].reserved;
    }

    /// @notice What `town` may still reserve for works in `season`, in go.
    function allowanceLeft(bytes32 town, uint16 season) external view returns (uint256) {
        Season storage s = _seasons[town][season];
        return s.cap - s.reserved;
    }

    /// @notice `workId`'s town (zero: not registered), season, cap and minted go.
    function workOf(uint256 workId)
        external
        view
        returns (bytes32 town, uint16 season, uint256 cap, uint256 minted)
    {
        Work storage work = _works[workId];
        return (work.town, work.season, work.cap, work.minted);
    }

    function isMinted(bytes32 town, bytes32 ref) external view returns (bool) {
        return _issued[_key(town, ref)] != 0;
    }

    /// @notice What burns may still take of `town`'s issuance `ref` from `holder`'s `workId`
    /// bills (zero when the issuance was not of that work to that holder).
    function burnableOf(bytes32 town, bytes32 ref, address holder, uint256 workId) external view returns (uint256) {
        uint256 word = _issued[_key(town, ref)];
        return word >> 96 == _holding(holder, workId) ? word & type(uint96).max : 0;
    }

    function isBurned(bytes32 town, bytes32 ref) external view returns (bool) {
        return _burned[_key(town, ref)];
    }

    // ----------------------------------------------------------------- the town's minter

    /**
     * @notice Register `workId` to the caller's town for `season` with a cap of `cap` go, or set
     * the cap of a work the town registered before (absolute: a resend changes nothing).
     * @dev The cap is reserved from the town's allowance for the season; lowering it gives the
     * difference back, never below what was minted of the work.
     */
    function registerWork(uint256 workId, uint16 season, uint256 cap) external onlyRole(MINTER_ROLE) {
        if (workId == 0) revert InvalidRef();
        if (cap == 0) revert ZeroAmount();
        if (cap > type(uint96).max) revert AmountTooLarge(cap);
        bytes32 town = _townOf[msg.sender];
        Work storage work = _works[workId];
        uint256 old = work.cap;
        if (work.town == bytes32(0)) {
            work.town = town;
            work.season = season;
        } else {
            if (work.town != town) revert NotTownWork(workId, work.town);
            if (work.season != season) revert WorkSeasonFixed(workId, work.season);
            if (cap < work.minted) revert WorkCapBelowMinted(workId, cap, work.minted);
            if (cap == old) return;
        }
        Season storage s = _seasons[town][season];
        if (cap > old) {
            uint256 left = s.cap - s.reserved;
            if (cap - old > left) revert AllowanceExceeded(town, season, cap - old, left);
            s.reserved += uint128(cap - old);
        } else {
            s.reserved -= uint128(old - cap);
        }
        work.cap = uint96(cap);
        emit WorkRegistered(workId, town, season, cap);
    }

    /**
     * @notice Issue `amounts[i]` go of the work `workIds[i]` to `to[i]` for each of the caller's
     * town's bill refs `refs[i]`, skipping refs the town minted before ({BillMintSkipped}).
     * @dev Every work must be registered to the caller's town; each work's cap is checked
     * against what the batch mints of it, once per run of consecutive items of one work (so a
     * batch sorted by work writes each work once). Past a cap the whole batch reverts. A zero
     * ref, amount or recipient reverts the whole batch: those are bugs upstream.
     */
    function mintBatch(
        uint256[] calldata workIds,
        address[] calldata to,
        uint256[] calldata amounts,
        bytes32[] calldata refs
    ) external onlyRole(MINTER_ROLE) {
        if (to.length != workIds.length) revert LengthMismatch(workIds.length, to.length);
        if (amounts.length != workIds.length) revert LengthMismatch(workIds.length, amounts.length);
        if (refs.length != workIds.length) revert LengthMismatch(workIds.length, refs.length);
        bytes32 town = _townOf[msg.sender];
        (uint256[] memory ids, uint256[] memory values) = _singleton();
        uint256 runWork;
        uint256 runTotal;
        for (uint256 i; i < workIds.length; ) {
            if (i == 0 || workIds[i] != runWork) {
                if (runTotal != 0) _fill(runWork, runTotal);
                runWork = workIds[i];
                runTotal = 0;
                if (_works[runWork].town != town) revert NotTownWork(runWork, _works[runWork].town);
            }
            unchecked {
                runTotal += _mintItem(town, runWork, to[i], amounts[i], refs[i], ids, values);
                ++i;
            }
        }
        if (runTotal != 0) _fill(runWork, runTotal);
    }

    /**
     * @notice Burn `amount` go of `workId` from `from` for the caller's town's burn `ref`, drawn
     * on its issuance `issuanceRef` (redemption shipped, expiry, correction).
     * @dev Reverts {AlreadyBurned} on a used ref: a single call is explicit. Use {burnBatch} for
     * crash-safe resending. Burns do not give the work's cap or the allowance back.
     */
    function burnWithReference(address from, uint256 workId, uint256 amount, bytes32 ref, bytes32 issuanceRef)
        external
        onlyRole(MINTER_ROLE)
    {
        if (!_burnItem(_townOf[msg.sender], from, workId, amount, ref, issuanceRef)) {
            revert AlreadyBurned(ref);
        }
    }

    /// @notice {burnWithReference} for each item, skipping refs the town burned before
    /// ({BillBurnSkipped}); any other refusal reverts the whole batch.
    function burnBatch(
        address[] calldata from,
        uint256[] calldata workIds,
        uint256[] calldata amounts,
        bytes32[] calldata refs,
        bytes32[] calldata issuanceRefs
    ) external onlyRole(MINTER_ROLE) {
        uint256 n = from.length;
        if (workIds.length != n) revert LengthMismatch(n, workIds.length);
        if (amounts.length != n) revert LengthMismatch(n, amounts.length);
        if (refs.length != n) revert LengthMismatch(n, refs.length);
        if (issuanceRefs.length != n) revert LengthMismatch(n, issuanceRefs.length);
        bytes32 town = _townOf[msg.sender];
        for (uint256 i; i < n; ) {
            if (!_burnItem(town, from[i], workIds[i], amounts[i], refs[i], issuanceRefs[i])) {
                emit BillBurnSkipped(refs[i], from[i], workIds[i], amounts[i], town, issuanceRefs[i]);
            }
            unchecked {
                ++i;
            }
        }
    }

    // ----------------------------------------------------------------- transfers are closed

    function safeTransferFrom(address, address, uint256, uint256, bytes memory) public pure override {
        revert TransfersDisabled();
    }

    function safeBatchTransferFrom(address, address, uint256[] memory, uint256[] memory, bytes memory)
        public
        pure
        override
    {
        revert TransfersDisabled();
    }

    /// @dev An approval only matters for transfers; none is recorded while they are closed.
    function setApprovalForAll(address, bool) public pure override {
        revert TransfersDisabled();
    }

    // ----------------------------------------------------------------- internals

    /// @dev Every balance change is a mint or a burn (belt and braces behind the overrides above).
    function _update(address from, address to, uint256[] memory ids, uint256[] memory values)
        internal
        override
    {
        if (from != address(0) && to != address(0)) revert TransfersDisabled();
        super._update(from, to, ids, values);
    }

    /// @dev One mint item; returns what it minted (0 when `ref` was minted before).
    function _mintItem(
        bytes32 town,
        uint256 workId,
        address recipient,
        uint256 amount,
        bytes32 ref,
        uint256[] memory ids,
        uint256[] memory values
    ) private returns (uint256) {
        if (ref == bytes32(0)) revert InvalidRef();
        if (amount == 0) revert ZeroAmount();
        if (recipient == address(0)) revert ERC1155InvalidReceiver(recipient);
        bytes32 key = _key(town, ref);
        if (_issued[key] != 0) {
            emit BillMintSkipped(ref, recipient, workId, amount, town);
            return 0;
        }
        if (amount > type(uint96).max) revert AmountTooLarge(amount);
        _issued[key] = (_holding(recipient, workId) << 96) | amount;
        ids[0] = workId;
        values[0] = amount;
        _update(address(0), recipient, ids, values);
        emit BillMinted(ref, recipient, workId, amount, town);
        return amount;
    }

    /// @dev One burn item; false when `ref` was burned before (nothing done).
    function _burnItem(
        bytes32 town,
        address from,
        uint256 workId,
        uint256 amount,
        bytes32 ref,
        bytes32 issuanceRef
    ) private returns (bool) {
        if (ref == bytes32(0) || issuanceRef == bytes32(0)) revert InvalidRef();
        if (amount == 0) revert ZeroAmount();
        bytes32 burnKey = _key(town, ref);
        if (_burned[burnKey]) return false;
        bytes32 issuedKey = _key(town, issuanceRef);
        uint256 word = _issued[issuedKey];
        uint256 burnable = word >> 96 == _holding(from, workId) ? word & type(uint96).max : 0;
        if (amount > burnable) revert BurnExceedsIssued(issuanceRef, from, workId, amount, burnable);
        _burned[burnKey] = true;
        unchecked {
            _issued[issuedKey] = word - amount; // the low 96 bits hold burnable >= amount
        }
        // Fresh one-element arrays per burn (a few words of memory): passing a reused pair down
        // would not fit burnBatch's stack.
        (uint256[] memory ids, uint256[] memory values) = _singleton();
        ids[0] = workId;
        values[0] = amount;
        _update(from, address(0), ids, values);
        emit BillBurned(ref, from, workId, amount, town, issuanceRef);
        return true;
    }

    /// @dev Add `amount` to what was minted of `workId`, within its cap.
    function _fill(uint256 workId, uint256 amount) private {
        Work storage work = _works[workId];
        uint256 left = work.cap - work.minted;
        if (amount > left) revert WorkCapExceeded(workId, amount, left);
        work.minted += uint96(amount); // amount <= left < 2**96
    }

    /// @dev One pair of one-element arrays reused by every item, so a batch's memory stays flat.
    function _singleton() private pure returns (uint256[] memory ids, uint256[] memory values) {
        ids = new uint256[](1);
        values = new uint256[](1);
    }

    /// @dev 160 bits that commit an issuance to its holder and its work: a burn must name both.
    function _holding(address holder, uint256 workId) private pure returns (uint256 h) {
        assembly ("memory-safe") {
            mstore(0x00, and(holder, 0xffffffffffffffffffffffffffffffffffffffff))
            mstore(0x20, workId)
            h := shr(96, keccak256(0x00, 0x40))
        }
    }

    /// @dev The storage key of `town`'s ref: refs live in one namespace per town.
    function _key(bytes32 town, bytes32 ref) private pure returns (bytes32 key) {
        assembly ("memory-safe") {
            mstore(0x00, town)
            mstore(0x20, ref)
            key := keccak256(0x00, 0x40)
        }
    }
}
