"""The source of a dashboard process whose accounts are polled by collector processes.

It never calls MT5 (the collector beside the terminal does); the streamer of such a process
only mirrors the collector's snapshot from Redis.
"""

from __future__ import annotations

from services.core.brokertime import BrokerZone, fixed
from services.core.models import Account, Deal, HistoryPoint, Order, Position, Terminal
from services.ingest.sources.base import SourceCallError, SourceInfo

NOT_HERE = "this process shows an account polled by a collector process; it does not call MT5 itself"


class MirrorSource:
    def __init__(self, name: str, login: int, kind: str) -> None:
        self._info = SourceInfo("collector", f"Account {name} (#{login}), polled by its collector ({kind})",
                                {"name": name, "login": login, "collector_source": kind})  # fmt: skip

    @property
    def info(self) -> SourceInfo:
        return self._info

    @property
    def server_offset_s(self) -> int:
        return 0

    @property
    def zone(self) -> BrokerZone:
        return fixed(0)

    @property
    def history_sync(self) -> None:
        return None

    def remember_zone(self, spec: str) -> None:
        return None

    def reread_history(self) -> None:
        return None  # the collector that polls the account re-reads it

    def connect(self) -> None:
        raise SourceCallError(-7, NOT_HERE, "initialize")

    def disconnect(self) -> None:
        return None

    def terminal(self) -> Terminal:
        raise SourceCallError(-7, NOT_HERE, "terminal_info")

    def account(self) -> Account:
        raise SourceCallError(-7, NOT_HERE, "account_info")

    def positions(self) -> list[Position]:
        raise SourceCallError(-7, NOT_HERE, "positions_get")

    def orders(self) -> list[Order]:
        raise SourceCallError(-7, NOT_HERE, "orders_get")

    def new_deals(self) -> list[Deal]:
        raise SourceCallError(-7, NOT_HERE, "history_deals_get")

    def deals_between(self, start_utc_s: float, end_utc_s: float) -> list[Deal]:
        raise SourceCallError(-7, NOT_HERE, "history_deals_get")

    def backfill(self) -> list[HistoryPoint]:
        return []
