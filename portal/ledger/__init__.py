"""The general ledger: double-entry accounts, journal entries and postings (DESIGN.md section 3, issue 5).

Every money movement of a loan (disbursement, accrual, repayment, reversal, recovery, write-off) is one balanced
journal entry, posted with :func:`portal.ledger.services.post` in the same transaction as the change it records.
"""
