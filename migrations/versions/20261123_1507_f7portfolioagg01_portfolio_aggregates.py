"""Portfolio aggregates maintained in the same transaction as each change (issue 7 item 1).

Five tables (portal/reports/models.py): ``portfolio_positions`` (serviced loans by status, asset class, DPD bucket
and score band: count and outstanding principal), ``portfolio_daily_flows`` (disbursed and collected per value
date), ``ledger_daily_balances`` (debits and credits per ledger account and business date),
``portfolio_application_counts`` (applications by status and score band) and ``portfolio_customer_counts``.

On PostgreSQL, statement-level AFTER triggers with transition tables keep them right: each INSERT/UPDATE/DELETE
statement on ``loans``, ``loan_transactions``, ``postings``, ``loan_applications`` or ``customers`` adds its
aggregated delta (minus the old rows, plus the new ones; an UPDATE only for the rows whose group or amount
changed), one upsert per touched group, in the statement's own transaction. Row-level triggers would cost one
upsert per row: too slow for the close of business's set-based updates of 50,000 loans.

The score band of a loan is its application's (``loan_applications.score_band``), joined in the trigger for the
changed rows only; loans carry no copy of it (one source), and an UPDATE of an application's band moves its loan.

The upserts lock the group rows they touch, in key order, until commit: two transactions changing loans of the
same group wait for each other's commit (short); the flows of a loan's transactions are counted by the loan's
``serviced`` flag at the time, and a posting's date is its journal entry's (neither changes after the fact).
TRUNCATE fires no DELETE trigger: an AFTER TRUNCATE trigger on each source empties its aggregate.
On SQLite there are no transition tables: the tables stay empty and the portal computes the figures from the book
itself (portal/reports/portfolio.py ``default_source``).

The backfill builds the tables from the existing rows, so an upgraded database starts right.

Revision ID: f7portfolioagg01
Revises: f6queueidx01
Create Date: 2026-11-23 15:07:00

"""
from alembic import op  # noqa: F401
import sqlalchemy as sa  # noqa: F401


# revision identifiers, used by Alembic.
revision = 'f7portfolioagg01'
down_revision = 'f6queueidx01'
branch_labels = None
depends_on = None


# written out here: a migration does not follow later edits of the application code
HELPERS = r"""
CREATE OR REPLACE FUNCTION portfolio_dpd_bucket(dpd integer) RETURNS varchar LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN dpd <= 0 THEN '0' WHEN dpd <= 30 THEN '1-30' WHEN dpd <= 60 THEN '31-60'
                WHEN dpd <= 90 THEN '61-90' ELSE '90+' END
$$;
CREATE OR REPLACE FUNCTION portfolio_score_band(band varchar) RETURNS varchar LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN band IN ('AA', 'A', 'B', 'C', 'D') THEN band ELSE 'unscored' END
$$;
"""

# loans (and the score band of their applications) -> portfolio_positions. {delta}: rows (institution_id, status,
# asset_class, dpd_bucket, score_band, n, principal) of the statement; grouped, one upsert per group, taken in key
# order (the row locks too, so two transactions lock shared groups in the same order)
POSITIONS_UPSERT = """
    WITH d (institution_id, status, asset_class, dpd_bucket, score_band, n, principal) AS ({delta})
    INSERT INTO portfolio_positions AS p (institution_id, status, asset_class, dpd_bucket, score_band, loans_count,
                                          principal_outstanding_amount)
    SELECT institution_id, status, asset_class, dpd_bucket, score_band, SUM(n), SUM(principal) FROM d
    GROUP BY 1, 2, 3, 4, 5
    HAVING SUM(n) <> 0 OR SUM(principal) <> 0
    ORDER BY 1, 2, 3, 4, 5
    ON CONFLICT (institution_id, status, asset_class, dpd_bucket, score_band) DO UPDATE
    SET loans_count = p.loans_count + EXCLUDED.loans_count,
        principal_outstanding_amount = p.principal_outstanding_amount + EXCLUDED.principal_outstanding_amount;"""
