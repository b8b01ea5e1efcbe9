"""Which account a page shows: ``/a/<login>``, or the default account at ``/``."""

from __future__ import annotations

from typing import Any

from dash import Dash, Input, Output, no_update

from api.pages import ACCOUNT_PATH
from layouts import ids
from services.runtime import Runtime
from services.storage.redis_conn import REDIS_ERRORS


def page_login(pathname: str | None, runtime: Runtime) -> int | None:
    found = ACCOUNT_PATH.match(pathname or "")
    return int(found.group(1)) if found else runtime.login()


def account_options(runtime: Runtime) -> list[dict[str, Any]]:
    """Every account on this Redis, named from ACCOUNTS_FILE where it has a name."""
    names = {spec.login: spec.name for spec in runtime.accounts}
    try:
        logins = sorted(set(runtime.store.accounts()) | set(names))
    except REDIS_ERRORS:
        logins = sorted(names)
    return [
        {"label": f"{names[login]} · #{login}" if login in names else f"#{login}", "value": login} for login in logins
    ]


def register(app: Dash, runtime: Runtime) -> None:
    @app.callback(
        Output(ids.ACCOUNT_SWITCH, "options"),
        Output(ids.ACCOUNT_SWITCH, "value"),
        Input(ids.LOCATION, "pathname"),
    )
    def list_accounts(pathname: str | None) -> tuple[list[dict[str, Any]], int | None]:
        return account_options(runtime), page_login(pathname, runtime)

    @app.callback(
        Output(ids.LOCATION, "href"),
        Input(ids.ACCOUNT_SWITCH, "value"),
        Input(ids.LOCATION, "pathname"),
        prevent_initial_call=True,
    )
    def switch(login: int | None, pathname: str | None) -> Any:
        if login is None or login == page_login(pathname, runtime):
            return no_update
        return f"/a/{login}"
