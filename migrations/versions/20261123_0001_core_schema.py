"""Core schema: municipalities, people, farmers, works, investments, volunteering,
the double-entry ledger and the chain outbox.

Revision ID: 0001
Revises:
Create Date: 2026-11-23 10:36:34.978976
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "regions",
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_regions")),
        sa.UniqueConstraint("code", name=op.f("uq_regions_code")),
    )
    op.create_table(
        "sign_in_failures",
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("failed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sign_in_failures")),
    )
    with op.batch_alter_table("sign_in_failures", schema=None) as batch_op:
        batch_op.create_index(
            "ix_sign_in_failures_email_failed_at", ["email", "failed_at"], unique=False
        )

    op.create_table(
        "municipalities",
        sa.Column("region_id", sa.Uuid(), nullable=False),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["region_id"], ["regions.id"], name=op.f("fk_municipalities_region_id_regions")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_municipalities")),
        sa.UniqueConstraint("code", name=op.f("uq_municipalities_code")),
    )
    with op.batch_alter_table("municipalities", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_municipalities_region_id"), ["region_id"], unique=False
        )

    op.create_table(
        "municipality_policies",
        sa.Column("municipality_id", sa.Uuid(), nullable=False),
        sa.Column("season", sa.BigInteger(), nullable=False),
        sa.Column("price_yen_per_go", sa.BigInteger(), nullable=False),
        sa.Column("volunteer_go_per_hour", sa.BigInteger(), nullable=False),
        sa.Column("yearly_cap_go", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.CheckConstraint(
            "price_yen_per_go > 0", name=op.f("ck_municipality_policies_price_positive")
        ),
        sa.CheckConstraint(
            "volunteer_go_per_hour >= 0",
            name=op.f("ck_municipality_policies_volunteer_rate_non_negative"),
        ),
        sa.CheckConstraint(
            "yearly_cap_go >= 0", name=op.f("ck_municipality_policies_cap_non_negative")
        ),
        sa.ForeignKeyConstraint(
            ["municipality_id"],
            ["municipalities.id"],
            name=op.f("fk_municipality_policies_municipality_id_municipalities"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_municipality_policies")),
        sa.UniqueConstraint(
            "municipality_id",
            "season",
            name=op.f("uq_municipality_policies_municipality_id_season"),
        ),
    )
    op.create_table(
        "users",
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=False),
        sa.Column("display_name", sa.String(length=100), nullable=False),
        sa.Column(
            "role",
            sa.Enum(
                "supporter",
                "farmer",
                "town_admin",
                "regional_auditor",
                "platform_admin",
                name="role",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("municipality_id", sa.Uuid(), nullable=True),
        sa.Column("region_id", sa.Uuid(), nullable=True),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("wallet_address", sa.String(length=42), nullable=True),
        sa.Column("wallet_key_ciphertext", sa.LargeBinary(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["municipality_id"],
            ["municipalities.id"],
            name=op.f("fk_users_municipality_id_municipalities"),
        ),
        sa.ForeignKeyConstraint(
            ["region_id"], ["regions.id"], name=op.f("fk_users_region_id_regions")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("email", name=op.f("uq_users_email")),
        sa.UniqueConstraint("wallet_address", name=op.f("uq_users_wallet_address")),
    )
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_users_municipality_id"), ["municipality_id"], unique=False
        )

    op.create_table(
        "accounts",
        sa.Column("key", sa.String(length=80), nullable=False),
        sa.Column(
            "kind",
            sa.Enum("issuance", "holder", name="accountkind", native_enum=False, length=16),
            nullable=False,
        ),
        sa.Column("municipality_id", sa.Uuid(), nullable=True),
        sa.Column("user_id", sa.Uuid(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["municipality_id"],
            ["municipalities.id"],
            name=op.f("fk_accounts_municipality_id_municipalities"),
        ),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_accounts_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_accounts")),
        sa.UniqueConstraint("key", name=op.f("uq_accounts_key")),
    )
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_accounts_user_id"), ["user_id"], unique=False)

    op.create_table(
        "farmers",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("municipality_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("farm_name", sa.String(length=200), nullable=False),
        sa.Column("story", sa.Text(), nullable=False),
        sa.Column("varieties", sa.JSON(), nullable=False),
        sa.Column("photo_url", sa.String(length=2000), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["municipality_id"],
            ["municipalities.id"],
            name=op.f("fk_farmers_municipality_id_municipalities"),
        ),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_farmers_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_farmers")),
        sa.UniqueConstraint("user_id", name=op.f("uq_farmers_user_id")),
    )
    with op.batch_alter_table("farmers", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_farmers_municipality_id"), ["municipality_id"], unique=False
        )

    op.create_table(
        "idempotency_records",
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("scope", sa.String(length=60), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("response_status", sa.Integer(), nullable=False),
        sa.Column("response_body", sa.JSON(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_idempotency_records_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_idempotency_records")),
        sa.UniqueConstraint(
            "user_id", "scope", "key", name=op.f("uq_idempotency_records_user_id_scope_key")
        ),
    )
    op.create_table(
        "journal_entries",
        sa.Column(
            "kind",
            sa.Enum("issuance", "reversal", name="entrykind", native_enum=False, length=16),
            nullable=False,
        ),
        sa.Column("municipality_id", sa.Uuid(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=120), nullable=False),
        sa.Column("reverses_entry_id", sa.Uuid(), nullable=True),
        sa.Column("memo", sa.String(length=1000), nullable=False),
        sa.Column("created_by_id", sa.Uuid(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["users.id"], name=op.f("fk_journal_entries_created_by_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["municipality_id"],
            ["municipalities.id"],
            name=op.f("fk_journal_entries_municipality_id_municipalities"),
        ),
        sa.ForeignKeyConstraint(
            ["reverses_entry_id"],
            ["journal_entries.id"],
            name=op.f("fk_journal_entries_reverses_entry_id_journal_entries"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_journal_entries")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_journal_entries_idempotency_key")),
        sa.UniqueConstraint("reverses_entry_id", name=op.f("uq_journal_entries_reverses_entry_id")),
    )
    with op.batch_alter_table("journal_entries", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_journal_entries_municipality_id"), ["municipality_id"], unique=False
        )

    op.create_table(
        "activities",
        sa.Column("municipality_id", sa.Uuid(), nullable=False),
        sa.Column("farmer_id", sa.Uuid(), nullable=True),
        sa.Column("created_by_id", sa.Uuid(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("activity_on", sa.Date(), nullable=False),
        sa.Column("place", sa.String(length=200), nullable=False),
        sa.Column("go_per_hour", sa.BigInteger(), nullable=False),
        sa.Column("capacity", sa.BigInteger(), nullable=False),
        sa.Column("max_minutes_per_person", sa.BigInteger(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("capacity > 0", name=op.f("ck_activities_capacity_positive")),
        sa.CheckConstraint("go_per_hour >= 0", name=op.f("ck_activities_rate_non_negative")),
        sa.CheckConstraint(
            "max_minutes_per_person > 0", name=op.f("ck_activities_max_minutes_positive")
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["users.id"], name=op.f("fk_activities_created_by_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["farmer_id"], ["farmers.id"], name=op.f("fk_activities_farmer_id_farmers")
        ),
        sa.ForeignKeyConstraint(
            ["municipality_id"],
            ["municipalities.id"],
            name=op.f("fk_activities_municipality_id_municipalities"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_activities")),
    )
    with op.batch_alter_table("activities", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_activities_farmer_id"), ["farmer_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_activities_municipality_id"), ["municipality_id"], unique=False
        )

    op.create_table(
        "postings",
        sa.Column("entry_id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("amount_go", sa.BigInteger(), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.CheckConstraint("amount_go <> 0", name=op.f("ck_postings_amount_non_zero")),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_postings_account_id_accounts")
        ),
        sa.ForeignKeyConstraint(
            ["entry_id"], ["journal_entries.id"], name=op.f("fk_postings_entry_id_journal_entries")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_postings")),
    )
    with op.batch_alter_table("postings", schema=None) as batch_op:
        batch_op.create_index(
            "ix_postings_account_id_amount_go", ["account_id", "amount_go"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_postings_entry_id"), ["entry_id"], unique=False)

    op.create_table(
        "works",
        sa.Column("farmer_id", sa.Uuid(), nullable=False),
        sa.Column("municipality_id", sa.Uuid(), nullable=False),
        sa.Column("season", sa.BigInteger(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("variety", sa.String(length=100), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("field_area_m2", sa.BigInteger(), nullable=False),
        sa.Column("planned_yield_go", sa.BigInteger(), nullable=False),
        sa.Column("offer_yen", sa.BigInteger(), nullable=False),
        sa.Column("is_open", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("field_area_m2 > 0", name=op.f("ck_works_field_area_positive")),
        sa.CheckConstraint("offer_yen >= 0", name=op.f("ck_works_offer_non_negative")),
        sa.CheckConstraint("planned_yield_go > 0", name=op.f("ck_works_planned_yield_positive")),
        sa.ForeignKeyConstraint(
            ["farmer_id"], ["farmers.id"], name=op.f("fk_works_farmer_id_farmers")
        ),
        sa.ForeignKeyConstraint(
            ["municipality_id"],
            ["municipalities.id"],
            name=op.f("fk_works_municipality_id_municipalities"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_works")),
    )
    with op.batch_alter_table("works", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_works_farmer_id"), ["farmer_id"], unique=False)
        batch_op.create_index(
            "ix_works_municipality_id_season", ["municipality_id", "season"], unique=False
        )

    op.create_table(
        "contributions",
        sa.Column("activity_id", sa.Uuid(), nullable=False),
        sa.Column("supporter_id", sa.Uuid(), nullable=False),
        sa.Column("minutes", sa.BigInteger(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "pending",
                "approved",
                "rejected",
                name="contributionstatus",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("reviewed_by_id", sa.Uuid(), nullable=True),
        sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("rejection_reason", sa.String(length=1000), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("minutes > 0", name=op.f("ck_contributions_minutes_positive")),
        sa.ForeignKeyConstraint(
            ["activity_id"], ["activities.id"], name=op.f("fk_contributions_activity_id_activities")
        ),
        sa.ForeignKeyConstraint(
            ["reviewed_by_id"], ["users.id"], name=op.f("fk_contributions_reviewed_by_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["supporter_id"], ["users.id"], name=op.f("fk_contributions_supporter_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contributions")),
        sa.UniqueConstraint(
            "activity_id", "supporter_id", name=op.f("uq_contributions_activity_id_supporter_id")
        ),
    )
    with op.batch_alter_table("contributions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_contributions_supporter_id"), ["supporter_id"], unique=False
        )

    op.create_table(
        "investments",
        sa.Column("supporter_id", sa.Uuid(), nullable=False),
        sa.Column("work_id", sa.Uuid(), nullable=False),
        sa.Column("municipality_id", sa.Uuid(), nullable=False),
        sa.Column("amount_yen", sa.BigInteger(), nullable=False),
        sa.Column("price_yen_per_go", sa.BigInteger(), nullable=False),
        sa.Column("go_amount", sa.BigInteger(), nullable=False),
        sa.Column("remainder_yen", sa.BigInteger(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "pending_payment",
                "confirmed",
                "cancelled",
                name="investmentstatus",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("payment_reference", sa.String(length=200), nullable=True),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("confirmed_by_id", sa.Uuid(), nullable=True),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("amount_yen > 0", name=op.f("ck_investments_amount_positive")),
        sa.CheckConstraint("go_amount > 0", name=op.f("ck_investments_go_positive")),
        sa.ForeignKeyConstraint(
            ["confirmed_by_id"], ["users.id"], name=op.f("fk_investments_confirmed_by_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["municipality_id"],
            ["municipalities.id"],
            name=op.f("fk_investments_municipality_id_municipalities"),
        ),
        sa.ForeignKeyConstraint(
            ["supporter_id"], ["users.id"], name=op.f("fk_investments_supporter_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["work_id"], ["works.id"], name=op.f("fk_investments_work_id_works")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_investments")),
    )
    with op.batch_alter_table("investments", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_investments_supporter_id"), ["supporter_id"], unique=False
        )
        batch_op.create_index("ix_investments_work_id_status", ["work_id", "status"], unique=False)

    op.create_table(
        "issuances",
        sa.Column("entry_id", sa.Uuid(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "investment", "contribution", name="issuancekind", native_enum=False, length=16
            ),
            nullable=False,
        ),
        sa.Column("municipality_id", sa.Uuid(), nullable=False),
        sa.Column("season", sa.BigInteger(), nullable=False),
        sa.Column("recipient_id", sa.Uuid(), nullable=False),
        sa.Column("amount_go", sa.BigInteger(), nullable=False),
        sa.Column("farmer_id", sa.Uuid(), nullable=True),
        sa.Column("work_id", sa.Uuid(), nullable=True),
        sa.Column("investment_id", sa.Uuid(), nullable=True),
        sa.Column("activity_id", sa.Uuid(), nullable=True),
        sa.Column("contribution_id", sa.Uuid(), nullable=True),
        sa.Column("price_yen_per_go", sa.BigInteger(), nullable=True),
        sa.Column("go_per_hour", sa.BigInteger(), nullable=True),
        sa.Column("reversal_entry_id", sa.Uuid(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("amount_go > 0", name=op.f("ck_issuances_amount_positive")),
        sa.ForeignKeyConstraint(
            ["activity_id"], ["activities.id"], name=op.f("fk_issuances_activity_id_activities")
        ),
        sa.ForeignKeyConstraint(
            ["contribution_id"],
            ["contributions.id"],
            name=op.f("fk_issuances_contribution_id_contributions"),
        ),
        sa.ForeignKeyConstraint(
            ["entry_id"], ["journal_entries.id"], name=op.f("fk_issuances_entry_id_journal_entries")
        ),
        sa.ForeignKeyConstraint(
            ["farmer_id"], ["farmers.id"], name=op.f("fk_issuances_farmer_id_farmers")
        ),
        sa.ForeignKeyConstraint(
            ["investment_id"],
            ["investments.id"],
            name=op.f("fk_issuances_investment_id_investments"),
        ),
        sa.ForeignKeyConstraint(
            ["municipality_id"],
            ["municipalities.id"],
            name=op.f("fk_issuances_municipality_id_municipalities"),
        ),
        sa.ForeignKeyConstraint(
            ["recipient_id"], ["users.id"], name=op.f("fk_issuances_recipient_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["reversal_entry_id"],
            ["journal_entries.id"],
            name=op.f("fk_issuances_reversal_entry_id_journal_entries"),
        ),
        sa.ForeignKeyConstraint(["work_id"], ["works.id"], name=op.f("fk_issuances_work_id_works")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_issuances")),
        sa.UniqueConstraint("contribution_id", name=op.f("uq_issuances_contribution_id")),
        sa.UniqueConstraint("entry_id", name=op.f("uq_issuances_entry_id")),
        sa.UniqueConstraint("investment_id", name=op.f("uq_issuances_investment_id")),
        sa.UniqueConstraint("reversal_entry_id", name=op.f("uq_issuances_reversal_entry_id")),
    )
    with op.batch_alter_table("issuances", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_issuances_farmer_id"), ["farmer_id"], unique=False)
        batch_op.create_index(
            "ix_issuances_municipality_id_season", ["municipality_id", "season"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_issuances_recipient_id"), ["recipient_id"], unique=False
        )

    op.create_table(
        "payment_events",
        sa.Column("event_id", sa.String(length=200), nullable=False),
        sa.Column("investment_id", sa.Uuid(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["investment_id"],
            ["investments.id"],
            name=op.f("fk_payment_events_investment_id_investments"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_events")),
        sa.UniqueConstraint("event_id", name=op.f("uq_payment_events_event_id")),
    )
    op.create_table(
        "chain_operations",
        sa.Column(
            "kind",
            sa.Enum("mint", "burn", name="chainoperationkind", native_enum=False, length=16),
            nullable=False,
        ),
        sa.Column("entry_id", sa.Uuid(), nullable=False),
        sa.Column("issuance_id", sa.Uuid(), nullable=False),
        sa.Column("municipality_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("reference", sa.String(length=66), nullable=False),
        sa.Column("amount_go", sa.BigInteger(), nullable=False),
        sa.Column(
            "state",
            sa.Enum(
                "pending",
                "submitted",
                "confirmed",
                "failed",
                name="chainstate",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tx_hash", sa.String(length=66), nullable=True),
        sa.Column("block_number", sa.BigInteger(), nullable=True),
        sa.Column("last_error", sa.String(length=1000), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("amount_go > 0", name=op.f("ck_chain_operations_amount_positive")),
        sa.ForeignKeyConstraint(
            ["entry_id"],
            ["journal_entries.id"],
            name=op.f("fk_chain_operations_entry_id_journal_entries"),
        ),
        sa.ForeignKeyConstraint(
            ["issuance_id"],
            ["issuances.id"],
            name=op.f("fk_chain_operations_issuance_id_issuances"),
        ),
        sa.ForeignKeyConstraint(
            ["municipality_id"],
            ["municipalities.id"],
            name=op.f("fk_chain_operations_municipality_id_municipalities"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_chain_operations_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chain_operations")),
        sa.UniqueConstraint("entry_id", name=op.f("uq_chain_operations_entry_id")),
        sa.UniqueConstraint("reference", name=op.f("uq_chain_operations_reference")),
    )
    with op.batch_alter_table("chain_operations", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_chain_operations_issuance_id"), ["issuance_id"], unique=False
        )
        batch_op.create_index(
            "ix_chain_operations_state_next_attempt_at", ["state", "next_attempt_at"], unique=False
        )


def downgrade() -> None:

    with op.batch_alter_table("chain_operations", schema=None) as batch_op:
        batch_op.drop_index("ix_chain_operations_state_next_attempt_at")
        batch_op.drop_index(batch_op.f("ix_chain_operations_issuance_id"))

    op.drop_table("chain_operations")
    op.drop_table("payment_events")
    with op.batch_alter_table("issuances", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_issuances_recipient_id"))
        batch_op.drop_index("ix_issuances_municipality_id_season")
        batch_op.drop_index(batch_op.f("ix_issuances_farmer_id"))

    op.drop_table("issuances")
    with op.batch_alter_table("investments", schema=None) as batch_op:
        batch_op.drop_index("ix_investments_work_id_status")
        batch_op.drop_index(batch_op.f("ix_investments_supporter_id"))

    op.drop_table("investments")
    with op.batch_alter_table("contributions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_contributions_supporter_id"))

    op.drop_table("contributions")
    with op.batch_alter_table("works", schema=None) as batch_op:
        batch_op.drop_index("ix_works_municipality_id_season")
        batch_op.drop_index(batch_op.f("ix_works_farmer_id"))

    op.drop_table("works")
    with op.batch_alter_table("postings", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_postings_entry_id"))
        batch_op.drop_index("ix_postings_account_id_amount_go")

    op.drop_table("postings")
    with op.batch_alter_table("activities", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_activities_municipality_id"))
        batch_op.drop_index(batch_op.f("ix_activities_farmer_id"))

    op.drop_table("activities")
    with op.batch_alter_table("journal_entries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_journal_entries_municipality_id"))

    op.drop_table("journal_entries")
    op.drop_table("idempotency_records")
    with op.batch_alter_table("farmers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_farmers_municipality_id"))

    op.drop_table("farmers")
    with op.batch_alter_table("accounts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_accounts_user_id"))

    op.drop_table("accounts")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_users_municipality_id"))

    op.drop_table("users")
    op.drop_table("municipality_policies")
    with op.batch_alter_table("municipalities", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_municipalities_region_id"))

    op.drop_table("municipalities")
    with op.batch_alter_table("sign_in_failures", schema=None) as batch_op:
        batch_op.drop_index("ix_sign_in_failures_email_failed_at")

    op.drop_table("sign_in_failures")
    op.drop_table("regions")
