"""Prove that the ledger is balanced and agrees with every serviced loan (``flask --app wsgi ledger-check``).

Checks, in order (the first failure is the one reported first):

1. every journal entry balances (debits == credits);
2. the trial balance: total debits == total credits;
3. per serviced loan: ``principal_outstanding_amount`` == the loan's postings on 1100 (loan principal), and
   ``interest_receivable_amount`` == its accruals + its postings on 1200 (interest receivable);
4. the general ledger totals: 1100 == sum of principal outstanding, 1200 == sum of interest receivable,
   2100 (credit balance) == sum of interest in suspense, over the serviced loans.

Amounts are Decimal rupees.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import func, select

from portal.extensions import db
from portal.ledger.models import Account
from portal.ledger.services import loan_account_balances, paise_sum, rupees, trial_balance, unbalanced_entries

ZERO = Decimal("0.00")


@dataclass
class CheckResult:
    """What the check found: ``problems`` (human sentences, first disagreement first) and counts."""

    entries: int = 0
    loans: int = 0
    total_debit: Decimal = ZERO
    total_credit: Decimal = ZERO
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def check_ledger(institution_id: int, as_of, *, limit: int = 20) -> CheckResult:
    """Run the checks above for one institution with entries up to ``as_of``; at most ``limit`` problems."""
    from portal.ledger.models import JournalEntry
    from portal.lending.models import Loan
    from portal.servicing.models import Accrual

    result = CheckResult()
    result.entries = db.session.scalar(select(func.count(JournalEntry.id))
                                       .where(JournalEntry.institution_id == institution_id)) or 0
    for entry_id, reference, difference in unbalanced_entries(institution_id, limit=limit):
        result.problems.append(f"journal entry {entry_id} ({reference}) does not balance: debits - credits = "
                               f"{difference}")
    balances = trial_balance(institution_id, as_of)
    result.total_debit = sum((b.debit for b in balances), ZERO)
    result.total_credit = sum((b.credit for b in balances), ZERO)
    if result.total_debit != result.total_credit:
        result.problems.append(f"trial balance: debits {result.total_debit} != credits {result.total_credit}")

    posted = loan_account_balances(institution_id, [Account.LOAN_PRINCIPAL, Account.INTEREST_RECEIVABLE])
    accrued = {loan_id: rupees(total) for loan_id, total in db.session.execute(
        select(Accrual.loan_id, paise_sum(Accrual.amount)).join(Loan, Loan.id == Accrual.loan_id)
        .where(Loan.institution_id == institution_id).group_by(Accrual.loan_id))}
    loans = db.session.execute(
        select(Loan.id, Loan.principal_outstanding_amount, Loan.interest_receivable_amount,
               Loan.interest_suspense_amount)
        .where(Loan.institution_id == institution_id, Loan.serviced.is_(True)).order_by(Loan.id)).all()
    result.loans = len(loans)
    total_principal = total_interest = total_suspense = ZERO
    for loan_id, principal, interest, suspense in loans:
        total_principal += principal
        total_interest += interest
        total_suspense += suspense
        if len(result.problems) >= limit:
            continue
        ledger_principal = posted.get((loan_id, Account.LOAN_PRINCIPAL), ZERO)
        if principal != ledger_principal:
            result.problems.append(f"loan {loan_id}: principal outstanding {principal} but the ledger (1100) says "
                                   f"{ledger_principal}")
        ledger_interest = accrued.get(loan_id, ZERO) + posted.get((loan_id, Account.INTEREST_RECEIVABLE), ZERO)
        if interest != ledger_interest:
            result.problems.append(f"loan {loan_id}: interest receivable {interest} but accruals and the ledger "
                                   f"(1200) say {ledger_interest}")
    by_code = {b.code: b for b in balances}
    for code, expected, label in ((Account.LOAN_PRINCIPAL, total_principal, "principal outstanding"),
                                  (Account.INTEREST_RECEIVABLE, total_interest, "interest receivable"),
                                  (Account.INTEREST_SUSPENSE, -total_suspense, "interest in suspense")):
        balance = by_code[code.value].balance
        if balance != expected:
            result.problems.append(f"account {code.value} ({by_code[code.value].name}) balance {balance} != the "
                                   f"loans' {label} {expected}")
    return result
