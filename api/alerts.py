"""Risk alerts over HTTP: the alert history and its acknowledgements, the rules with their live status, rule edits.

The engine itself is built by ``create_app`` (``server.extensions["mt5_risk"]``) and listens to the streamer,
so the rules are evaluated on every poll whether or not a page is open.
"""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request

from api.params import BadParameter, parse_instant_ms, parse_int
from api.rest import account_login, account_routes, error
from services.risk.engine import AlertEngine
from services.risk.evaluate import SEVERITY
from services.risk.rules import RULE_ID, RuleError, parse_rules_text
from services.risk.wiring import RiskEngine
from services.storage.archive import ArchiveUnavailable

MAX_RULES_BODY = 64 * 1024
MAX_LIMIT = 1000
DEFAULT_LIMIT = 100
ALERT_ID = re.compile(r"^\d{1,15}-[a-z0-9][a-z0-9_-]{0,39}$")
YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml", "text/plain")

alerts_api = account_routes(Blueprint("alerts", __name__))


def engine() -> AlertEngine:
    risk: RiskEngine = current_app.extensions["mt5_risk"]
    return risk.alerts


def _login_or_503() -> tuple[int | None, Any]:
    login = account_login()
    if login is None:
        return None, error(503, "no account yet: the MT5 source has not answered")
    return login, None


@alerts_api.errorhandler(RuleError)
def bad_rules(exc: RuleError) -> tuple[Response, int]:
    return error(400, str(exc), **exc.to_dict())


@alerts_api.errorhandler(ArchiveUnavailable)
def not_archived(exc: ArchiveUnavailable) -> tuple[Response, int]:
    """A rule save or an acknowledgement that is not on disk is not done: nothing changed."""
    return error(503, f"the archive did not take the change ({exc}); nothing was changed, retry shortly")


def _choice(name: str, allowed: tuple[str, ...]) -> str | None:
    raw = request.args.get(name, "").strip()
    if raw and raw not in allowed:
        raise BadParameter(name, "one of " + ", ".join(allowed), raw[:40])
    return raw or None


@alerts_api.get("/alerts")
def alerts() -> Any:
    """``?state=ok|warning|breached&rule=<id>&since=<ISO 8601>&limit=N``, newest first."""
    state = _choice("state", tuple(SEVERITY))
    rule = request.args.get("rule", "").strip() or None
    if rule is not None and not RULE_ID.match(rule):
        raise BadParameter("rule", "a rule id (a-z, 0-9, '_' and '-')", rule[:40])
    since = parse_instant_ms("since", request.args.get("since"))
    limit = parse_int("limit", request.args.get("limit"), 1, MAX_LIMIT, DEFAULT_LIMIT)
    login, failure = _login_or_503()
    if failure:
        return failure
    found = engine().history(login, state=state, rule=rule, since_ms=since, limit=limit)
    return jsonify({"account": login, "count": len(found), "alerts": found})


@alerts_api.post("/alerts/<alert_id>/ack")
def ack(alert_id: str) -> Any:
    login, failure = _login_or_503()
    if failure:
        return failure
    alert = engine().ack(login, alert_id) if ALERT_ID.match(alert_id) else None
    if alert is None:
        return error(404, f"no alert {alert_id[:80]!r} in the history of account {login}")
    return jsonify(alert)


def _rules_body(login: int | None) -> dict[str, Any]:
    alert_engine = engine()
    status = alert_engine.live_status(login)
    risk: RiskEngine = current_app.extensions["mt5_risk"]
    ruleset = alert_engine.rules(login)
    return {
        "account": login,
        "source": ruleset.source,
        "rules_file": str(risk.settings.rules_file) if risk.settings.rules_file else None,
        "ruleset": ruleset.to_dict(),
        "status": status["rules"] if status["account"] == login else [],
    }


@alerts_api.get("/rules")
def rules() -> Response:
    """The rules in force and each one's live value, limit, distance left and time to the daily reset."""
    return jsonify(_rules_body(account_login()))


@alerts_api.put("/rules")
def put_rules() -> Any:
    """Replace the rules from a JSON (or YAML) document shaped like a rules file; saved per account (archive, Redis)."""
    login, failure = _login_or_503()
    if failure:
        return failure
    raw = request.stream.read(MAX_RULES_BODY + 1)
    if len(raw) > MAX_RULES_BODY:
        return error(413, f"the rules document is larger than {MAX_RULES_BODY // 1024} KiB")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return error(400, "(document): expected UTF-8 text", field="(document)")
    if not text.strip():
        return error(400, "(document): expected a rules document, got an empty body", field="(document)")
    fmt = "yaml" if request.mimetype in YAML_TYPES else "json"
    engine().set_rules(login, parse_rules_text(text, fmt, source="page"), origin="api")
    return jsonify(_rules_body(login))


@alerts_api.delete("/rules")
def delete_rules() -> Any:
    """Drop the page's rules: back to RULES_FILE, or to the built-in margin rules."""
    login, failure = _login_or_503()
    if failure:
        return failure
    engine().reset_rules(login)
    return jsonify(_rules_body(login))
