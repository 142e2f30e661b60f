"""Daily portfolio snapshots written by the close of business (the dashboard's figures for past dates)."""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import JSON, BigInteger, Date, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.db import Money, UTCDateTime, utcnow
from portal.extensions import db


class PortfolioSnapshot(db.Model):
    """The portfolio figures of one institution at the end of one business date (``figures``: the JSON form of
    ``portal.reports.portfolio.PortfolioFigures``; ``aum`` and ``ledger_principal`` in rupees for the trend and
    the reconciliation). Written once per (institution, date) by the ``snapshot`` step of the close of business."""

    __tablename__ = "portfolio_snapshots"
    __table_args__ = (UniqueConstraint("institution_id", "business_date"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"))
    business_date: Mapped[date] = mapped_column(Date)
    aum: Mapped[Decimal] = mapped_column(Money)
    ledger_principal: Mapped[Decimal] = mapped_column(Money)
    figures: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Export(db.Model):
    """One export of the book (issue 7 item 3), run as a job on the ``exports`` queue.

    ``filters``: ``{"status", "product_id", "disbursed_from", "disbursed_to"}`` (ISO dates, None = any);
    ``status``: queued|running|done|failed; ``progress``: rows written so far; ``file_path`` relative to
    ``UPLOAD_DIR``; ``size_bytes`` and ``sha256`` of the finished file; the link works until ``expires_at``."""

    __tablename__ = "exports"
    id: Mapped[int] = mapped_column(primary_key=True)
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"), index=True)
    requested_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    kind: Mapped[str] = mapped_column(String(20), default="loan_book")
    format: Mapped[str] = mapped_column(String(4))  # xlsx | csv
    filters: Mapped[dict] = mapped_column(JSON, default=dict)
    pii: Mapped[bool] = mapped_column(default=False)  # phones written unmasked (requester may view PII)
    status: Mapped[str] = mapped_column(String(10), default="queued")
    progress: Mapped[int] = mapped_column(Integer, default=0)
    progress_total: Mapped[int | None] = mapped_column(Integer)  # rows to write, counted when the job starts
    row_count: Mapped[int | None] = mapped_column(Integer)
    file_path: Mapped[str | None] = mapped_column(String(500))
    sha256: Mapped[str | None] = mapped_column(String(64))
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)

    requested_by = relationship("User")

    @property
    def percent(self) -> int | None:
        """Progress 0..100 for the progress bar (None while the total is not known yet)."""
        if self.status == "done":
            return 100
        return int(100 * self.progress / self.progress_total) if self.progress_total else None

    @property
    def working(self) -> bool:
        """True while queued or running (the status panel polls)."""
        return self.status in ("queued", "running")


class PortfolioPosition(db.Model):
    """The serviced book of one institution grouped as the dashboard shows it: one row per (status, RBI asset
    class, DPD bucket, score band at application) with the number of loans and their outstanding principal
    (rupees; paise in the database). Every serviced loan is counted once, in all statuses (closed and written-off
    loans too: the dashboard reads the open ones).

    Maintained on PostgreSQL in the same transaction as each change of ``loans`` by statement-level triggers with
    transition tables (migration f7portfolioagg01: one upsert per group per statement); never written by Python.
    ``dpd_bucket``: 0, 1-30, 31-60, 61-90, 90+; ``score_band``: AA..D of the loan's application, else
    ``unscored``. Rows whose count falls to zero stay (their number is bounded by the groups)."""

    __tablename__ = "portfolio_positions"
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"), primary_key=True)
    status: Mapped[str] = mapped_column(String(20), primary_key=True)
    asset_class: Mapped[str] = mapped_column(String(12), primary_key=True)
    dpd_bucket: Mapped[str] = mapped_column(String(5), primary_key=True)
    score_band: Mapped[str] = mapped_column(String(8), primary_key=True)
    loans_count: Mapped[int] = mapped_column(BigInteger, default=0)
    principal_outstanding_amount: Mapped[Decimal] = mapped_column(Money, default=Decimal("0.00"))


class PortfolioDailyFlow(db.Model):
    """The serviced book's money flows of one institution on one value date (``loan_transactions.value_on``):
    disbursements and drawdowns (count, rupees) and collections (repayments + prepayments - reversals, rupees).
    Maintained on PostgreSQL by statement-level triggers on ``loan_transactions`` (migration f7portfolioagg01), so
    the month- and year-to-date figures read at most 366 rows."""

    __tablename__ = "portfolio_daily_flows"
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"), primary_key=True)
    value_on: Mapped[date] = mapped_column(Date, primary_key=True)
    disbursed_count: Mapped[int] = mapped_column(BigInteger, default=0)
    disbursed_amount: Mapped[Decimal] = mapped_column(Money, default=Decimal("0.00"))
    collected_amount: Mapped[Decimal] = mapped_column(Money, default=Decimal("0.00"))


class LedgerDailyBalance(db.Model):
    """The debits and credits (rupees) posted to one ledger account on one business date (the date of the
    journal entry). Maintained on PostgreSQL by statement-level triggers on ``postings`` (migration
    f7portfolioagg01): an account's balance on a date is a sum over its days, not over every posting."""

    __tablename__ = "ledger_daily_balances"
    account_id: Mapped[int] = mapped_column(ForeignKey("ledger_accounts.id"), primary_key=True)
    business_date: Mapped[date] = mapped_column(Date, primary_key=True)
    debit_amount: Mapped[Decimal] = mapped_column(Money, default=Decimal("0.00"))
    credit_amount: Mapped[Decimal] = mapped_column(Money, default=Decimal("0.00"))


class PortfolioApplicationCount(db.Model):
    """The number of applications of one institution in one status and score band (``""``: not scored).
    Maintained on PostgreSQL by statement-level triggers on ``loan_applications`` (migration f7portfolioagg01)."""

    __tablename__ = "portfolio_application_counts"
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"), primary_key=True)
    status: Mapped[str] = mapped_column(String(20), primary_key=True)
    score_band: Mapped[str] = mapped_column(String(8), primary_key=True)
    applications_count: Mapped[int] = mapped_column(BigInteger, default=0)


class PortfolioCustomerCount(db.Model):
    """The number of customers of one institution. Maintained on PostgreSQL by statement-level triggers on
    ``customers`` (migration f7portfolioagg01)."""

    __tablename__ = "portfolio_customer_counts"
    institution_id: Mapped[int] = mapped_column(ForeignKey("institutions.id"), primary_key=True)
    customers_count: Mapped[int] = mapped_column(BigInteger, default=0)


__all__ = ["Export", "LedgerDailyBalance", "PortfolioApplicationCount", "PortfolioCustomerCount",
           "PortfolioDailyFlow", "PortfolioPosition", "PortfolioSnapshot"]
