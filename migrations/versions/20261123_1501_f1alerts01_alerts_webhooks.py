"""Alert rules, alerts and outgoing webhooks (issue 6 item 1).

Tables alert_rules, alerts, webhook_deliveries, webhook_attempts (portal/alerts/models.py), and the built-in
rules (portal/alerts/engine.py BUILTIN_RULES: DPD 1/30/60/90, two bounces, KYC mismatch, large prepayment of
Rs 1,00,000, promise to pay broken) for every institution that exists; ``portal.bootstrap`` creates them for
institutions made later (idempotent by builtin_key).

Revision ID: f1alerts01
Revises: e8exports01
Create Date: 2026-11-23 15:01:00

"""
from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401
from datetime import UTC, datetime


# revision identifiers, used by Alembic.
revision = 'f1alerts01'
down_revision = 'e8exports01'
branch_labels = None
depends_on = None

KINDS = "kind IN ('dpd_crossed', 'two_bounces', 'kyc_mismatch', 'large_prepayment', 'promise_to_pay_broken')"
SEVERITIES = "severity IN ('info', 'warning', 'critical')"
ROLES = ["collections", "risk_officer", "admin"]
# (builtin_key, kind, threshold_days, threshold paise, severity, name): a copy of engine.BUILTIN_RULES
BUILTINS = [
    ("dpd_1", "dpd_crossed", 1, None, "info", "DPD crossed 1 day (SMA-0)"),
    ("dpd_30", "dpd_crossed", 30, None, "warning", "DPD crossed 30 days"),
    ("dpd_60", "dpd_crossed", 60, None, "warning", "DPD crossed 60 days (SMA-2 next)"),
    ("dpd_90", "dpd_crossed", 90, None, "critical", "DPD crossed 90 days (NPA next)"),
    ("two_bounces", "two_bounces", None, None, "warning", "Two bounced payments (recovery eligible)"),
    ("kyc_mismatch", "kyc_mismatch", None, None, "warning", "KYC mismatch between OCR and typed data"),
    ("large_prepayment", "large_prepayment", None, 10_000_000, "info", "Prepayment of Rs 1,00,000 or more"),
    ("promise_to_pay_broken", "promise_to_pay_broken", None, None, "warning", "Promise to pay broken"),
]


