"""The ``kokudaka chain`` commands (see :mod:`kokudaka.chain.commands`), and the towns' missing
minter keys made at the start of ``serve`` and ``worker`` (:func:`ensure_minter_keys`)."""

from __future__ import annotations

import argparse
import sys
import uuid
from typing import Any, TextIO

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from kokudaka.audit.staff_log import append_staff_action
from kokudaka.chain.allowances import (
    AllowancePlan,
    Change,
    ChangeKind,
    Contract,
    development_admin_key,
    fund_development_minters,
    plan_allowances,
    sync_allowances,
)
from kokudaka.chain.client import ChainClient, PrivateKey
from kokudaka.chain.deployment import (
    DeploymentMismatch,
    check_chain_id,
    deploy,
    deploy_bills,
    load_deployment,
)
from kokudaka.chain.errors import ChainError
from kokudaka.chain.refs import town_id
from kokudaka.core.db import create_sessionmaker
from kokudaka.core.engines import create_db_engine
from kokudaka.core.settings import Settings
from kokudaka.models import ChainDeployment, Municipality, StaffAction
from kokudaka.towns.minters import ensure_town_minters, rotate_town_minter

__all__ = ["ensure_minter_keys", "run_allowances", "run_deploy", "run_rotate_minter"]


def ensure_minter_keys(settings: Settings) -> None:
    """Give every town without a minter key one (committed); run at start."""
    engine = create_db_engine(settings.sqlalchemy_url)
    try:
        with create_sessionmaker(engine).begin() as session:
            ensure_town_minters(session, settings)
    finally:
        engine.dispose()


# ------------------------------------------------------------------ the commands


