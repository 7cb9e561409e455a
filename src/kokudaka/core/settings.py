"""All configuration, read once from ``KOKUDAKA_*`` environment variables.

Defaults are safe for a laptop (a SQLite file under ``./data`` and a managed local
anvil); outside development the well-known development secrets are refused so that a
production deployment cannot start with them by accident.
"""

from __future__ import annotations

from enum import StrEnum
from functools import lru_cache
from pathlib import Path

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_JWT_SECRET = "dev-only-jwt-secret-change-me-0123456789abcdef"  # noqa: S105
DEV_WEBHOOK_SECRET = "dev-only-webhook-secret-change-me"  # noqa: S105
DEV_WALLET_KEY = "dev-only-wallet-encryption-key-change-me"


class Environment(StrEnum):
    development = "development"
    test = "test"
    production = "production"


class Settings(BaseSettings):
    """Service settings; every field can be set as ``KOKUDAKA_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="KOKUDAKA_", extra="ignore")

    env: Environment = Environment.development
    data_dir: Path = Path("data")
    """SQLite file, chain state and logs. Made absolute when the settings are read, so every
    path derived from it names one place whatever the working directory of the process that
    uses it (the managed anvil runs in ``<data_dir>/chain``, not in the service's directory)."""
    database_url: str = ""
    """SQLAlchemy URL; empty means a SQLite file ``<data_dir>/kokudaka.db``."""

    host: str = "127.0.0.1"
    port: int = 8000

    jwt_secret: str = DEV_JWT_SECRET
    jwt_issuer: str = "kokudaka"
    jwt_audience: str = "kokudaka-api"
    access_token_ttl_seconds: int = Field(default=900, ge=60, le=86400)

    argon2_time_cost: int = Field(default=3, ge=1)
    argon2_memory_kib: int = Field(default=65536, ge=8)
    """argon2id cost (RFC 9106 second profile by default); tests lower it for speed."""

    sign_in_max_failures: int = Field(default=5, ge=1)
    """Failed sign-ins per account within the window before further attempts get 429."""
    sign_in_window_seconds: int = Field(default=900, ge=1)
    console_idle_timeout_seconds: int = Field(default=900, ge=60, le=86400)
    """A web console session with no request for this long has ended (a shared town-hall
    PC left signed in is signed out on its own)."""

    max_request_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    """Largest request body accepted; a larger one is refused with 413 before it is read."""
    request_body_timeout_seconds: float = Field(default=10.0, gt=0)
    """Time a client has to send its whole request body; a slower one gets 408. The body is
    read before the request waits for the database, so a slow client never holds it."""

    payment_webhook_secret: str = DEV_WEBHOOK_SECRET
    payment_webhook_tolerance_seconds: int = Field(default=300, ge=1)

    wallet_encryption_key: str = DEV_WALLET_KEY
    """Key material for encrypting custodial private keys at rest."""

    # The chain. An empty rpc url means "start and supervise a local anvil".
    chain_enabled: bool = True
    chain_rpc_url: str = ""
    chain_id: int = 31337
    anvil_port: int = 8545
    anvil_block_time: float | None = None
    anvil_state_interval: int = Field(default=5, ge=1, le=3600)
    """Seconds between the managed anvil's state dumps: what a ``kill -9`` of anvil can lose
    (the settlement worker mints it again). The state is also written on every clean stop."""
    deployer_key: str = ""
    """Private key of the contract admin (the cold key); empty in development means the first
    anvil key. In production it is given only to the ``kokudaka chain`` commands, for that
    command: ``serve`` and ``worker`` refuse to start with it set."""
    anchor_key: str = ""
    """Private key that anchors the staff audit log's head on chain (``ANCHOR_ROLE``, nothing
    else); empty in development means anvil's second key. Each town's minter key is in the
    database (``town_minters``), not here."""
    audit_anchor_seconds: float = Field(default=60, gt=0)
    """Seconds between anchors of the staff audit log's head on chain (only when it moved):
    the most of the log's tail a forger who rewrites the database, head and all, can hide."""
    bill_jobs_seconds: float = Field(default=3600, gt=0)
    """Seconds between runs of the bills' daily work (expiry notices, gifts of expired
    bills) in the worker; each run is idempotent, so this only sets how soon after midnight
    in Japan a bill is closed."""
    settlement_batch_size: int = Field(default=300, ge=1, le=315)
    """Mints per transaction; 315 is the most that stays under the 2**24 gas cap."""
    settlement_poll_seconds: float = Field(default=0.5, gt=0)

    @field_validator("data_dir", mode="after")
    @classmethod
    def _absolute_data_dir(cls, data_dir: Path) -> Path:
        return data_dir.expanduser().resolve()

    @property
    def is_development(self) -> bool:
        return self.env is not Environment.production

    @property
    def sqlalchemy_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'kokudaka.db').as_posix()}"

    @model_validator(mode="after")
    def _refuse_dev_secrets_outside_development(self) -> Settings:
        if self.env is Environment.production:
            dev_values = {
                "KOKUDAKA_JWT_SECRET": (self.jwt_secret, DEV_JWT_SECRET),
                "KOKUDAKA_PAYMENT_WEBHOOK_SECRET": (
                    self.payment_webhook_secret,
                    DEV_WEBHOOK_SECRET,
                ),
                "KOKUDAKA_WALLET_ENCRYPTION_KEY": (self.wallet_encryption_key, DEV_WALLET_KEY),
            }
            bad = [name for name, (value, dev) in dev_values.items() if value == dev]
            if bad:
                raise ValueError(f"development secrets refused in production: {', '.join(bad)}")
            if len(self.jwt_secret) < 32:
                raise ValueError("KOKUDAKA_JWT_SECRET must be at least 32 characters")
            self._refuse_dev_chain_keys()
        return self

    def _refuse_dev_chain_keys(self) -> None:
        # Anvil's keys are public: whoever reads a foundry tutorial could mint or administer.
        from kokudaka.chain.devkeys import is_dev_key

        keys = {"KOKUDAKA_DEPLOYER_KEY": self.deployer_key, "KOKUDAKA_ANCHOR_KEY": self.anchor_key}
        dev = [name for name, key in keys.items() if key and is_dev_key(key)]
        if dev:
            raise ValueError(f"anvil development keys refused in production: {', '.join(dev)}")
        # The deployer (admin) key is not required: it is cold, given to admin commands only.
        if self.chain_enabled and not self.anchor_key:
            raise ValueError("required in production: KOKUDAKA_ANCHOR_KEY")


@lru_cache
def get_settings() -> Settings:
    return Settings()