def upgrade():
    op.create_table('alert_rules',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('institution_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('kind', sa.String(length=30), nullable=False),
    sa.Column('threshold_days', sa.Integer(), nullable=True),
    sa.Column('threshold_amount', sa.BigInteger(), nullable=True),
    sa.Column('severity', sa.String(length=10), nullable=False),
    sa.Column('visible_roles', sa.JSON(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('builtin_key', sa.String(length=40), nullable=True),
    sa.Column('webhook_url', sa.String(length=500), nullable=True),
    sa.Column('webhook_secret_encrypted', sa.LargeBinary(), nullable=True),
    sa.Column('webhook_secret_hint', sa.String(length=8), nullable=True),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint(KINDS, name=op.f('ck_alert_rules_kind_known')),
    sa.CheckConstraint(SEVERITIES, name=op.f('ck_alert_rules_severity_known')),
    sa.CheckConstraint("kind <> 'dpd_crossed' OR threshold_days >= 1", name=op.f('ck_alert_rules_dpd_threshold')),
    sa.CheckConstraint("kind <> 'large_prepayment' OR threshold_amount > 0",
                       name=op.f('ck_alert_rules_amount_threshold')),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_alert_rules_created_by_id_users')),
    sa.ForeignKeyConstraint(['institution_id'], ['institutions.id'],
                            name=op.f('fk_alert_rules_institution_id_institutions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_alert_rules')),
    sa.UniqueConstraint('institution_id', 'builtin_key', name=op.f('uq_alert_rules_institution_id'))
    )
    op.create_table('alerts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('institution_id', sa.Integer(), nullable=False),
    sa.Column('rule_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=30), nullable=False),
    sa.Column('severity', sa.String(length=10), nullable=False),
    sa.Column('status', sa.String(length=14), nullable=False),
    sa.Column('loan_id', sa.Integer(), nullable=True),
    sa.Column('customer_id', sa.Integer(), nullable=True),
    sa.Column('threshold_days', sa.Integer(), nullable=True),
    sa.Column('dpd', sa.Integer(), nullable=True),
    sa.Column('raised_on', sa.Date(), nullable=False),
    sa.Column('cleared_on', sa.Date(), nullable=True),
    sa.Column('dedupe_key', sa.String(length=120), nullable=True),
    sa.Column('detail', sa.JSON(), nullable=True),
    sa.Column('raised_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('acknowledged_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('acknowledged_by_id', sa.Integer(), nullable=True),
    sa.Column('assigned_to_id', sa.Integer(), nullable=True),
    sa.Column('assigned_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('resolved_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('resolved_by_id', sa.Integer(), nullable=True),
    sa.Column('resolution_note', sa.Text(), nullable=True),
    sa.CheckConstraint("status IN ('open', 'acknowledged', 'resolved')", name=op.f('ck_alerts_status_known')),
    sa.CheckConstraint(SEVERITIES, name=op.f('ck_alerts_severity_known')),
    sa.ForeignKeyConstraint(['acknowledged_by_id'], ['users.id'], name=op.f('fk_alerts_acknowledged_by_id_users')),
    sa.ForeignKeyConstraint(['assigned_to_id'], ['users.id'], name=op.f('fk_alerts_assigned_to_id_users')),
    sa.ForeignKeyConstraint(['customer_id'], ['customers.id'], name=op.f('fk_alerts_customer_id_customers')),
    sa.ForeignKeyConstraint(['institution_id'], ['institutions.id'],
                            name=op.f('fk_alerts_institution_id_institutions')),
    sa.ForeignKeyConstraint(['loan_id'], ['loans.id'], name=op.f('fk_alerts_loan_id_loans')),
    sa.ForeignKeyConstraint(['resolved_by_id'], ['users.id'], name=op.f('fk_alerts_resolved_by_id_users')),
    sa.ForeignKeyConstraint(['rule_id'], ['alert_rules.id'], name=op.f('fk_alerts_rule_id_alert_rules')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_alerts')),
    sa.UniqueConstraint('rule_id', 'dedupe_key', name=op.f('uq_alerts_rule_id'))
    )
    op.create_index('ix_alerts_queue', 'alerts', ['institution_id', 'status', 'id'], unique=False)
    op.create_index('ix_alerts_rule_loan', 'alerts', ['rule_id', 'loan_id'], unique=False)
    op.create_index(op.f('ix_alerts_loan_id'), 'alerts', ['loan_id'], unique=False)
    op.create_index(op.f('ix_alerts_customer_id'), 'alerts', ['customer_id'], unique=False)
    op.create_index(op.f('ix_alerts_assigned_to_id'), 'alerts', ['assigned_to_id'], unique=False)
    op.create_table('webhook_deliveries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('institution_id', sa.Integer(), nullable=False),
    sa.Column('rule_id', sa.Integer(), nullable=False),
    sa.Column('alert_id', sa.Integer(), nullable=True),
    sa.Column('event', sa.String(length=30), nullable=False),
    sa.Column('url', sa.String(length=500), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('max_attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('body', sa.Text(), nullable=True),
    sa.Column('last_status_code', sa.Integer(), nullable=True),
    sa.Column('last_error', sa.String(length=500), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('delivered_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("status IN ('pending', 'retrying', 'delivered', 'failed')",
                       name=op.f('ck_webhook_deliveries_status_known')),
    sa.ForeignKeyConstraint(['alert_id'], ['alerts.id'], name=op.f('fk_webhook_deliveries_alert_id_alerts')),
    sa.ForeignKeyConstraint(['institution_id'], ['institutions.id'],
                            name=op.f('fk_webhook_deliveries_institution_id_institutions')),
    sa.ForeignKeyConstraint(['rule_id'], ['alert_rules.id'], name=op.f('fk_webhook_deliveries_rule_id_alert_rules')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_deliveries'))
    )
    op.create_index('ix_webhook_deliveries_rule', 'webhook_deliveries', ['rule_id', 'id'], unique=False)
    op.create_index('ix_webhook_deliveries_due', 'webhook_deliveries', ['status', 'next_attempt_at'], unique=False)
    op.create_index(op.f('ix_webhook_deliveries_alert_id'), 'webhook_deliveries', ['alert_id'], unique=False)
    op.create_table('webhook_attempts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('delivery_id', sa.Integer(), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('attempted_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('duration_ms', sa.Integer(), nullable=False),
    sa.Column('status_code', sa.Integer(), nullable=True),
    sa.Column('ok', sa.Boolean(), nullable=False),
    sa.Column('error', sa.String(length=500), nullable=True),
    sa.ForeignKeyConstraint(['delivery_id'], ['webhook_deliveries.id'],
                            name=op.f('fk_webhook_attempts_delivery_id_webhook_deliveries')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_attempts')),
    sa.UniqueConstraint('delivery_id', 'number', name=op.f('uq_webhook_attempts_delivery_id'))
    )
    # --- data: the built-in rules of every institution that exists now
    rules = sa.table('alert_rules', sa.column('institution_id', sa.Integer()), sa.column('name', sa.String()),
                     sa.column('kind', sa.String()), sa.column('threshold_days', sa.Integer()),
                     sa.column('threshold_amount', sa.BigInteger()), sa.column('severity', sa.String()),
                     sa.column('visible_roles', sa.JSON()), sa.column('active', sa.Boolean()),
                     sa.column('builtin_key', sa.String()), sa.column('created_at', sa.DateTime(timezone=True)),
                     sa.column('updated_at', sa.DateTime(timezone=True)))
    now = datetime.now(UTC)
    institution_ids = [row[0] for row in op.get_bind().execute(sa.text("SELECT id FROM institutions ORDER BY id"))]
    rows = [{"institution_id": inst, "name": name, "kind": kind, "threshold_days": days, "threshold_amount": paise,
             "severity": severity, "visible_roles": ROLES, "active": True, "builtin_key": key, "created_at": now,
             "updated_at": now}
            for inst in institution_ids for key, kind, days, paise, severity, name in BUILTINS]
    if rows:
        op.bulk_insert(rules, rows)


def downgrade():
    op.drop_table('webhook_attempts')
    op.drop_index(op.f('ix_webhook_deliveries_alert_id'), table_name='webhook_deliveries')
    op.drop_index('ix_webhook_deliveries_due', table_name='webhook_deliveries')
    op.drop_index('ix_webhook_deliveries_rule', table_name='webhook_deliveries')
    op.drop_table('webhook_deliveries')
    op.drop_index(op.f('ix_alerts_assigned_to_id'), table_name='alerts')
    op.drop_index(op.f('ix_alerts_customer_id'), table_name='alerts')
    op.drop_index(op.f('ix_alerts_loan_id'), table_name='alerts')
    op.drop_index('ix_alerts_rule_loan', table_name='alerts')
    op.drop_index('ix_alerts_queue', table_name='alerts')
    op.drop_table('alerts')
    op.drop_table('alert_rules')
