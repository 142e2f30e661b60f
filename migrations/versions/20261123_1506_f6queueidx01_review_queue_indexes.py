"""Review queue: a partial index over open applications (the queue's first page and counts do not grow with the book).

Revision ID: f6queueidx01
Revises: f5notifykey01
Create Date: 2026-11-23 15:06:00

"""
import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = 'f6queueidx01'
down_revision = 'f5notifykey01'
branch_labels = None
depends_on = None


#: states.OPEN_FOR_REVIEW, written out: a migration does not follow later edits of the application code
OPEN_QUEUE_ROW = "status IN ('submitted', 'scored', 'in_review', 'escalated')"


def upgrade():
    with op.batch_alter_table('loan_applications', schema=None) as batch_op:
        # partial: the applications waiting for a decision only (the review queue's default view reads it alone)
        batch_op.create_index('ix_loan_applications_open_queue', ['institution_id', 'id'], unique=False,
                              postgresql_where=sa.text(OPEN_QUEUE_ROW), sqlite_where=sa.text(OPEN_QUEUE_ROW))


def downgrade():
    with op.batch_alter_table('loan_applications', schema=None) as batch_op:
        batch_op.drop_index('ix_loan_applications_open_queue')
