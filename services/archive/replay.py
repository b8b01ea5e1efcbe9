"""Replay: an account as the archive saw it at one moment, long after Redis has forgotten it."""

from __future__ import annotations

from typing import Any

from services.archive.database import Archive


def account_at(archive: Archive, login: int, t_ms: int) -> dict[str, Any] | None:
    """The last history point and the last positions/orders state at or before ``t_ms``, each with its time.

    Either may be None (a point is written when the account changes, a state when positions or orders do);
    None when neither was recorded by then. Currency and digits come from the latest account row: they
    do not change over an account's life.
    """
    point = archive.point_at(login, t_ms)
    state = archive.state_at(login, t_ms)
    if point is None and state is None:
        return None
    account = archive.account(login)
    return {
        "account": login,
        "t": t_ms,
        "point": None if point is None else point.to_dict(),
        "state": None
        if state is None
        else {
            "ts": state.ts,
            "positions": [p.to_dict() for p in state.positions],
            "orders": [o.to_dict() for o in state.orders],
        },
        "currency": None if account is None else account.currency,
        "currency_digits": None if account is None else account.currency_digits,
    }
