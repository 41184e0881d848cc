"""ledger: journals, entries, share entries (append-only), balances and locks (read model)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from hufimm.store.types import ExactInteger

revision = "ledger_0001"
down_revision = None
branch_labels = ("ledger",)
depends_on = "store_0001"

APPEND_ONLY = ("ledger_journals", "ledger_entries", "ledger_share_entries")


def _id() -> sa.types.TypeEngine[int]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "ledger_journals",
        sa.Column("journal_id", _id(), primary_key=True, autoincrement=False),
        sa.Column("idempotency_key", sa.String(200), nullable=False),
        sa.Column("payload_hash", sa.String(64), nullable=False),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(40), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("memo", sa.Text(), nullable=True),
        sa.Column("ref_type", sa.String(64), nullable=False),
        sa.Column("ref_id", sa.String(200), nullable=False),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.Column("first_entry_id", sa.BigInteger(), nullable=True),
        sa.Column("entry_count", sa.Integer(), nullable=False),
        sa.UniqueConstraint("idempotency_key", name="uq_ledger_journals_key"),
        sa.CheckConstraint("status IN ('applied', 'rejected')", name="ck_ledger_journal_status"),
    )
    op.create_table(
        "ledger_entries",
        sa.Column("entry_id", _id(), primary_key=True, autoincrement=False),
        sa.Column("journal_id", sa.BigInteger(), nullable=False),
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("asset_id", sa.String(200), nullable=False),
        sa.Column("order_id", sa.String(200), nullable=True),
        sa.Column("amount", ExactInteger(), nullable=False),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("available_after", ExactInteger(), nullable=False),
        sa.Column("locked_after", ExactInteger(), nullable=False),
    )
    op.create_index("ix_ledger_entries_owner_entry", "ledger_entries", ["owner", "entry_id"])
    op.create_table(
        "ledger_share_entries",
        sa.Column("share_entry_id", _id(), primary_key=True, autoincrement=False),
        sa.Column("journal_id", sa.BigInteger(), nullable=False),
        sa.Column("order_id", sa.String(200), nullable=False),
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("pool_id", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("shares", ExactInteger(), nullable=False),
        sa.Column("price", sa.String(64), nullable=True),
        sa.Column("created_at", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("kind IN ('MINT', 'BURN')", name="ck_ledger_share_kind"),
    )
    op.create_index(
        "ix_ledger_share_entries_order", "ledger_share_entries", ["order_id", "share_entry_id"]
    )
    op.create_index(
        "ix_ledger_share_entries_pool", "ledger_share_entries", ["pool_id", "share_entry_id"]
    )
    op.create_index("ix_ledger_share_entries_journal", "ledger_share_entries", ["journal_id"])
    op.create_table(
        "ledger_balances",
        sa.Column("owner", sa.String(200), primary_key=True),
        sa.Column("asset_id", sa.String(200), primary_key=True),
        sa.Column("available", ExactInteger(), nullable=False),
        sa.Column("locked", ExactInteger(), nullable=False),
        sqlite_with_rowid=False,  # the primary key is the table: one b-tree per upsert
    )
    op.create_table(
        "ledger_locks",
        sa.Column("order_id", sa.String(200), primary_key=True),
        sa.Column("asset_id", sa.String(200), primary_key=True),
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("amount", ExactInteger(), nullable=False),
        sqlite_with_rowid=False,
    )
    _create_append_only_triggers()
    if op.get_bind().dialect.name == "postgresql":
        # The read model is rewritten batch after batch: free room in each page lets
        # PostgreSQL update a row in place (HOT) instead of touching its index.
        for table in ("ledger_balances", "ledger_locks"):
            op.execute(f"ALTER TABLE {table} SET (fillfactor = 50)")


def _create_append_only_triggers() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for table in APPEND_ONLY:
            for action in ("UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: {action} refused'); END"
                )
        return
    op.execute(
        """
        CREATE FUNCTION ledger_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
                USING ERRCODE = 'restrict_violation';
        END
        $$
        """
    )
    for table in APPEND_ONLY:
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change()"
        )
        op.execute(
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change()"
        )


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    for table in APPEND_ONLY:
        if sqlite:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_update")
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_delete")
        else:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
    if not sqlite:
        op.execute("DROP FUNCTION IF EXISTS ledger_refuse_change()")
    op.drop_table("ledger_locks")
    op.drop_table("ledger_balances")
    op.drop_index("ix_ledger_share_entries_journal", table_name="ledger_share_entries")
    op.drop_index("ix_ledger_share_entries_pool", table_name="ledger_share_entries")
    op.drop_index("ix_ledger_share_entries_order", table_name="ledger_share_entries")
    op.drop_table("ledger_share_entries")
    op.drop_index("ix_ledger_entries_owner_entry", table_name="ledger_entries")
    op.drop_table("ledger_entries")
    op.drop_table("ledger_journals")
