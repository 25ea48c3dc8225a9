"""Segment transcripts and job leases: ``segments.text`` (the redacted transcript of a segment),
``calls.claimed_by`` and ``calls.lease_until`` (which service process analyses a call, and until
when its claim holds without a heartbeat).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("segments", sa.Column("text", sa.Text(), nullable=True))
    op.add_column("calls", sa.Column("claimed_by", sa.String(128), nullable=True))
    op.add_column("calls", sa.Column("lease_until", sa.DateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("calls") as batch:
        batch.drop_column("lease_until")
        batch.drop_column("claimed_by")
    with op.batch_alter_table("segments") as batch:
        batch.drop_column("text")
