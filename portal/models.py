"""Import every model so that mappers and migrations see the whole schema."""
from portal.alerts.models import Alert, AlertRule, WebhookAttempt, WebhookDelivery  # noqa: F401
from portal.audit.models import AuditEvent  # noqa: F401
from portal.auth.admin_models import PasswordSetupToken  # noqa: F401, E402
from portal.auth.models import ApiToken, Institution, LoginEvent, OtpChallenge, User, UserSession  # noqa: F401
from portal.business_date import BusinessDate  # noqa: F401
from portal.delinquency.models import (  # noqa: F401
    CollectionAssignment,
    PromiseToPay,
    RecoveryAction,
    RecoveryCase,
    WriteOff,
)
from portal.ingest.models import ImportBatch  # noqa: F401
from portal.ledger.models import JournalEntry, LedgerAccount, Posting  # noqa: F401, E402
from portal.lending.models import (  # noqa: F401
    ApplicationEvent,
    InfoRequest,
    Installment,
    Loan,
    LoanApplication,
    Offer,
    Override,
    Product,
)
from portal.lending.override_models import LoanStatusOverride  # noqa: F401, E402
from portal.notifications.models import (  # noqa: F401
    CampaignDelivery,
    Notification,
    NotificationPreference,
    NotificationTemplate,
    NotificationTemplateVersion,
)
from portal.onboarding.models import Consent, ConsentText, Customer, KycDocument  # noqa: F401
from portal.reports.models import (  # noqa: F401
    LedgerDailyBalance,
    PortfolioApplicationCount,
    PortfolioCustomerCount,
    PortfolioDailyFlow,
    PortfolioPosition,
    PortfolioSnapshot,
)
from portal.scoring.models import (  # noqa: F401
    SavingsAccount,
    SavingsTransaction,
    Scorecard,
    ScorecardVersion,
    ScoreResult,
    ScoringRun,
    TransactionImport,
)
from portal.servicing.models import (  # noqa: F401, E402
    Accrual,
    BillingStatement,
    CobRun,
    LoanTransaction,
    Payment,
    WebhookReceipt,
)
from portal.support.models import SupportTicket, TicketMessage  # noqa: F401, E402
