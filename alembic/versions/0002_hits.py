"""Hits: one row per (watch, item), with matched terms and spans.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 03:50:08.978852
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import monitor.models


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('hits',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('watch_id', sa.String(length=200), nullable=False),
    sa.Column('item_id', sa.Integer(), nullable=False),
    sa.Column('priority', sa.String(length=16), nullable=False),
    sa.Column('priority_rank', sa.Integer(), nullable=False),
    sa.Column('terms', sa.JSON(), nullable=False),
    sa.Column('alertable', sa.Boolean(), nullable=False),
    sa.Column('created_at', monitor.models.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['item_id'], ['items.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('watch_id', 'item_id', name='uq_hits_watch_item')
    )
    with op.batch_alter_table('hits', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_hits_created_at'), ['created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_hits_item_id'), ['item_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('hits', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_hits_item_id'))
        batch_op.drop_index(batch_op.f('ix_hits_created_at'))

    op.drop_table('hits')
