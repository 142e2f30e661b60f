"""User administration and loan status override with maker-checker (issue 7 item 5).

Revision ID: f4useradm01
Revises: f3notify01
Create Date: 2026-11-23 15:04:00

"""
from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401


# revision identifiers, used by Alembic.
revision = 'f4useradm01'
down_revision = 'f3notify01'
branch_labels = None
depends_on = None

PENDING = "status = 'pending'"


def upgrade():
    # --- set-password links for staff created by an administrator (portal/auth/admin_models.py)
    op.create_table('password_setup_tokens',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('token_sha256', sa.String(length=64), nullable=False),
    sa.Column('issued_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('end_reason', sa.String(length=20), nullable=True),
    sa.ForeignKeyConstraint(['issued_by_id'], ['users.id'], name=op.f('fk_password_setup_tokens_issued_by_id_users')),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_password_setup_tokens_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_password_setup_tokens')),
    sa.UniqueConstraint('token_sha256', name=op.f('uq_password_setup_tokens_token_sha256'))
    )
    op.create_index(op.f('ix_password_setup_tokens_user_id'), 'password_setup_tokens', ['user_id'], unique=False)

    # --- loan status override, maker-checker (portal/lending/override_models.py)
    op.create_table('loan_status_overrides',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('institution_id', sa.Integer(), nullable=False),
    sa.Column('loan_id', sa.Integer(), nullable=False),
    sa.Column('from_status', sa.String(length=20), nullable=False),
    sa.Column('to_status', sa.String(length=20), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('maker_id', sa.Integer(), nullable=False),
    sa.Column('requested_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('checker_id', sa.Integer(), nullable=True),
    sa.Column('checker_note', sa.Text(), nullable=True),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint('checker_id IS NULL OR checker_id <> maker_id',
                       name=op.f('ck_loan_status_overrides_checker_is_not_maker')),
    sa.CheckConstraint("status IN ('pending', 'approved', 'rejected')",
                       name=op.f('ck_loan_status_overrides_status_known')),
    sa.CheckConstraint("(status = 'pending') = (checker_id IS NULL)",
                       name=op.f('ck_loan_status_overrides_checker_iff_decided')),
    sa.CheckConstraint('to_status <> from_status', name=op.f('ck_loan_status_overrides_status_changes')),
    sa.ForeignKeyConstraint(['checker_id'], ['users.id'], name=op.f('fk_loan_status_overrides_checker_id_users')),
    sa.ForeignKeyConstraint(['institution_id'], ['institutions.id'],
                            name=op.f('fk_loan_status_overrides_institution_id_institutions')),
    sa.ForeignKeyConstraint(['loan_id'], ['loans.id'], name=op.f('fk_loan_status_overrides_loan_id_loans')),
    sa.ForeignKeyConstraint(['maker_id'], ['users.id'], name=op.f('fk_loan_status_overrides_maker_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_loan_status_overrides'))
    )
    op.create_index(op.f('ix_loan_status_overrides_loan_id'), 'loan_status_overrides', ['loan_id'], unique=False)
    op.create_index('ix_loan_status_overrides_queue', 'loan_status_overrides', ['institution_id', 'status', 'id'],
                    unique=False)
    op.create_index('ix_loan_status_overrides_one_pending', 'loan_status_overrides', ['loan_id'], unique=True,
                    postgresql_where=sa.text(PENDING), sqlite_where=sa.text(PENDING))


def downgrade():
    op.drop_index('ix_loan_status_overrides_one_pending', table_name='loan_status_overrides',
                  postgresql_where=sa.text(PENDING), sqlite_where=sa.text(PENDING))
    op.drop_index('ix_loan_status_overrides_queue', table_name='loan_status_overrides')
    op.drop_index(op.f('ix_loan_status_overrides_loan_id'), table_name='loan_status_overrides')
    op.drop_table('loan_status_overrides')
    op.drop_index(op.f('ix_password_setup_tokens_user_id'), table_name='password_setup_tokens')
    op.drop_table('password_setup_tokens')
