"""What every use case of a service works with: its database client and database, its settings,
and the one way it runs a transaction.

Built once at start-up (`shared/app.py` puts it in `app.state.context`; routers take it with
`shared.deps.get_context`). A service whose use cases need more (the payment service's providers,
the auth service's signing keys) extends it with those fields and keeps the rest.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from pymongo.asynchronous.client_session import AsyncClientSession
from pymongo.errors import DuplicateKeyError, PyMongoError

from shared.db import Database, MongoClient, with_transaction
from shared.metrics import TransactionMetrics, TransactionOutcome
from shared.settings import CommonSettings
from shared.telemetry import span

SettingsT = TypeVar("SettingsT", bound=CommonSettings)
T = TypeVar("T")

# What the transaction running in this task does once it has committed (`after_commit`).
_after_commit: ContextVar[list[Callable[[], None]] | None] = ContextVar("after_commit", default=None)


def after_commit(action: Callable[[], None]) -> None:
    """Run `action` once the transaction running now has committed, never for a run that is retried
    or aborted (a transaction callback must have no side effects; counting what it did is one).
    Outside a transaction it runs at once."""
    pending = _after_commit.get()
    if pending is None:
        action()
    else:
        pending.append(action)


@dataclass(frozen=True)
class ServiceContext(Generic[SettingsT]):
    client: MongoClient
    db: Database
    settings: SettingsT
    # The app's transaction metrics (shared/app.py); None outside an app (tests, tools).
    transaction_metrics: TransactionMetrics | None = field(default=None, kw_only=True, compare=False)

    async def transaction(self, callback: Callable[[AsyncClientSession], Awaitable[T]]) -> T:
        """Run `callback` in one transaction bounded by TRANSACTION_TIMEOUT_SECONDS (it may run
        several times: database calls on its session only, no side effects; docs/transactions.md).

        Traced as one `db.transaction` span (its MongoDB commands inside it) with the number of runs;
        counted by outcome, and its re-runs as retries."""
        runs = 0
        committed: list[Callable[[], None]] = []

        async def counted(session: AsyncClientSession) -> T:
            nonlocal runs
            runs += 1
            committed.clear()  # what an earlier run registered did not happen
            return await callback(session)

        with span("db.transaction") as current:
            outcome: TransactionOutcome = "committed"
            token = _after_commit.set(committed)
            try:
                result = await with_transaction(
                    self.client, counted, timeout_seconds=self.settings.transaction_timeout_seconds
                )
            except BaseException as exc:
                outcome = transaction_outcome(exc)
                raise
            finally:
                _after_commit.reset(token)
                current.set_attribute("db.transaction.runs", runs)
                current.set_attribute("db.transaction.outcome", outcome)
                if self.transaction_metrics is not None:
                    self.transaction_metrics.finished(outcome, runs)
        for action in committed:
            action()
        return result


def transaction_outcome(error: BaseException) -> TransactionOutcome:
    """How a transaction that raised `error` ended: out of time, a database failure, or aborted by
    its own use case (an exception of the callback: insufficient stock, an order no longer pending)."""
    if isinstance(error, TimeoutError) or (isinstance(error, PyMongoError) and error.timeout):
        return "timed_out"
    if isinstance(error, PyMongoError) and not isinstance(error, DuplicateKeyError):
        return "failed"  # a duplicate key is a use case's answer (a replay, a duplicate event)
    return "aborted"