def run_deploy(_args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    with _Context(settings) as context:
        admin_key = context.admin_key
        if admin_key is None:
            return 2
        recorded = load_deployment(context.sessions, check_chain_id(context.client, settings))
        if recorded is not None and recorded.bills_address is None:
            # KOKU from before the rice bills: deploy them beside it, then their minters and caps.
            context.deployment()
            deployment = deploy_bills(context.sessions, context.client, settings, admin_key)
            sync_allowances(
                context.sessions, context.client, admin_key, on_change=context.log_change
            )
        else:
            deployment = deploy(
                context.sessions, context.client, settings, admin_key, on_change=context.log_change
            )
        print(
            f"KOKU deployed at {deployment.token_address} on chain {deployment.chain_id} "
            f"(block {deployment.deployed_block}); admin {deployment.admin_address}, "
            f"anchor {deployment.anchor_address}; rice bills at {deployment.bills_address}",
            file=out,
        )
        with context.sessions() as session:
            _print_plan(plan_allowances(session, context.client), out)
        return 0
    return 2


def run_allowances(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    with _Context(settings) as context:
        deployment = context.deployment()
        if deployment is None:
            return 2
        scope = None
        if args.municipality is not None:
            scope = context.municipality(args.municipality)
            if scope is None:
                return 2
        with context.sessions.begin() as session:
            ensure_town_minters(session, settings)
        with context.sessions() as session:
            plan = plan_allowances(session, context.client, municipality_id=scope)
        _print_plan(plan, out)
        if args.dry_run:
            print("dry run: nothing sent", file=out)
            return 0
        if plan.in_sync:
            print("nothing to change", file=out)
            return 0
        if context.admin_key is None:
            return 2
        changes = sync_allowances(
            context.sessions,
            context.client,
            context.admin_key,
            municipality_id=scope,
            on_change=context.log_change,
        )
        print(f"{len(changes)} change(s) sent and confirmed", file=out)
        return 0
    return 2


def run_rotate_minter(args: argparse.Namespace, settings: Settings, out: TextIO) -> int:
    with _Context(settings) as context:
        if context.deployment() is None or context.admin_key is None:
            return 2
        municipality_id = context.municipality(args.code)
        if municipality_id is None:
            return 2
        # The new key is committed before the chain hears of it: a key the chain trusts is
        # never lost. Should the transaction fail, `chain allowances` points the chain at it.
        with context.sessions.begin() as session:
            old, new = rotate_town_minter(session, settings, municipality_id)
        town = town_id(municipality_id)
        client = context.client
        # Both contracts know the town's minter: the KOKU burns and the bill mints of a
        # harvest are signed by one key.
        targets: list[tuple[Contract, Any]] = [(Contract.koku, client)]
        if client.has_bills:
            targets.append((Contract.bills, client.bills))
        hashes: list[str] = []
        for contract, target in targets:
            previous = target.minter_of(town)
            try:
                tx_hash = target.set_town_minter(context.admin_key, town, new.address)
                hashes.append(tx_hash)
            except ChainError as error:
                print(
                    f"{args.code}: new minter key {new.address} recorded, but setTownMinter on "
                    f"{contract} failed ({error}); run `kokudaka chain allowances` to set it",
                    file=sys.stderr,
                )
                return 1
            context.log_change(
                Change(
                    kind=ChangeKind.town_minter,
                    municipality_id=municipality_id,
                    code=args.code,
                    tx_hash=tx_hash,
                    minter=new.address,
                    previous_minter=previous,
                    contract=contract,
                )
            )
        retired = old.address if old is not None else "none"
        sent = ", ".join(hashes)
        print(f"{args.code}: minter {new.address} (retired {retired}), tx {sent}", file=out)
        if development_admin_key(settings) is not None:
            fund_development_minters(context.client, context.admin_key, [new.address])
        else:
            print(f"fund {new.address} with ether for its mints' gas", file=out)
        return 0
    return 2


# ------------------------------------------------------------------ plumbing


class _Context:
    """The database and chain of one command; prints why it cannot go on, on stderr."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.engine = create_db_engine(settings.sqlalchemy_url)
        self.sessions: sessionmaker[Session] = create_sessionmaker(self.engine)
        rpc_url = settings.chain_rpc_url or f"http://127.0.0.1:{settings.anvil_port}"
        self.client = ChainClient(rpc_url, request_timeout=60.0)

    def __enter__(self) -> _Context:
        return self

    def __exit__(self, exc_type: object, exc: BaseException | None, _tb: object) -> bool:
        self.engine.dispose()
        if isinstance(exc, ChainError):  # DeploymentMismatch and ChainUnavailable among them
            print(f"kokudaka chain: {exc}", file=sys.stderr)
            return True  # the command returns 2 after its `with`
        return False

    @property
    def admin_key(self) -> PrivateKey | None:
        key = self.settings.deployer_key or development_admin_key(self.settings)
        if key is None:
            print("KOKUDAKA_DEPLOYER_KEY (the contract admin key) is required", file=sys.stderr)
        return key

    def deployment(self) -> ChainDeployment | None:
        chain_id = check_chain_id(self.client, self.settings)
        deployment = load_deployment(self.sessions, chain_id)
        if deployment is None:
            print(
                f"no KOKU deployment recorded for chain {chain_id}: run `kokudaka chain deploy`",
                file=sys.stderr,
            )
            return None
        if not self.client.runs_this_koku(deployment.token_address):
            raise DeploymentMismatch(
                f"{deployment.token_address} does not run this version of KOKU (or was lost)"
            )
        self.client.use_koku(deployment.token_address)
        if deployment.bills_address is not None:
            self.client.use_bills(deployment.bills_address)
        return deployment

    def municipality(self, code: str) -> uuid.UUID | None:
        with self.sessions() as session:
            found = session.scalar(select(Municipality.id).where(Municipality.code == code))
        if found is None:
            print(f"unknown municipality: {code}", file=sys.stderr)
        return found

    def log_change(self, change: Change) -> None:
        """Append a confirmed minter or cap change to the staff audit log (an operator's)."""
        data: dict[str, object]
        if change.kind is ChangeKind.town_minter:
            object_type, object_id = "town_minter", str(change.municipality_id)
            data = {
                "minter": change.minter,
                "previous_minter": change.previous_minter,
                "contract": str(change.contract),
            }
        else:
            object_type = "season_cap"
            object_id = f"{change.municipality_id}:{change.season}"
            data = {
                "season": change.season,
                "cap_go": change.cap_go,
                "previous_cap_go": change.previous_cap_go,
                "contract": str(change.contract),
            }
        with self.sessions.begin() as session:
            append_staff_action(
                session,
                None,
                StaffAction.allowance_set,
                object_type=object_type,
                object_id=object_id,
                data={**data, "municipality": change.code, "tx_hash": change.tx_hash},
                municipality_id=change.municipality_id,
            )


def _print_plan(plan: AllowancePlan, out: TextIO) -> None:
    print("minters (town, contract: database / chain)", file=out)
    for minter in plan.minters:
        mark = "  differs" if minter.differs else ""
        print(
            f"  {minter.code}, {minter.contract}: {minter.sql_minter or 'none'} / "
            f"{minter.chain_minter or 'none'}{mark}",
            file=out,
        )
    # A bills row's "minted" is what the town's registered works reserve of its allowance.
    header = ("town", "season", "contract", "policy cap", "chain cap", "minted", "difference")
    rows = [
        (
            cap.code,
            str(cap.season),
            str(cap.contract),
            f"{cap.sql_cap_go:,}",
            f"{cap.chain_cap_go:,}",
            f"{cap.chain_minted_go:,}",
            f"{cap.difference_go:+,}"
            + ("  below minted: not settable" if cap.below_minted and cap.difference_go else ""),
        )
        for cap in plan.caps
    ]
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header) - 1)]
    print("season caps (go)", file=out)
    for row in (header, *rows):
        cells = [cell.ljust(width) for cell, width in zip(row[:-1], widths, strict=True)]
        print("  " + "  ".join([*cells, row[-1]]), file=out)