LOAN_ROW = "{t}.institution_id, {t}.status, {t}.asset_class, portfolio_dpd_bucket({t}.dpd)"
POSITIONS_DELTA = {
    "INSERT": f"SELECT {LOAN_ROW.format(t='n')}, portfolio_score_band(a.score_band), 1::bigint, "
              "n.principal_outstanding_amount FROM portfolio_new n "
              "LEFT JOIN loan_applications a ON a.id = n.application_id WHERE n.serviced",
    "DELETE": f"SELECT {LOAN_ROW.format(t='o')}, portfolio_score_band(a.score_band), -1::bigint, "
              "-o.principal_outstanding_amount FROM portfolio_old o "
              "LEFT JOIN loan_applications a ON a.id = o.application_id WHERE o.serviced",
    # only the loans whose group or principal changed (the daily accrual changes neither)
    "UPDATE": f"""SELECT x.* FROM portfolio_old o JOIN portfolio_new n ON n.id = o.id
        LEFT JOIN loan_applications ao ON ao.id = o.application_id
        LEFT JOIN loan_applications an ON an.id = n.application_id
        CROSS JOIN LATERAL (
            SELECT {LOAN_ROW.format(t='o')}, portfolio_score_band(ao.score_band), -1::bigint,
                   -o.principal_outstanding_amount WHERE o.serviced
            UNION ALL
            SELECT {LOAN_ROW.format(t='n')}, portfolio_score_band(an.score_band), 1::bigint,
                   n.principal_outstanding_amount WHERE n.serviced) x
        WHERE (o.serviced, {LOAN_ROW.format(t='o')}, o.application_id, o.principal_outstanding_amount)
              IS DISTINCT FROM (n.serviced, {LOAN_ROW.format(t='n')}, n.application_id, n.principal_outstanding_amount)""",
}
# an application whose score band changes after its loan exists moves the loan between bands
BANDS_DELTA = {"UPDATE": f"""SELECT x.* FROM portfolio_old o JOIN portfolio_new n ON n.id = o.id
        JOIN loans l ON l.application_id = n.id
        CROSS JOIN LATERAL (
            SELECT {LOAN_ROW.format(t='l')}, portfolio_score_band(o.score_band), -1::bigint,
                   -l.principal_outstanding_amount
            UNION ALL
            SELECT {LOAN_ROW.format(t='l')}, portfolio_score_band(n.score_band), 1::bigint,
                   l.principal_outstanding_amount) x
        WHERE l.serviced AND portfolio_score_band(o.score_band) <> portfolio_score_band(n.score_band)"""}

# loan_transactions of serviced loans -> portfolio_daily_flows: disbursed (disbursement, drawdown) and collected
# (repayment + prepayment - reversal) per value date. {delta}: rows (loan_id, value_on, kind, sign, amount)
FLOW_KINDS = "('disbursement', 'drawdown', 'repayment', 'prepayment', 'reversal')"
FLOWS_UPSERT = """
    WITH d (loan_id, value_on, kind, sign, amount) AS ({delta})
    INSERT INTO portfolio_daily_flows AS f (institution_id, value_on, disbursed_count, disbursed_amount,
                                            collected_amount)
    SELECT l.institution_id, d.value_on,
           SUM(CASE WHEN d.kind IN ('disbursement', 'drawdown') THEN d.sign ELSE 0 END),
           SUM(CASE WHEN d.kind IN ('disbursement', 'drawdown') THEN d.sign * d.amount ELSE 0 END),
           SUM(CASE WHEN d.kind IN ('repayment', 'prepayment') THEN d.sign * d.amount
                    WHEN d.kind = 'reversal' THEN -d.sign * d.amount ELSE 0 END)
    FROM d JOIN loans l ON l.id = d.loan_id
    WHERE l.serviced AND d.kind IN """ + FLOW_KINDS + """
    GROUP BY 1, 2
    ORDER BY 1, 2
    ON CONFLICT (institution_id, value_on) DO UPDATE
    SET disbursed_count = f.disbursed_count + EXCLUDED.disbursed_count,
        disbursed_amount = f.disbursed_amount + EXCLUDED.disbursed_amount,
        collected_amount = f.collected_amount + EXCLUDED.collected_amount;"""
FLOWS_NEW = "SELECT loan_id, value_on, kind, 1, amount FROM portfolio_new"
FLOWS_OLD = "SELECT loan_id, value_on, kind, -1, amount FROM portfolio_old"
FLOWS_DELTA = {"INSERT": FLOWS_NEW, "DELETE": FLOWS_OLD, "UPDATE": f"{FLOWS_NEW} UNION ALL {FLOWS_OLD}"}

