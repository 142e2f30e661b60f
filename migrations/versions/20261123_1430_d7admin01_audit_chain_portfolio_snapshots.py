"""Issue 7: the audit hash chain and the daily portfolio snapshots.

Revision ID: d7admin01
Revises: c5servicing01
Create Date: 2026-11-23 14:30:00

"""
from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401


# revision identifiers, used by Alembic.
revision = 'd7admin01'
down_revision = 'c5servicing01'
branch_labels = None
depends_on = None


def upgrade():
    # --- audit hash chain (portal/audit)
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('chain_seq', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('prev_hash', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('hash', sa.String(length=64), nullable=True))
        batch_op.create_index(batch_op.f('ix_audit_events_chain_seq'), ['chain_seq'], unique=True)
    if op.get_bind().dialect.name == "postgresql":
        # Still append-only, except the one UPDATE that seals an event (portal/audit/seal.py): chain_seq,
        # prev_hash and hash from NULL to a value, every other column unchanged. DELETE stays refused.
        op.execute("""
            CREATE OR REPLACE FUNCTION audit_events_append_only() RETURNS trigger AS $$
            BEGIN
                IF TG_OP = 'UPDATE'
                   AND OLD.chain_seq IS NULL AND OLD.prev_hash IS NULL AND OLD.hash IS NULL
                   AND NEW.chain_seq IS NOT NULL AND NEW.prev_hash IS NOT NULL AND NEW.hash IS NOT NULL
                   AND (to_jsonb(NEW) - ARRAY['chain_seq', 'prev_hash', 'hash'])
                       = (to_jsonb(OLD) - ARRAY['chain_seq', 'prev_hash', 'hash'])
                THEN
                    RETURN NEW;
                END IF;
                RAISE EXCEPTION 'audit_events is append-only: % refused', TG_OP;
            END;
            $$ LANGUAGE plpgsql
        """)
    # --- portfolio snapshots (portal/reports)
    op.create_table('portfolio_snapshots',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('institution_id', sa.Integer(), nullable=False),
    sa.Column('business_date', sa.Date(), nullable=False),
    sa.Column('aum', sa.BigInteger(), nullable=False),
    sa.Column('ledger_principal', sa.BigInteger(), nullable=False),
    sa.Column('figures', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['institution_id'], ['institutions.id'], name=op.f('fk_portfolio_snapshots_institution_id_institutions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_portfolio_snapshots')),
    sa.UniqueConstraint('institution_id', 'business_date', name=op.f('uq_portfolio_snapshots_institution_id'))
    )


def downgrade():
    # --- portfolio snapshots (portal/reports)
    op.drop_table('portfolio_snapshots')
    # --- audit hash chain (portal/audit)
    if op.get_bind().dialect.name == "postgresql":
        op.execute("""
            CREATE OR REPLACE FUNCTION audit_events_append_only() RETURNS trigger AS $$
            BEGIN
                RAISE EXCEPTION 'audit_events is append-only: % refused', TG_OP;
            END;
            $$ LANGUAGE plpgsql
        """)
    with op.batch_alter_table('audit_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_events_chain_seq'))
        batch_op.drop_column('hash')
        batch_op.drop_column('prev_hash')
        batch_op.drop_column('chain_seq')
