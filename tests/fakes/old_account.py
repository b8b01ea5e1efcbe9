"""A terminal account with months of deals before the app's first poll: the issue's "real account"."""

from __future__ import annotations

from dataclasses import dataclass

from tests.fakes.fake_mt5 import FakeMT5

DAY_S = 86_400
DEPOSIT = 10_000.0
TRADE_DAYS = 60


@dataclass(frozen=True, slots=True)
class OldAccount:
    first_deal_s: float  # UTC seconds of the first deposit
    last_deal_s: float
    deals: int
    balance: float


def fill_old_account(fake: FakeMT5, now_s: float, days_ago: int = 75) -> OldAccount:
    """A deposit ``days_ago`` days back, then one round trip a day for 60 days (commission, swap, a loss
    every third day), a withdrawal and a credit the balance never sees; the account's balance is set to
    what those deals add up to."""
    first = now_s - days_ago * DAY_S
    fake.add_balance(first, DEPOSIT)
    balance, count = DEPOSIT, 1
    for day in range(TRADE_DAYS):
        opened = first + (day + 1) * DAY_S
        result = -40.0 if day % 3 == 0 else 25.0
        fake.add_deal(opened, type=0, entry=0, position_id=5000 + day, commission=-3.5)
        fake.add_deal(opened + 3600, type=1, entry=1, position_id=5000 + day, profit=result, swap=-1.25,
                      commission=-3.5)  # fmt: skip
        balance += result - 1.25 - 7.0
        count += 2
    last = first + (TRADE_DAYS + 2) * DAY_S
    fake.add_balance(last - DAY_S, -250.0, comment="withdrawal")
    fake.add_deal(last, symbol="", type=3, profit=500.0, position_id=0, comment="credit")
    balance = round(balance - 250.0, 2)
    fake.set_account(balance=balance, equity=balance + 500.0, margin_free=balance + 500.0, credit=500.0)
    return OldAccount(first, last, count + 2, balance)
