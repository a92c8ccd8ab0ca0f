"""What every use case of a service works with: its database client and database, its settings,
and the one way it runs a transaction.

Built once at start-up (`shared/app.py` puts it in `app.state.context`; routers take it with
`shared.deps.get_context`). A service whose use cases need more (the payment service's providers,
the auth service's signing keys) extends it with those fields and keeps the rest.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from pymongo.asynchronous.client_session import AsyncClientSession

from shared.db import Database, MongoClient, with_transaction
from shared.settings import CommonSettings

SettingsT = TypeVar("SettingsT", bound=CommonSettings)
T = TypeVar("T")


@dataclass(frozen=True)
class ServiceContext(Generic[SettingsT]):
    client: MongoClient
    db: Database
    settings: SettingsT

    async def transaction(self, callback: Callable[[AsyncClientSession], Awaitable[T]]) -> T:
        """Run `callback` in one transaction bounded by TRANSACTION_TIMEOUT_SECONDS (it may run
        several times: database calls on its session only, no side effects; docs/transactions.md)."""
        return await with_transaction(
            self.client, callback, timeout_seconds=self.settings.transaction_timeout_seconds
        )