# postings -> ledger_daily_balances (the business date of the journal entry). {delta}: (account_id, entry_id,
# debit, credit)
BALANCES_UPSERT = """
    WITH d (account_id, entry_id, debit, credit) AS ({delta})
    INSERT INTO ledger_daily_balances AS b (account_id, business_date, debit_amount, credit_amount)
    SELECT d.account_id, e.business_date, SUM(d.debit), SUM(d.credit)
    FROM d JOIN journal_entries e ON e.id = d.entry_id
    GROUP BY 1, 2
    HAVING SUM(d.debit) <> 0 OR SUM(d.credit) <> 0
    ORDER BY 1, 2
    ON CONFLICT (account_id, business_date) DO UPDATE
    SET debit_amount = b.debit_amount + EXCLUDED.debit_amount,
        credit_amount = b.credit_amount + EXCLUDED.credit_amount;"""
BALANCES_NEW = "SELECT account_id, entry_id, debit_amount, credit_amount FROM portfolio_new"
BALANCES_OLD = "SELECT account_id, entry_id, -debit_amount, -credit_amount FROM portfolio_old"
BALANCES_DELTA = {"INSERT": BALANCES_NEW, "DELETE": BALANCES_OLD, "UPDATE": f"{BALANCES_NEW} UNION ALL {BALANCES_OLD}"}


def _function(name: str, upsert: str, deltas: dict[str, str]) -> str:
    """A plpgsql trigger function applying the statement's delta: one static upsert per event."""
    branches = "\n".join(f"    {'IF' if i == 0 else 'ELSIF'} TG_OP = '{event}' THEN{upsert.format(delta=delta)}"
                         for i, (event, delta) in enumerate(deltas.items()))
    return (f"CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$\nBEGIN\n{branches}\n"
            f"    END IF;\n    RETURN NULL;\nEND\n$$;")


# loan_applications -> portfolio_application_counts (by status and score band, '' for none); customers ->
# portfolio_customer_counts. {delta}: (institution_id, status, score_band, n) / (institution_id, n)
APPLICATIONS_UPSERT = """
    WITH d (institution_id, status, score_band, n) AS ({delta})
    INSERT INTO portfolio_application_counts AS c (institution_id, status, score_band, applications_count)
    SELECT institution_id, status, score_band, SUM(n) FROM d
    GROUP BY 1, 2, 3 HAVING SUM(n) <> 0 ORDER BY 1, 2, 3
    ON CONFLICT (institution_id, status, score_band) DO UPDATE
    SET applications_count = c.applications_count + EXCLUDED.applications_count;"""
APP_ROW = "{t}.institution_id, {t}.status, COALESCE({t}.score_band, '')"
APPLICATIONS_DELTA = {
    "INSERT": f"SELECT {APP_ROW.format(t='n')}, 1::bigint FROM portfolio_new n",
    "DELETE": f"SELECT {APP_ROW.format(t='o')}, -1::bigint FROM portfolio_old o",
    "UPDATE": f"""SELECT x.* FROM portfolio_old o JOIN portfolio_new n ON n.id = o.id
        CROSS JOIN LATERAL (SELECT {APP_ROW.format(t='o')}, -1::bigint
                            UNION ALL SELECT {APP_ROW.format(t='n')}, 1::bigint) x
        WHERE ({APP_ROW.format(t='o')}) IS DISTINCT FROM ({APP_ROW.format(t='n')})""",
}
CUSTOMERS_UPSERT = """
    WITH d (institution_id, n) AS ({delta})
    INSERT INTO portfolio_customer_counts AS c (institution_id, customers_count)
    SELECT institution_id, SUM(n) FROM d GROUP BY 1 HAVING SUM(n) <> 0 ORDER BY 1
    ON CONFLICT (institution_id) DO UPDATE SET customers_count = c.customers_count + EXCLUDED.customers_count;"""
