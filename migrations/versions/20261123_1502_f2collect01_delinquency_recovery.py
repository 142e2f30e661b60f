"""Collections: promises to pay, recovery cases and actions, write-offs (issue 6 item 2).

Revision ID: f2collect01
Revises: f1alerts01
Create Date: 2026-11-23 15:02:00

"""
from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401


# revision identifiers, used by Alembic.
revision = 'f2collect01'
down_revision = 'f1alerts01'
branch_labels = None
depends_on = None


def upgrade():
    # --- who works a delinquent loan (portal/delinquency)
    op.create_table('collection_assignments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('institution_id', sa.Integer(), nullable=False),
    sa.Column('loan_id', sa.Integer(), nullable=False),
    sa.Column('collector_id', sa.Integer(), nullable=False),
    sa.Column('assigned_by_id', sa.Integer(), nullable=True),
    sa.Column('assigned_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['assigned_by_id'], ['users.id'],
                            name=op.f('fk_collection_assignments_assigned_by_id_users')),
    sa.ForeignKeyConstraint(['collector_id'], ['users.id'], name=op.f('fk_collection_assignments_collector_id_users')),
    sa.ForeignKeyConstraint(['institution_id'], ['institutions.id'],
                            name=op.f('fk_collection_assignments_institution_id_institutions')),
    sa.ForeignKeyConstraint(['loan_id'], ['loans.id'], name=op.f('fk_collection_assignments_loan_id_loans')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_collection_assignments')),
    sa.UniqueConstraint('loan_id', name=op.f('uq_collection_assignments_loan_id'))
    )
    op.create_index(op.f('ix_collection_assignments_collector_id'), 'collection_assignments', ['collector_id'],
                    unique=False)

    # --- promises to pay
    op.create_table('promises_to_pay',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('institution_id', sa.Integer(), nullable=False),
    sa.Column('loan_id', sa.Integer(), nullable=False),
    sa.Column('promised_amount', sa.BigInteger(), nullable=False),
    sa.Column('promised_on', sa.Date(), nullable=False),
    sa.Column('made_on', sa.Date(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('paid_amount', sa.BigInteger(), nullable=False),
    sa.Column('evaluated_on', sa.Date(), nullable=True),
    sa.Column('note', sa.String(length=500), nullable=True),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('promised_amount > 0', name=op.f('ck_promises_to_pay_amount_positive')),
    sa.CheckConstraint('promised_on >= made_on', name=op.f('ck_promises_to_pay_promised_after_made')),
    sa.CheckConstraint("status IN ('open', 'kept', 'broken')", name=op.f('ck_promises_to_pay_status_known')),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_promises_to_pay_created_by_id_users')),
    sa.ForeignKeyConstraint(['institution_id'], ['institutions.id'],
                            name=op.f('fk_promises_to_pay_institution_id_institutions')),
    sa.ForeignKeyConstraint(['loan_id'], ['loans.id'], name=op.f('fk_promises_to_pay_loan_id_loans')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_promises_to_pay'))
    )
    op.create_index('ix_promises_to_pay_institution_status', 'promises_to_pay',
                    ['institution_id', 'status', 'promised_on'], unique=False)
    op.create_index(op.f('ix_promises_to_pay_loan_id'), 'promises_to_pay', ['loan_id'], unique=False)

    # --- recovery cases (seed 000)
    op.create_table('recovery_cases',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('institution_id', sa.Integer(), nullable=False),
    sa.Column('loan_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('reason', sa.String(length=12), nullable=False),
    sa.Column('opened_on', sa.Date(), nullable=False),
    sa.Column('opened_by_id', sa.Integer(), nullable=True),
    sa.Column('opened_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('recovered_amount', sa.BigInteger(), nullable=True),
    sa.Column('completion', sa.String(length=10), nullable=True),
    sa.Column('completed_on', sa.Date(), nullable=True),
    sa.Column('completed_by_id', sa.Integer(), nullable=True),
    sa.Column('payment_id', sa.Integer(), nullable=True),
    sa.Column('journal_entry_id', sa.Integer(), nullable=True),
    sa.CheckConstraint("status IN ('open', 'recovered')", name=op.f('ck_recovery_cases_status_known')),
    sa.CheckConstraint("reason IN ('bounces', 'npa', 'written_off')", name=op.f('ck_recovery_cases_reason_known')),
    sa.CheckConstraint('recovered_amount IS NULL OR recovered_amount > 0',
                       name=op.f('ck_recovery_cases_recovered_positive')),
    sa.ForeignKeyConstraint(['completed_by_id'], ['users.id'], name=op.f('fk_recovery_cases_completed_by_id_users')),
    sa.ForeignKeyConstraint(['institution_id'], ['institutions.id'],
                            name=op.f('fk_recovery_cases_institution_id_institutions')),
    sa.ForeignKeyConstraint(['journal_entry_id'], ['journal_entries.id'],
                            name=op.f('fk_recovery_cases_journal_entry_id_journal_entries')),
    sa.ForeignKeyConstraint(['loan_id'], ['loans.id'], name=op.f('fk_recovery_cases_loan_id_loans')),
    sa.ForeignKeyConstraint(['opened_by_id'], ['users.id'], name=op.f('fk_recovery_cases_opened_by_id_users')),
    sa.ForeignKeyConstraint(['payment_id'], ['payments.id'], name=op.f('fk_recovery_cases_payment_id_payments')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_recovery_cases'))
    )
    op.create_index(op.f('ix_recovery_cases_institution_id'), 'recovery_cases', ['institution_id'], unique=False)
    op.create_index(op.f('ix_recovery_cases_loan_id'), 'recovery_cases', ['loan_id'], unique=False)
    # partial: at most one open case per loan
    op.create_index('ix_recovery_cases_one_open', 'recovery_cases', ['loan_id'], unique=True,
                    postgresql_where=sa.text("status = 'open'"), sqlite_where=sa.text("status = 'open'"))

    # --- recovery actions (call, visit, notice, settlement offer)
    op.create_table('recovery_actions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('institution_id', sa.Integer(), nullable=False),
    sa.Column('loan_id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=True),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('outcome', sa.String(length=20), nullable=False),
    sa.Column('offer_amount', sa.BigInteger(), nullable=True),
    sa.Column('note', sa.String(length=1000), nullable=True),
    sa.Column('acted_on', sa.Date(), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("kind IN ('call', 'visit', 'notice', 'settlement_offer')",
                       name=op.f('ck_recovery_actions_kind_known')),
    sa.CheckConstraint("outcome IN ('contacted', 'no_contact', 'promised', 'refused', 'disputed', 'notice_served', "
                       "'offer_made', 'offer_accepted', 'offer_rejected')",
                       name=op.f('ck_recovery_actions_outcome_known')),
    sa.CheckConstraint('offer_amount IS NULL OR offer_amount > 0', name=op.f('ck_recovery_actions_offer_positive')),
    sa.ForeignKeyConstraint(['actor_id'], ['users.id'], name=op.f('fk_recovery_actions_actor_id_users')),
    sa.ForeignKeyConstraint(['case_id'], ['recovery_cases.id'],
                            name=op.f('fk_recovery_actions_case_id_recovery_cases')),
    sa.ForeignKeyConstraint(['institution_id'], ['institutions.id'],
                            name=op.f('fk_recovery_actions_institution_id_institutions')),
    sa.ForeignKeyConstraint(['loan_id'], ['loans.id'], name=op.f('fk_recovery_actions_loan_id_loans')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_recovery_actions'))
    )
    op.create_index(op.f('ix_recovery_actions_case_id'), 'recovery_actions', ['case_id'], unique=False)
    op.create_index(op.f('ix_recovery_actions_loan_id'), 'recovery_actions', ['loan_id'], unique=False)

    # --- write-offs (maker-checker)
    op.create_table('write_offs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('institution_id', sa.Integer(), nullable=False),
    sa.Column('loan_id', sa.Integer(), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=True),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('principal_amount', sa.BigInteger(), nullable=False),
    sa.Column('interest_amount', sa.BigInteger(), nullable=False),
    sa.Column('suspense_amount', sa.BigInteger(), nullable=False),
    sa.Column('reason', sa.String(length=1000), nullable=False),
    sa.Column('proposed_by_id', sa.Integer(), nullable=False),
    sa.Column('proposed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('checked_by_id', sa.Integer(), nullable=True),
    sa.Column('checked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('check_note', sa.String(length=1000), nullable=True),
    sa.Column('written_off_on', sa.Date(), nullable=True),
    sa.Column('journal_entry_id', sa.Integer(), nullable=True),
    sa.CheckConstraint("status IN ('proposed', 'approved', 'rejected')", name=op.f('ck_write_offs_status_known')),
    sa.CheckConstraint('checked_by_id IS NULL OR checked_by_id <> proposed_by_id',
                       name=op.f('ck_write_offs_maker_is_not_checker')),
    sa.CheckConstraint('principal_amount >= 0 AND interest_amount >= 0 AND suspense_amount >= 0',
                       name=op.f('ck_write_offs_amounts_not_negative')),
    sa.ForeignKeyConstraint(['case_id'], ['recovery_cases.id'], name=op.f('fk_write_offs_case_id_recovery_cases')),
    sa.ForeignKeyConstraint(['checked_by_id'], ['users.id'], name=op.f('fk_write_offs_checked_by_id_users')),
    sa.ForeignKeyConstraint(['institution_id'], ['institutions.id'],
                            name=op.f('fk_write_offs_institution_id_institutions')),
    sa.ForeignKeyConstraint(['journal_entry_id'], ['journal_entries.id'],
                            name=op.f('fk_write_offs_journal_entry_id_journal_entries')),
    sa.ForeignKeyConstraint(['loan_id'], ['loans.id'], name=op.f('fk_write_offs_loan_id_loans')),
    sa.ForeignKeyConstraint(['proposed_by_id'], ['users.id'], name=op.f('fk_write_offs_proposed_by_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_write_offs'))
    )
    op.create_index('ix_write_offs_institution_status', 'write_offs', ['institution_id', 'status'], unique=False)
    op.create_index(op.f('ix_write_offs_loan_id'), 'write_offs', ['loan_id'], unique=False)
    # partial: at most one write-off awaiting the checker or approved per loan
    op.create_index('ix_write_offs_one_live', 'write_offs', ['loan_id'], unique=True,
                    postgresql_where=sa.text("status IN ('proposed', 'approved')"),
                    sqlite_where=sa.text("status IN ('proposed', 'approved')"))


def downgrade():
    op.drop_index('ix_write_offs_one_live', table_name='write_offs')
    op.drop_index(op.f('ix_write_offs_loan_id'), table_name='write_offs')
    op.drop_index('ix_write_offs_institution_status', table_name='write_offs')
    op.drop_table('write_offs')
    op.drop_index(op.f('ix_recovery_actions_loan_id'), table_name='recovery_actions')
    op.drop_index(op.f('ix_recovery_actions_case_id'), table_name='recovery_actions')
    op.drop_table('recovery_actions')
    op.drop_index('ix_recovery_cases_one_open', table_name='recovery_cases')
    op.drop_index(op.f('ix_recovery_cases_loan_id'), table_name='recovery_cases')
    op.drop_index(op.f('ix_recovery_cases_institution_id'), table_name='recovery_cases')
    op.drop_table('recovery_cases')
    op.drop_index(op.f('ix_promises_to_pay_loan_id'), table_name='promises_to_pay')
    op.drop_index('ix_promises_to_pay_institution_status', table_name='promises_to_pay')
    op.drop_table('promises_to_pay')
    op.drop_index(op.f('ix_collection_assignments_collector_id'), table_name='collection_assignments')
    op.drop_table('collection_assignments')
