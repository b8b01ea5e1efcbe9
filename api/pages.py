"""``/a/<login>``: a page for an account this dashboard cannot show is a plain 404 page that says so, not a
dashboard waiting on "Connecting…" for an account that never comes."""

from __future__ import annotations

import re
from html import escape

from flask import Flask, Response, current_app, request

from services.runtime import Runtime
from services.storage.redis_conn import REDIS_ERRORS

ACCOUNT_PATH = re.compile(r"^/a/(\d{1,19})/?$")

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>No account #{login} · MT5 Dashboard</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body style="font-family: system-ui, sans-serif; margin: 2rem; line-height: 1.5">
<h1>No account #{login} on this dashboard</h1>
<p>Its collector has never written to this dashboard's Redis, and it is not in ACCOUNTS_FILE. Check the number,
or start its collector (<code>python app.py collect --account NAME</code>); this page shows it once it polls.</p>
<p>Accounts here: {known}</p>
</body></html>
"""


def unknown_account() -> Response | None:
    """After authentication (a stranger learns no account numbers): 404 for a login nobody polls here. While Redis
    cannot say, the page is served and tells its own state."""
    found = ACCOUNT_PATH.match(request.path)
    if found is None:
        return None
    login = int(found.group(1))
    rt: Runtime = current_app.extensions["mt5_runtime"]
    try:
        if rt.login() is None or rt.knows(login):  # before the first poll nothing is known for sure
            return None
        logins = sorted({*rt.store.accounts(), *rt.account_names(), *filter(None, [rt.login()])})
    except REDIS_ERRORS:
        return None
    names = rt.account_names()
    links = [f'<a href="/a/{n}">{escape(names.get(n, ""))} #{n}</a>' if n != rt.login() else f'<a href="/">#{n}</a>'
             for n in logins]  # fmt: skip
    body = PAGE.format(login=login, known=", ".join(links) or "none yet")
    return Response(body, 404, mimetype="text/html")


def init_app(server: Flask) -> None:
    server.before_request(unknown_account)
