"""The ledger: balanced posting, idempotent references, the trial balance, the disbursement entry,
``flask --app wsgi ledger-check`` and the admin ledger page."""
from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import func, select

from portal.auth.services import default_institution
from portal.extensions import db as database
from portal.ledger.check import check_ledger
from portal.ledger.models import Account, JournalEntry, Posting
from portal.ledger.services import Line, UnbalancedEntry, loan_account_balances, post, trial_balance
from tests.factories import make_disbursed_loan, make_staff

D = Decimal


def _inst():
    return default_institution().id


def test_post_writes_a_balanced_entry_and_is_idempotent_on_its_reference(db, clock):
    lines = [Line(Account.CASH, debit=D("100.00")), Line(Account.INTEREST_INCOME, credit=D("100.00"))]
    first = post(_inst(), kind="test", reference="t:1", business_date=clock.today(), lines=lines)
    again = post(_inst(), kind="test", reference="t:1", business_date=clock.today(), lines=lines)
    assert again.id == first.id
    assert database.session.scalar(select(func.count(Posting.id))) == 2


@pytest.mark.parametrize("lines", [
    [Line(Account.CASH, debit=D("100.00")), Line(Account.INTEREST_INCOME, credit=D("99.99"))],
    [Line(Account.CASH, debit=D("-1.00")), Line(Account.INTEREST_INCOME, debit=D("1.00"))],
    [Line(Account.CASH, debit=D("1.00"), credit=D("1.00"))],
])
def test_an_unbalanced_or_malformed_entry_writes_nothing(db, clock, lines):
    with pytest.raises(UnbalancedEntry):
        post(_inst(), kind="test", reference="t:bad", business_date=clock.today(), lines=lines)
    assert database.session.scalar(select(func.count(JournalEntry.id))) == 0


def test_a_float_is_refused(db, clock):
    with pytest.raises(TypeError):
        post(_inst(), kind="test", reference="t:f", business_date=clock.today(),
             lines=[Line(Account.CASH, debit=1.5), Line(Account.INTEREST_INCOME, credit=1.5)])


def test_disbursement_posts_principal_cash_and_fee(db, clock):
    loan = make_disbursed_loan(clock, amount="100000", tenure=12)
    entry = database.session.scalar(select(JournalEntry).where(JournalEntry.reference == f"disbursement:{loan.id}"))
    by_account = {p.account.code: (p.debit_amount, p.credit_amount) for p in entry.postings}
    fee = D("1000.00")  # 1 % of 1,00,000 (TL-PERSONAL), under the Rs 10,000 cap
    assert by_account == {Account.LOAN_PRINCIPAL.value: (D("100000.00"), D("0.00")),
                          Account.CASH.value: (D("0.00"), D("100000.00") - fee),
                          Account.FEE_INCOME.value: (D("0.00"), fee)}
    assert loan.serviced and loan.principal_outstanding_amount == D("100000.00")
    assert loan.next_due_on == loan.installments[0].due_on
    assert loan.period_interest_amount == loan.installments[0].interest_amount
    assert loan_account_balances(_inst(), [Account.LOAN_PRINCIPAL])[(loan.id, Account.LOAN_PRINCIPAL)] == \
        D("100000.00")
    balances = trial_balance(_inst(), clock.today())
    assert sum(b.debit for b in balances) == sum(b.credit for b in balances) == D("100000.00")
    assert check_ledger(_inst(), clock.today()).ok


def test_ledger_check_command_passes_then_names_the_first_disagreement(app, db, clock):
    loan = make_disbursed_loan(clock)
    database.session.commit()
    runner = app.test_cli_runner()
    ok = runner.invoke(args=["ledger-check"])
    assert ok.exit_code == 0, ok.output
    assert "ledger ok" in ok.output and "1 serviced loans" in ok.output

    loan.principal_outstanding_amount -= D("0.01")  # a loan that no longer agrees with its postings
    database.session.commit()
    bad = runner.invoke(args=["ledger-check"])
    assert bad.exit_code == 1
    assert f"loan {loan.id}: principal outstanding 99999.99 but the ledger (1100) says 100000.00" in bad.output


def test_ledger_check_finds_an_unbalanced_entry_written_behind_the_services_back(app, db, clock):
    make_disbursed_loan(clock)
    posting = database.session.scalars(select(Posting).where(Posting.credit_amount > 0)).first()
    posting.credit_amount += D("1.00")
    database.session.commit()
    result = app.test_cli_runner().invoke(args=["ledger-check"])
    assert result.exit_code == 1
    assert "does not balance" in result.output


def test_admin_ledger_page_shows_a_balanced_trial_balance_and_the_days_summary(client, login_as, db, clock):
    make_disbursed_loan(clock)
    admin = make_staff("admin")
    database.session.commit()
    login_as(admin)
    page = client.get("/admin/ledger")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Trial balance" in html and "Balanced" in html
    assert 'data-account="1100"' in html and "1,00,000.00" in html
    assert "Disbursement" in html  # the day's summary by kind of entry
    past = client.get("/admin/ledger?on=2026-01-01")
    assert past.status_code == 200 and "Nothing was posted on this business date." in past.get_data(as_text=True)
    assert client.get("/admin/ledger?on=yesterday").status_code == 400


def test_a_loan_officer_cannot_read_the_ledger(client, login_as, db):
    login_as(make_staff("loan_officer"))
    database.session.commit()
    assert client.get("/admin/ledger").status_code == 403
