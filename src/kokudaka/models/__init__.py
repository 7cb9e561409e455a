"""All ORM models, in one layer, so Alembic and every service see the same metadata."""

from kokudaka.models.audit_log import (
    GENESIS_HASH,
    AnchorState,
    StaffAction,
    StaffLogAnchor,
    StaffLogEntry,
    StaffLogHead,
)
from kokudaka.models.base import AnyRow, Base, Written, table_of, utcnow, written
from kokudaka.models.chain import (
    ChainAsset,
    ChainDeployment,
    ChainOperation,
    ChainOperationKind,
    ChainState,
    ChainTransaction,
    TransactionState,
)
from kokudaka.models.console import ConsoleSession
from kokudaka.models.farmer import Farmer, Work
from kokudaka.models.harvest import Bill, YieldReport, YieldReportState
from kokudaka.models.investment import (
    IdempotencyRecord,
    Investment,
    InvestmentCancellation,
    InvestmentStatus,
    PaymentEvent,
)
from kokudaka.models.ledger import (
    Account,
    AccountKind,
    EntryKind,
    FarmerIssuanceDay,
    Issuance,
    IssuanceKind,
    JournalEntry,
    Posting,
    RegionSupporterSeason,
    SupporterSeason,
    TownIssuanceDay,
)
from kokudaka.models.municipality import (
    DEFAULT_HARVEST_CEILING_BP,
    Municipality,
    MunicipalityPolicy,
    Region,
)
from kokudaka.models.notice import Notice, NoticeKind
from kokudaka.models.redemption import Redemption, RedemptionMethod, RedemptionState
from kokudaka.models.user import Role, SignInFailure, User, WalletChallenge
from kokudaka.models.volunteering import Activity, Contribution, ContributionStatus

__all__ = [
    "DEFAULT_HARVEST_CEILING_BP",
    "GENESIS_HASH",
    "Account",
    "AccountKind",
    "Activity",
    "AnchorState",
    "AnyRow",
    "Base",
    "Bill",
    "ChainAsset",
    "ChainDeployment",
    "ChainOperation",
    "ChainOperationKind",
    "ChainState",
    "ChainTransaction",
    "ConsoleSession",
    "Contribution",
    "ContributionStatus",
    "EntryKind",
    "Farmer",
    "FarmerIssuanceDay",
    "IdempotencyRecord",
    "Investment",
    "InvestmentCancellation",
    "InvestmentStatus",
    "Issuance",
    "IssuanceKind",
    "JournalEntry",
    "Municipality",
    "MunicipalityPolicy",
    "Notice",
    "NoticeKind",
    "PaymentEvent",
    "Posting",
    "Redemption",
    "RedemptionMethod",
    "RedemptionState",
    "Region",
    "RegionSupporterSeason",
    "Role",
    "SignInFailure",
    "StaffAction",
    "StaffLogAnchor",
    "StaffLogEntry",
    "StaffLogHead",
    "SupporterSeason",
    "TownIssuanceDay",
    "TransactionState",
    "User",
    "WalletChallenge",
    "Work",
    "Written",
    "YieldReport",
    "YieldReportState",
    "table_of",
    "utcnow",
    "written",
]
