"""A fake terminal whose account moves at every poll: what the restart and archive tests record and compare.

Every ``account_info()`` read gets new floating profit (so each poll is a new history point), and a
closed trade is booked every ``deal_every_s`` of the terminal's clock (so deals keep arriving and the
balance steps). Deals are booked when the terminal is read, from its clock, so the history is the same
whoever reads it and however often. Positions and orders never change.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from tests.fakes.fake_mt5 import FakeMT5

DEPOSIT = 10_000.0
MARGIN = 250.0
PROFIT_STEP = 7_919  # prime to 10,000: consecutive reads never get the same profit


class MovingTerminal(FakeMT5):
    """``FakeMT5`` with a deposit an hour before its start, one open position and one pending order."""

    def __init__(self, *, deal_every_s: float = 1.0, **fields: Any) -> None:
        super().__init__(**fields)
        self.deal_every_s = deal_every_s
        self.reads = 0
        self.balance = DEPOSIT
        self._lock = threading.Lock()  # the mt5linux server answers each connection on its own thread
        start = self.clock()
        self.add_balance(start - 3600, DEPOSIT)
        self.add_position("EURUSD", volume=0.1, profit=0.0)
        self.add_order("GBPUSD", price_open=1.25)
        self._next_deal_s = start + deal_every_s

    def _build_module(self) -> Any:
        module = super()._build_module()
        for name in ("account_info", "history_deals_get", "history_deals_total"):
            setattr(module, name, self._advancing(getattr(module, name), count=name == "account_info"))
        return module

    def _advancing(self, call: Callable[..., Any], *, count: bool) -> Callable[..., Any]:
        def advanced(*args: Any, **kwargs: Any) -> Any:
            self._advance(count)
            return call(*args, **kwargs)

        advanced.__name__ = call.__name__
        return advanced

    def _advance(self, count: bool) -> None:
        """Book the trades due by now, then (for an account read) move the floating profit."""
        with self._lock:
            now = self.clock()
            while self._next_deal_s <= now:
                n = len(self.deals)
                profit = round((n % 7 - 3) * 4.25, 2)
                self.add_deal(self._next_deal_s, "EURUSD", type=n % 2, entry=1, volume=0.1, profit=profit,
                              comment=f"trade {n}")  # fmt: skip
                self.balance = round(self.balance + profit, 2)
                self._next_deal_s += self.deal_every_s
            if count:
                self.reads += 1
            floating = round((self.reads * PROFIT_STEP % 10_000) / 100 - 50, 2)
            equity = round(self.balance + floating, 2)
            self.set_account(
                balance=self.balance,
                profit=floating,
                equity=equity,
                margin=MARGIN,
                margin_free=round(equity - MARGIN, 2),
                margin_level=round(equity / MARGIN * 100, 2),
            )
