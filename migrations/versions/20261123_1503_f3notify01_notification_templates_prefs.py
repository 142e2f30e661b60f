"""Notification templates, preferences, drip campaigns, delivery (issue 6 item 3).

Revision ID: f3notify01
Revises: f2collect01
Create Date: 2026-11-23 15:03:00

New tables: notification_templates (a draft per institution, event and channel), notification_template_versions
(published, immutable), notification_preferences (per user, category and channel), campaign_deliveries (one row
per drip step sent). notifications gains category, next_attempt_at (retry/relay time) and template_version_id.
The default templates are seeded by portal/bootstrap.py ensure_reference_data (idempotent), not here.
"""
from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401


# revision identifiers, used by Alembic.
revision = 'f3notify01'
down_revision = 'f2collect01'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('notification_templates',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('institution_id', sa.Integer(), nullable=False),
    sa.Column('event', sa.String(length=60), nullable=False),
    sa.Column('channel', sa.String(length=10), nullable=False),
    sa.Column('draft_subject', sa.String(length=200), nullable=True),
    sa.Column('draft_body', sa.Text(), nullable=False),
    sa.Column('draft_updated_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('draft_updated_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['draft_updated_by_id'], ['users.id'],
                            name=op.f('fk_notification_templates_draft_updated_by_id_users')),
    sa.ForeignKeyConstraint(['institution_id'], ['institutions.id'],
                            name=op.f('fk_notification_templates_institution_id_institutions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notification_templates')),
    sa.UniqueConstraint('institution_id', 'event', 'channel', name='uq_notification_templates_event_channel')
    )
    op.create_index(op.f('ix_notification_templates_institution_id'), 'notification_templates', ['institution_id'],
                    unique=False)
    op.create_table('notification_template_versions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('template_id', sa.Integer(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('subject', sa.String(length=200), nullable=True),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('published_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('published_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['published_by_id'], ['users.id'],
                            name=op.f('fk_notification_template_versions_published_by_id_users')),
    sa.ForeignKeyConstraint(['template_id'], ['notification_templates.id'],
                            name='fk_notification_template_versions_template_id'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notification_template_versions')),
    sa.UniqueConstraint('template_id', 'version', name='uq_notification_template_versions_version')
    )
    op.create_index(op.f('ix_notification_template_versions_template_id'), 'notification_template_versions',
                    ['template_id'], unique=False)
    op.create_table('notification_preferences',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('category', sa.String(length=20), nullable=False),
    sa.Column('channel', sa.String(length=10), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_notification_preferences_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notification_preferences')),
    sa.UniqueConstraint('user_id', 'category', 'channel', name='uq_notification_preferences_choice')
    )
    op.create_index(op.f('ix_notification_preferences_user_id'), 'notification_preferences', ['user_id'],
                    unique=False)
    op.create_table('campaign_deliveries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('campaign', sa.String(length=40), nullable=False),
    sa.Column('customer_id', sa.Integer(), nullable=False),
    sa.Column('step', sa.Integer(), nullable=False),
    sa.Column('sent_on', sa.Date(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_campaign_deliveries_customer_id_customers')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_campaign_deliveries')),
    sa.UniqueConstraint('campaign', 'customer_id', 'step', name='uq_campaign_deliveries_step')
    )
    op.create_index(op.f('ix_campaign_deliveries_customer_id'), 'campaign_deliveries', ['customer_id'], unique=False)
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.add_column(sa.Column('category', sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('template_version_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key('fk_notifications_template_version_id', 'notification_template_versions',
                                    ['template_version_id'], ['id'])
        batch_op.create_index('ix_notifications_relay', ['status', 'next_attempt_at'], unique=False)


def downgrade():
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_index('ix_notifications_relay')
        batch_op.drop_constraint('fk_notifications_template_version_id', type_='foreignkey')
        batch_op.drop_column('template_version_id')
        batch_op.drop_column('next_attempt_at')
        batch_op.drop_column('category')
    op.drop_index(op.f('ix_campaign_deliveries_customer_id'), table_name='campaign_deliveries')
    op.drop_table('campaign_deliveries')
    op.drop_index(op.f('ix_notification_preferences_user_id'), table_name='notification_preferences')
    op.drop_table('notification_preferences')
    op.drop_index(op.f('ix_notification_template_versions_template_id'), table_name='notification_template_versions')
    op.drop_table('notification_template_versions')
    op.drop_index(op.f('ix_notification_templates_institution_id'), table_name='notification_templates')
    op.drop_table('notification_templates')
