"""Loan servicing (issue 5): repayments and their allocation, the revolving credit line, statements, and the
nightly close of business (COB). Every money movement goes through ``portal.ledger.services.post`` in the same
transaction as the loan change it records.

Layout
------
* ``models.py``      Payment, LoanTransaction (statement lines), Accrual (per loan per business date),
                     BillingStatement (credit lines), CobRun, WebhookReceipt.
* ``allocation.py``  pure: split a payment over a loan's dues (order below).
* ``services.py``    record_repayment / initiate_gateway_payment / confirm_gateway_payment / bounce_payment /
                     statement(loan) ...; row lock on the loan (``with_for_update``) for every money change.
* ``gateway.py``     the payment-gateway sandbox: HMAC-SHA256 signed webhooks, replay-safe (WebhookReceipt).
* ``credit_line.py`` seed 004 revolving line: open (apply rules), drawdown, billing.
* ``cob.py``         the close of business: set-based SQL steps in chunks, each idempotent per business date.
* ``ledger_check.py`` proves the ledger and every serviced loan agree.

The loan's balances (columns on ``loans``; Decimal rupees)
----------------------------------------------------------
Only ``loans.serviced`` loans are serviced (portal disbursements and credit lines). Imported book loans are the
history of the seed 003 score: no schedule rows, no balances, no COB.

* ``principal_outstanding_amount`` == ledger LOAN_PRINCIPAL (1100) postings of the loan (debit - credit).
* ``interest_receivable_amount``   == sum(accruals.amount) + ledger INTEREST_RECEIVABLE (1200) postings of the
                                      loan (accruals are posted in one entry per day; payments credit 1200 per loan).
* ``interest_suspense_amount``     the part of interest_receivable accrued while NPA (or moved there on becoming
                                      NPA): held in INTEREST_SUSPENSE (2100), not income.
* term loans: ``period_start_on`` (previous due date or disbursement), ``next_due_on``, ``period_interest_amount``
  (the scheduled interest of the instalment due on next_due_on), ``period_accrued_amount`` (accrued so far in
  the period). Accrual for business date d, with D = next_due_on - period_start_on days:
  ``accrued_to(d) = round_half_up(period_interest * (d - period_start_on) / D)`` (integer paise), today's accrual
  = max(0, accrued_to(d) - period_accrued). On the due date the period has accrued exactly the scheduled interest.
* credit lines (seed 004): ``interest_rate`` is the APR; daily accrual = round(APR / 365, 3) % of the principal
  balance, rounded half-up to the paisa; billing every 30 days from ``billing_anchor_on``.

Journal entries (Dr / Cr)
-------------------------
* disbursement : Dr 1100 loan principal amount / Cr 1000 cash net amount, Cr 4100 fee income processing fee
* drawdown     : Dr 1100 / Cr 1000
* accrual      : Dr 1200 / Cr 4000 interest income (standard loans); Dr 1200 / Cr 2100 suspense (NPA loans)
* repayment    : Dr 1000 cash / Cr 1200 interest part, Cr 1100 principal part (all with loan_id); for interest
                 paid out of suspense also Dr 2100 / Cr 4000 (recognised when received)
* becoming NPA : Dr 4000 / Cr 2100 for the receivable not yet paid (income reversed into suspense, RBI IRAC)
* bounce       : the exact reverse of the payment's entry (reference ``reversal:<payment id>``), rows un-paid
* write-off / recovery (issue 6): Dr 5000 / Cr 1100 (+1200 against 2100); recovery Dr 1000 / Cr 4200

Allocation order (seeds 000, 003, 004)
--------------------------------------
overdue interest, overdue principal (instalments due before the payment's business date, oldest first), then
current interest, current principal (the instalment due on or after it: the next one), then the excess is a
prepayment that reduces principal and shortens the tenure (the remaining rows are regenerated with the same
EMI). A payment above the total outstanding is refused (422). Interest of the current instalment paid before it
has fully accrued is accrued at once (period_accrued = period_interest) so the receivable never goes negative.

Delinquency (RBI IRAC, DESIGN.md section 4)
-------------------------------------------
DPD at business date d = d - the oldest due date with something unpaid (0 when nothing is overdue). Asset class:
standard (0), sma_0 (1-30), sma_1 (31-60), sma_2 (61-90), npa (> 90); NPA is borrower-wide (one NPA loan makes all
the customer's serviced loans NPA) and is upgraded only when all the borrower's arrears are paid. Loan status
follows: active (dpd 0), overdue (dpd >= 1), npa; closed at zero principal and zero interest.
"""