CUSTOMERS_DELTA = {
    "INSERT": "SELECT institution_id, 1::bigint FROM portfolio_new",
    "DELETE": "SELECT institution_id, -1::bigint FROM portfolio_old",
    "UPDATE": """SELECT x.* FROM portfolio_old o JOIN portfolio_new n ON n.id = o.id
        CROSS JOIN LATERAL (SELECT o.institution_id, -1::bigint UNION ALL SELECT n.institution_id, 1::bigint) x
        WHERE o.institution_id <> n.institution_id""",
}


#: (source table, trigger function) -- one trigger per event, each with the transition tables it can have
TRIGGERS = (("loans", "portfolio_positions_apply", POSITIONS_UPSERT, POSITIONS_DELTA),
            ("loan_transactions", "portfolio_daily_flows_apply", FLOWS_UPSERT, FLOWS_DELTA),
            ("postings", "ledger_daily_balances_apply", BALANCES_UPSERT, BALANCES_DELTA),
            ("loan_applications", "portfolio_bands_apply", POSITIONS_UPSERT, BANDS_DELTA),
            ("loan_applications", "portfolio_application_counts_apply", APPLICATIONS_UPSERT, APPLICATIONS_DELTA),
            ("customers", "portfolio_customer_counts_apply", CUSTOMERS_UPSERT, CUSTOMERS_DELTA))

# TRUNCATE fires no row or statement DELETE trigger: a TRUNCATE trigger empties the aggregate of the table
RESET = r"""
CREATE OR REPLACE FUNCTION portfolio_aggregates_reset() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('DELETE FROM %I', TG_ARGV[0]);
    RETURN NULL;
END
$$;
"""
#: (source table, the aggregate it empties when truncated)
RESETS = (("loans", "portfolio_positions"), ("loan_transactions", "portfolio_daily_flows"),
          ("postings", "ledger_daily_balances"), ("loan_applications", "portfolio_application_counts"),
          ("customers", "portfolio_customer_counts"))

#: the transition tables each event can have
EVENTS = {"INSERT": "NEW TABLE AS portfolio_new", "UPDATE": "OLD TABLE AS portfolio_old NEW TABLE AS portfolio_new",
          "DELETE": "OLD TABLE AS portfolio_old"}

BACKFILL = """
INSERT INTO portfolio_positions (institution_id, status, asset_class, dpd_bucket, score_band, loans_count,
                                 principal_outstanding_amount)
SELECT l.institution_id, l.status, l.asset_class, portfolio_dpd_bucket(l.dpd), portfolio_score_band(a.score_band),
       COUNT(*), SUM(l.principal_outstanding_amount)
FROM loans l LEFT JOIN loan_applications a ON a.id = l.application_id
WHERE l.serviced GROUP BY 1, 2, 3, 4, 5;

INSERT INTO portfolio_daily_flows (institution_id, value_on, disbursed_count, disbursed_amount, collected_amount)
SELECT l.institution_id, t.value_on,
       SUM(CASE WHEN t.kind IN ('disbursement', 'drawdown') THEN 1 ELSE 0 END),
       SUM(CASE WHEN t.kind IN ('disbursement', 'drawdown') THEN t.amount ELSE 0 END),
       SUM(CASE WHEN t.kind IN ('repayment', 'prepayment') THEN t.amount
                WHEN t.kind = 'reversal' THEN -t.amount ELSE 0 END)
FROM loan_transactions t JOIN loans l ON l.id = t.loan_id
WHERE l.serviced AND t.kind IN ('disbursement', 'drawdown', 'repayment', 'prepayment', 'reversal')
GROUP BY 1, 2;

INSERT INTO ledger_daily_balances (account_id, business_date, debit_amount, credit_amount)
SELECT p.account_id, e.business_date, SUM(p.debit_amount), SUM(p.credit_amount)
FROM postings p JOIN journal_entries e ON e.id = p.entry_id
GROUP BY 1, 2;

INSERT INTO portfolio_application_counts (institution_id, status, score_band, applications_count)
SELECT institution_id, status, COALESCE(score_band, ''), COUNT(*) FROM loan_applications GROUP BY 1, 2, 3;

INSERT INTO portfolio_customer_counts (institution_id, customers_count)
SELECT institution_id, COUNT(*) FROM customers GROUP BY 1;
"""


