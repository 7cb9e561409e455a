"""``kokudaka chain``: the admin commands, the only place the cold admin key is used.

- ``deploy``: deploy KOKU, grant ``ANCHOR_ROLE`` to the anchor key, set every town's minter and
  season caps, record the deployment.
- ``allowances [--dry-run] [--municipality CODE]``: per town and season, the policy's yearly
  cap, the chain's cap, what the chain minted and the difference; without ``--dry-run``, send
  ``setSeasonCap`` / ``setTownMinter`` for the differences.
- ``rotate-minter CODE``: a new key for the town, ``setTownMinter``, the old key retired; what
  is left of the town's allowances stays with the town on chain.

Each takes the admin key from ``KOKUDAKA_DEPLOYER_KEY`` for that command only (in development an
empty one means anvil's first key). Every change sent is appended to the staff audit log as an
operator's action (``allowance.set``).

Also here, for ``serve`` and ``worker``: :func:`admin_key_refused` (production refuses to run
with the admin key set) and :func:`ensure_minter_keys` (the towns' missing minter keys, made at
start: a migration cannot, it never sees the encryption secret).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import TextIO

from kokudaka.core.settings import Environment, Settings

__all__ = ["add_chain_commands", "admin_key_refused"]

Handler = Callable[[argparse.Namespace, Settings], int]


def admin_key_refused(settings: Settings, command: str) -> str | None:
    """Why ``serve`` or ``worker`` must not start: the admin key set in production."""
    if settings.env is Environment.production and settings.deployer_key:
        return (
            f"KOKUDAKA_DEPLOYER_KEY is set: the contract admin key is cold and {command} never "
            "holds it in production; unset it (give it only to `kokudaka chain` commands)"
        )
    return None


def add_chain_commands(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], migrate: Callable[[Settings], object]
) -> None:
    """Register ``kokudaka chain ...``; ``migrate`` brings the schema to head first.

    The commands themselves (:mod:`kokudaka.chain.admin_commands`) are imported when one runs:
    web3 would slow every other ``kokudaka`` command down.
    """

    def prepared(name: str) -> Handler:
        def run(args: argparse.Namespace, settings: Settings) -> int:
            from kokudaka.chain import admin_commands

            migrate(settings)
            handler: Callable[[argparse.Namespace, Settings, TextIO], int] = getattr(
                admin_commands, name
            )
            return handler(args, settings, sys.stdout)

        return run

    chain = sub.add_parser(
        "chain",
        help="contract administration with the admin key (KOKUDAKA_DEPLOYER_KEY, for this "
        "command only)",
    )
    chain_sub = chain.add_subparsers(dest="chain_command", required=True)
    chain_sub.add_parser(
        "deploy",
        help="deploy KOKU, grant the anchor key its role, set every town's minter and caps",
    ).set_defaults(handler=prepared("run_deploy"))
    allowances = chain_sub.add_parser(
        "allowances",
        help="per town and season: the policy's cap, the chain's cap, minted, the difference; "
        "then send the differences (setSeasonCap, setTownMinter)",
    )
    allowances.add_argument(
        "--dry-run", action="store_true", help="show the differences, send nothing"
    )
    allowances.add_argument("--municipality", metavar="CODE", help="only this municipality")
    allowances.set_defaults(handler=prepared("run_allowances"))
    rotate = chain_sub.add_parser(
        "rotate-minter",
        help="give a town a new minter key; the old one is retired, the town keeps its "
        "allowances on chain",
    )
    rotate.add_argument("code", metavar="CODE", help="the municipality's code")
    rotate.set_defaults(handler=prepared("run_rotate_minter"))
