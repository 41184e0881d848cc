"""strategy: intents say whether their order is post-only (existing rows were: all true)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "strategy_0002"
down_revision = "strategy_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "intents", sa.Column("post_only", sa.Boolean(), nullable=False, server_default=sa.true())
    )


def downgrade() -> None:
    op.drop_column("intents", "post_only")