def upgrade():
    op.create_table('portfolio_positions',
    sa.Column('institution_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('asset_class', sa.String(length=12), nullable=False),
    sa.Column('dpd_bucket', sa.String(length=5), nullable=False),
    sa.Column('score_band', sa.String(length=8), nullable=False),
    sa.Column('loans_count', sa.BigInteger(), nullable=False),
    sa.Column('principal_outstanding_amount', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['institution_id'], ['institutions.id'], name=op.f('fk_portfolio_positions_institution_id_institutions')),
    sa.PrimaryKeyConstraint('institution_id', 'status', 'asset_class', 'dpd_bucket', 'score_band', name=op.f('pk_portfolio_positions'))
    )
    op.create_table('portfolio_daily_flows',
    sa.Column('institution_id', sa.Integer(), nullable=False),
    sa.Column('value_on', sa.Date(), nullable=False),
    sa.Column('disbursed_count', sa.BigInteger(), nullable=False),
    sa.Column('disbursed_amount', sa.BigInteger(), nullable=False),
    sa.Column('collected_amount', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['institution_id'], ['institutions.id'], name=op.f('fk_portfolio_daily_flows_institution_id_institutions')),
    sa.PrimaryKeyConstraint('institution_id', 'value_on', name=op.f('pk_portfolio_daily_flows'))
    )
    op.create_table('ledger_daily_balances',
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('business_date', sa.Date(), nullable=False),
    sa.Column('debit_amount', sa.BigInteger(), nullable=False),
    sa.Column('credit_amount', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['ledger_accounts.id'], name=op.f('fk_ledger_daily_balances_account_id_ledger_accounts')),
    sa.PrimaryKeyConstraint('account_id', 'business_date', name=op.f('pk_ledger_daily_balances'))
    )
    op.create_table('portfolio_application_counts',
    sa.Column('institution_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=20), nullable=False),
    sa.Column('score_band', sa.String(length=8), nullable=False),
    sa.Column('applications_count', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['institution_id'], ['institutions.id'], name=op.f('fk_portfolio_application_counts_institution_id_institutions')),
    sa.PrimaryKeyConstraint('institution_id', 'status', 'score_band', name=op.f('pk_portfolio_application_counts'))
    )
    op.create_table('portfolio_customer_counts',
    sa.Column('institution_id', sa.Integer(), nullable=False),
    sa.Column('customers_count', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['institution_id'], ['institutions.id'], name=op.f('fk_portfolio_customer_counts_institution_id_institutions')),
    sa.PrimaryKeyConstraint('institution_id', name=op.f('pk_portfolio_customer_counts'))
    )
    if op.get_bind().dialect.name != "postgresql":
        return  # SQLite: no transition tables; the portal aggregates the (small) book itself
    op.execute(HELPERS)
    for table, function, upsert, deltas in TRIGGERS:
        op.execute(_function(function, upsert, deltas))
        for event, refs in EVENTS.items():
            if event not in deltas:
                continue
            op.execute(f"CREATE TRIGGER {function}_{event.lower()} AFTER {event} ON {table} "
                       f"REFERENCING {refs} FOR EACH STATEMENT EXECUTE FUNCTION {function}()")
    op.execute(RESET)
    for table, aggregate in RESETS:
        op.execute(f"CREATE TRIGGER {aggregate}_reset AFTER TRUNCATE ON {table} "
                   f"FOR EACH STATEMENT EXECUTE FUNCTION portfolio_aggregates_reset('{aggregate}')")
    op.execute(BACKFILL)


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        for table, function, _, _ in TRIGGERS:
            for event in EVENTS:
                op.execute(f"DROP TRIGGER IF EXISTS {function}_{event.lower()} ON {table}")
            op.execute(f"DROP FUNCTION IF EXISTS {function}()")
        for table, aggregate in RESETS:
            op.execute(f"DROP TRIGGER IF EXISTS {aggregate}_reset ON {table}")
        op.execute("DROP FUNCTION IF EXISTS portfolio_aggregates_reset()")
        op.execute("DROP FUNCTION IF EXISTS portfolio_dpd_bucket(integer)")
        op.execute("DROP FUNCTION IF EXISTS portfolio_score_band(varchar)")
    op.drop_table('portfolio_customer_counts')
    op.drop_table('portfolio_application_counts')
    op.drop_table('ledger_daily_balances')
    op.drop_table('portfolio_daily_flows')
    op.drop_table('portfolio_positions')
