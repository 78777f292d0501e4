"""Initial schema: feeds, items, per-feed entry keys, item sources, tombstones.

Revision ID: 0001
Revises: 
Create Date: 2026-11-22 03:25:13.376721
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import monitor.models


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('feeds',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('url', sa.Text(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('tags', sa.JSON(), nullable=False),
    sa.Column('origin', sa.String(length=16), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('disabled_reason', sa.Text(), nullable=True),
    sa.Column('title', sa.Text(), nullable=True),
    sa.Column('site_url', sa.Text(), nullable=True),
    sa.Column('interval_override', sa.Integer(), nullable=True),
    sa.Column('interval', sa.Integer(), nullable=False),
    sa.Column('ttl', sa.Integer(), nullable=True),
    sa.Column('next_poll_at', monitor.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('retry_after_until', monitor.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('lease_owner', sa.String(length=100), nullable=True),
    sa.Column('lease_until', monitor.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('etag', sa.Text(), nullable=True),
    sa.Column('last_modified', sa.Text(), nullable=True),
    sa.Column('body_hash', sa.String(length=64), nullable=True),
    sa.Column('created_at', monitor.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('first_success_at', monitor.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_polled_at', monitor.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_success_at', monitor.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_new_item_at', monitor.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_error_at', monitor.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('last_status', sa.Integer(), nullable=True),
    sa.Column('consecutive_failures', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name'),
    sa.UniqueConstraint('url')
    )
    with op.batch_alter_table('feeds', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_feeds_next_poll_at'), ['next_poll_at'], unique=False)

    op.create_table('tombstones',
    sa.Column('key_hash', sa.String(length=64), nullable=False),
    sa.Column('pruned_at', monitor.models.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('key_hash')
    )
    op.create_table('items',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('feed_id', sa.Integer(), nullable=True),
    sa.Column('guid', sa.Text(), nullable=True),
    sa.Column('url', sa.Text(), nullable=True),
    sa.Column('canonical_url', sa.Text(), nullable=True),
    sa.Column('title', sa.Text(), nullable=False),
    sa.Column('summary_text', sa.Text(), nullable=False),
    sa.Column('summary_html', sa.Text(), nullable=False),
    sa.Column('content_text', sa.Text(), nullable=False),
    sa.Column('content_html', sa.Text(), nullable=False),
    sa.Column('author', sa.Text(), nullable=True),
    sa.Column('tags', sa.JSON(), nullable=False),
    sa.Column('language', sa.String(length=35), nullable=True),
    sa.Column('published_at', monitor.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('published_from_feed', sa.Boolean(), nullable=False),
    sa.Column('first_seen_at', monitor.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', monitor.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('content_hash', sa.String(length=64), nullable=False),
    sa.Column('is_backlog', sa.Boolean(), nullable=False),
    sa.Column('is_stale', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['feed_id'], ['feeds.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('items', schema=None) as batch_op:
        batch_op.create_index('ix_items_canonical_url', ['canonical_url'], unique=True, sqlite_where=sa.text('canonical_url IS NOT NULL'), postgresql_where=sa.text('canonical_url IS NOT NULL'))
        batch_op.create_index(batch_op.f('ix_items_feed_id'), ['feed_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_items_first_seen_at'), ['first_seen_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_items_published_at'), ['published_at'], unique=False)

    op.create_table('item_keys',
    sa.Column('feed_id', sa.Integer(), nullable=False),
    sa.Column('key_hash', sa.String(length=64), nullable=False),
    sa.Column('item_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['feed_id'], ['feeds.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['item_id'], ['items.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('feed_id', 'key_hash')
    )
    with op.batch_alter_table('item_keys', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_item_keys_item_id'), ['item_id'], unique=False)

    op.create_table('item_sources',
    sa.Column('item_id', sa.Integer(), nullable=False),
    sa.Column('feed_id', sa.Integer(), nullable=False),
    sa.Column('url', sa.Text(), nullable=True),
    sa.Column('first_seen_at', monitor.models.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['feed_id'], ['feeds.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['item_id'], ['items.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('item_id', 'feed_id')
    )
    with op.batch_alter_table('item_sources', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_item_sources_feed_id'), ['feed_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('item_sources', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_item_sources_feed_id'))

    op.drop_table('item_sources')
    with op.batch_alter_table('item_keys', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_item_keys_item_id'))

    op.drop_table('item_keys')
    with op.batch_alter_table('items', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_items_published_at'))
        batch_op.drop_index(batch_op.f('ix_items_first_seen_at'))
        batch_op.drop_index(batch_op.f('ix_items_feed_id'))
        batch_op.drop_index('ix_items_canonical_url', sqlite_where=sa.text('canonical_url IS NOT NULL'), postgresql_where=sa.text('canonical_url IS NOT NULL'))

    op.drop_table('items')
    op.drop_table('tombstones')
    with op.batch_alter_table('feeds', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_feeds_next_poll_at'))

    op.drop_table('feeds')
