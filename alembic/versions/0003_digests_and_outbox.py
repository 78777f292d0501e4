"""Digests, their hits, the delivery outbox and per-subscription state.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 03:58:14.155142
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import monitor.models


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('digests',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('subscription', sa.String(length=200), nullable=False),
    sa.Column('window_start', monitor.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('window_end', monitor.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_at', monitor.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('subject', sa.Text(), nullable=False),
    sa.Column('hit_count', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('subscription', 'window_end', name='uq_digests_window')
    )
    op.create_table('subscription_state',
    sa.Column('subscription', sa.String(length=200), nullable=False),
    sa.Column('first_start', monitor.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_window_end', monitor.models.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('subscription')
    )
    op.create_table('deliveries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('digest_id', sa.Integer(), nullable=False),
    sa.Column('subscription', sa.String(length=200), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('target', sa.Text(), nullable=False),
    sa.Column('content', sa.JSON(), nullable=False),
    sa.Column('message_id', sa.Text(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('progress', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', monitor.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('claimed_by', sa.String(length=100), nullable=True),
    sa.Column('claim_until', monitor.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', monitor.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('sent_at', monitor.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['digest_id'], ['digests.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_deliveries_digest_id'), ['digest_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_deliveries_next_attempt_at'), ['next_attempt_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_deliveries_status'), ['status'], unique=False)

    op.create_table('digest_hits',
    sa.Column('digest_id', sa.Integer(), nullable=False),
    sa.Column('hit_id', sa.Integer(), nullable=False),
    sa.Column('subscription', sa.String(length=200), nullable=False),
    sa.ForeignKeyConstraint(['digest_id'], ['digests.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['hit_id'], ['hits.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('digest_id', 'hit_id'),
    sa.UniqueConstraint('subscription', 'hit_id', name='uq_digest_hits_subscription_hit')
    )
    with op.batch_alter_table('digest_hits', schema=None) as batch_op:
        batch_op.create_index('ix_digest_hits_hit_id', ['hit_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('digest_hits', schema=None) as batch_op:
        batch_op.drop_index('ix_digest_hits_hit_id')

    op.drop_table('digest_hits')
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_deliveries_status'))
        batch_op.drop_index(batch_op.f('ix_deliveries_next_attempt_at'))
        batch_op.drop_index(batch_op.f('ix_deliveries_digest_id'))

    op.drop_table('deliveries')
    op.drop_table('subscription_state')
    op.drop_table('digests')
