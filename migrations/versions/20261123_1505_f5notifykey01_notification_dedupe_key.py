"""A unique dedupe key on notifications (close-of-business reminders written by bulk insert, once per
loan, date and channel).

Revision ID: f5notifykey01
Revises: f4useradm01
Create Date: 2026-11-23 15:05:00

"""
from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401


# revision identifiers, used by Alembic.
revision = 'f5notifykey01'
down_revision = 'f4useradm01'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.add_column(sa.Column('dedupe_key', sa.String(length=120), nullable=True))
        batch_op.create_unique_constraint('uq_notifications_dedupe_key', ['dedupe_key'])


def downgrade():
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_constraint('uq_notifications_dedupe_key', type_='unique')
        batch_op.drop_column('dedupe_key')
