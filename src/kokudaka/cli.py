"""The ``kokudaka`` command: serve, worker, migrate, admin, demo, audit.

Its help is what an operator reads in a terminal: plain text, no markup.
"""

from __future__ import annotations

import argparse
import getpass
import logging
import os
import socket
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import make_url

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

    from kokudaka.settlement.runtime import ChainRuntime

from kokudaka.chain.commands import add_chain_commands, admin_key_refused
from kokudaka.core.db import create_sessionmaker
from kokudaka.core.engines import create_db_engine
from kokudaka.core.settings import Settings, get_settings
from kokudaka.expiry.commands import add_bill_commands

ROOT = Path(__file__).resolve().parents[2]


def alembic_config(settings: Settings) -> Config:
    ini = ROOT / "alembic.ini"
    if not ini.exists():
        raise SystemExit(f"migrations not found at {ROOT}; run kokudaka from its repository")
    config = Config(str(ini))
    config.set_main_option("sqlalchemy.url", settings.sqlalchemy_url)
    return config


def _current_revision(settings: Settings) -> str | None:
    engine = create_db_engine(settings.sqlalchemy_url)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()


def migrate(settings: Settings) -> tuple[str | None, str | None]:
    """Bring the schema to head; returns the revisions before and after."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    before = _current_revision(settings)
    command.upgrade(alembic_config(settings), "head")
    return before, _current_revision(settings)


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from kokudaka.main import create_app

    refused = admin_key_refused(settings, "serve") or _ports_refused(
        settings, args.host or settings.host, args.port or settings.port
    )
    if refused is not None:
        print(f"kokudaka serve: {refused}", file=sys.stderr)
        return 2
    migrate(settings)
    _ensure_minter_keys(settings)
    app = create_app(settings)
    host = args.host or settings.host
    port = args.port or settings.port
    next_steps = _next_steps(settings, host, port)
    runtime = _start_chain(settings, app.state.sessionmaker)
    if isinstance(runtime, str):
        print(f"kokudaka serve: {runtime}", file=sys.stderr)
        app.state.database.dispose()
        return 2
    app.state.chain_runtime = runtime

    class _Server(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets)
            if self.started and not self.should_exit:
                print(next_steps, flush=True)

    server = _Server(
        uvicorn.Config(app, host=host, port=port, log_level="info", proxy_headers=True)
    )
    try:
        server.run()
    finally:
        if runtime is not None:  # the app's shutdown stops it too; stopping is idempotent
            runtime.stop()
    return 0


def _start_chain(settings: Settings, sessions: sessionmaker[Session]) -> ChainRuntime | str | None:
    """The chain runtime started (None when the chain is off), or why it cannot start.

    Started before the server so that a refusal is one clear line, not the traceback
    of a failed application start-up.
    """
    from kokudaka.chain.errors import ChainError
    from kokudaka.settlement.runtime import ChainRuntime

    if not settings.chain_enabled:
        return None
    runtime = ChainRuntime(settings, sessions)
    try:
        runtime.start()
    except ChainError as error:  # DeploymentMismatch among them
        return str(error)
    return runtime


def _ports_refused(settings: Settings, host: str, port: int) -> str | None:
    """Why the service cannot have its ports, checked before anything is started."""
    from kokudaka.chain.errors import AnvilPortInUse
    from kokudaka.chain.processes import port_in_use
    from kokudaka.settlement.runtime import prepare_managed_anvil

    if port_in_use(host, port):
        return f"port {port} on {host} is already in use: stop what holds it or set KOKUDAKA_PORT"
    try:
        prepare_managed_anvil(settings)
    except AnvilPortInUse as error:
        return str(error)
    return None


def _next_steps(settings: Settings, host: str, port: int) -> str:
    """What to do once the service answers: where it is, and how to get started."""
    from sqlalchemy import func, select

    from kokudaka.models import User

    shown_host = f"[{host}]" if ":" in host else host
    if host in {"0.0.0.0", "::"}:  # noqa: S104 - only shown, not bound
        shown_host = "127.0.0.1"
    url = f"http://{shown_host}:{port}"
    engine = create_db_engine(settings.sqlalchemy_url)
    try:
        with engine.connect() as conn:
            accounts = conn.scalar(select(func.count()).select_from(User)) or 0
    finally:
        engine.dispose()
    command = _command_name()
    lines = [
        "",
        f"Kokudaka is running at {url}",
        f"  web console (farmers and town staff): {url}/console",
        f"  API documentation: {url}/docs",
    ]
    if accounts == 0:
        lines += [
            "  No accounts yet. In another terminal:",
            f"    {command} admin create --email you@example.jp   (the first administrator)",
            f"    {command} demo                                  (a small demo data set)",
        ]
    lines += ["Stop with Ctrl-C.", ""]
    return "\n".join(lines)


def _command_name() -> str:
    """How the operator invoked this command, relative to where they stand if it can be."""
    invoked = Path(sys.argv[0])
    if invoked.name != "kokudaka":
        return "kokudaka"
    try:
        return str(invoked.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(invoked)


def _worker(args: argparse.Namespace, settings: Settings) -> int:
    from kokudaka.settlement.runtime import run_worker

    refused = admin_key_refused(settings, "worker")
    if refused is not None:
        print(f"kokudaka worker: {refused}", file=sys.stderr)
        return 2
    migrate(settings)
    _ensure_minter_keys(settings)
    return run_worker(settings, manage_anvil=args.manage_anvil)


def _ensure_minter_keys(settings: Settings) -> None:
    from kokudaka.chain.admin_commands import ensure_minter_keys

    ensure_minter_keys(settings)


def _migrate(_args: argparse.Namespace, settings: Settings) -> int:
    before, after = migrate(settings)
    where = make_url(settings.sqlalchemy_url).render_as_string(hide_password=True)
    if before == after:
        print(f"database already at {after}: {where}")
    else:
        print(f"database migrated from {before or 'empty'} to {after}: {where}")
    return 0


def _admin_create(args: argparse.Namespace, settings: Settings) -> int:
    from kokudaka.audit.staff_log import append_staff_action
    from kokudaka.auth.service import create_user
    from kokudaka.core.errors import KokudakaError
    from kokudaka.models import Role, StaffAction

    migrate(settings)
    password = os.environ.get("KOKUDAKA_ADMIN_PASSWORD") or getpass.getpass("Password: ")
    if len(password) < 10:
        print("the password needs at least 10 characters", file=sys.stderr)
        return 2
    engine = create_db_engine(settings.sqlalchemy_url)
    try:
        with create_sessionmaker(engine).begin() as session:
            user = create_user(
                session,
                settings,
                email=args.email,
                password=password,
                display_name=args.name,
                role=Role.platform_admin,
            )
            append_staff_action(
                session,
                None,
                StaffAction.staff_register,
                object_type="user",
                object_id=user.id,
                data={"email": user.email, "display_name": args.name, "role": user.role},
                municipality_id=None,
            )
            print(f"platform administrator {user.email} created ({user.id})")
    except KokudakaError as error:
        print(f"not created: {error.code}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    return 0


def _demo(_args: argparse.Namespace, settings: Settings) -> int:
    from kokudaka.demo import load_demo

    migrate(settings)
    engine = create_db_engine(settings.sqlalchemy_url)
    try:
        with create_sessionmaker(engine).begin() as session:
            summary = load_demo(session, settings)
    finally:
        engine.dispose()
    # Printed once committed: the accounts listed exist even if nobody reads the output.
    print(summary)
    return 0


def _audit_reconcile(args: argparse.Namespace, settings: Settings) -> int:
    from kokudaka.reconcile.command import run_audit

    if args.municipality is not None and not _municipality_exists(settings, args.municipality):
        print(f"unknown municipality: {args.municipality}", file=sys.stderr)
        return 2
    return run_audit(settings, args.municipality, sys.stdout)


def _audit_verify(_args: argparse.Namespace, settings: Settings) -> int:
    from kokudaka.audit.verify_command import run_verify

    return run_verify(settings, sys.stdout)


def _municipality_exists(settings: Settings, code: str) -> bool:
    from sqlalchemy import select

    from kokudaka.models import Municipality

    engine = create_db_engine(settings.sqlalchemy_url)
    try:
        with engine.connect() as conn:
            found = conn.scalar(select(Municipality.id).where(Municipality.code == code))
    finally:
        engine.dispose()
    return found is not None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kokudaka",
        description="Kokudaka (石高): the community-currency service for rice towns. "
        "Settings come from KOKUDAKA_* environment variables (see the README).",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="migrate the database, then run the API")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.set_defaults(handler=_serve)

    worker = sub.add_parser(
        "worker", help="settle the chain outbox (mints and burns) until SIGINT or SIGTERM"
    )
    worker.add_argument(
        "--manage-anvil",
        action="store_true",
        help="start a local anvil when KOKUDAKA_CHAIN_RPC_URL is empty (default: connect to "
        "the one kokudaka serve manages on KOKUDAKA_ANVIL_PORT)",
    )
    worker.set_defaults(handler=_worker)

    sub.add_parser("migrate", help="bring the database schema to head").set_defaults(
        handler=_migrate
    )

    admin = sub.add_parser("admin", help="administrator accounts")
    admin_sub = admin.add_subparsers(dest="admin_command", required=True)
    create = admin_sub.add_parser(
        "create",
        help="create a platform administrator (password from KOKUDAKA_ADMIN_PASSWORD or a prompt)",
    )
    create.add_argument("--email", required=True)
    create.add_argument("--name", default="Platform administrator")
    create.set_defaults(handler=_admin_create)

    sub.add_parser("demo", help="load a small realistic data set").set_defaults(handler=_demo)
    add_chain_commands(sub, migrate)
    add_bill_commands(sub, migrate)

    audit = sub.add_parser("audit", help="audits of the ledger")
    audit_sub = audit.add_subparsers(dest="audit_command", required=True)
    reconcile = audit_sub.add_parser(
        "reconcile",
        help="compare the ledger with the chain; exit 1 on any discrepancy, 2 if unreachable",
    )
    reconcile.add_argument("--municipality", metavar="CODE", help="only this municipality")
    reconcile.set_defaults(handler=_audit_reconcile)
    audit_sub.add_parser(
        "verify",
        help="recompute the staff audit log's hash chain and check it against its anchors on "
        "chain; exit 1 naming the first row changed, removed or reordered",
    ).set_defaults(handler=_audit_verify)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    # Alembic narrates every step of every upgrade; `migrate` says what changed instead.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args, get_settings()))
    except KeyboardInterrupt:
        # Ctrl-C is how a person stops `serve` or `worker`; by the time it reaches here
        # the service has shut down in order, so a traceback would only alarm them.
        print("stopped", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
