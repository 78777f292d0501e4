"""Tombstones: pruned_at becomes seen_at, moved on while a feed still serves the entry.

A tombstone that expired a fixed time after its item was pruned let an entry a feed kept
serving (archives, undated entries) come back as a new item and alert again.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06 21:50:00
"""

from __future__ import annotations

from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Two steps: a batch (SQLite rebuilds the table) cannot index a column it renames.
    with op.batch_alter_table('tombstones', schema=None) as batch_op:
        batch_op.alter_column('pruned_at', new_column_name='seen_at')
    op.create_index(op.f('ix_tombstones_seen_at'), 'tombstones', ['seen_at'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_tombstones_seen_at'), table_name='tombstones')
    with op.batch_alter_table('tombstones', schema=None) as batch_op:
        batch_op.alter_column('seen_at', new_column_name='pruned_at')
