"""``GET /accounts``: every account in this Redis, with its collector's health, side by side."""

from __future__ import annotations

import time
from typing import Any

from flask import Blueprint, Response, current_app, jsonify

from api.rest import json_api
from services.runtime import Runtime

STALE_GRACE_MS = 50  # the time a poll itself takes

accounts_api = json_api(Blueprint("accounts", __name__))


def account_rows(rt: Runtime, now_ms: int) -> list[dict[str, Any]]:
    """One row per login known to Redis or named in ACCOUNTS_FILE; stale after two poll intervals of silence."""
    specs = {spec.login: spec for spec in rt.accounts}
    logins = sorted(set(rt.store.accounts()) | set(specs))
    statuses = rt.store.statuses(logins)
    collectors = rt.supervisor.status() if rt.supervisor is not None else {}
    rows = []
    for login in logins:
        spec = specs.get(login)
        snapshot = rt.store.snapshot(login) or {}
        account = snapshot.get("account") or {}
        status = statuses.get(login) or snapshot.get("status") or {}
        interval_ms = spec.poll_interval_ms if spec and spec.poll_interval_ms else rt.settings.poll_interval_ms
        last_poll = status.get("last_poll_ms")
        lag_ms = None if last_poll is None else max(0, now_ms - last_poll)
        rows.append({
            "login": login,
            "name": spec.name if spec else account.get("name"),
            "server": account.get("server"),
            "currency": account.get("currency"),
            "balance": account.get("balance"),
            "equity": account.get("equity"),
            "profit": account.get("profit"),
            "margin_level": account.get("margin_level"),
            "mt5": status.get("mt5"),
            "mt5_error": status.get("mt5_error"),
            "last_poll_ms": last_poll,
            "lag_ms": lag_ms,
            "stale": lag_ms is None or lag_ms > 2 * interval_ms + STALE_GRACE_MS,
            "collector": collectors.get(spec.name) if spec else None,
        })  # fmt: skip
    return rows


@accounts_api.get("/accounts")
def accounts() -> Response:
    rt: Runtime = current_app.extensions["mt5_runtime"]
    return jsonify({"accounts": account_rows(rt, int(time.time() * 1000))})
