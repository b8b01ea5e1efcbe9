"""The accounts file: one collector process per MT5 account, all writing to one Redis.

The MetaTrader5 package talks to one terminal per process, so several accounts mean several
processes. The file names each account's password variable, never the password itself.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from services.core.secret import Secret
from services.core.settings import DEMO_CURRENCIES, POLL_INTERVAL_MS_RANGE, SOURCE_KINDS, Settings, SettingsError

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$")
ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]{0,63}$")
FIELDS = ("name", "login", "server", "password_env", "path", "source", "poll_interval_ms", "demo_seed", "demo_currency")


class AccountsError(SettingsError):
    """A bad accounts file; the message names the file, the account and the field."""

    def __init__(self, path: Path, where: str, expected: str) -> None:
        super().__init__("ACCOUNTS_FILE", f"{expected} at {where} in {path}")


@dataclass(frozen=True, slots=True)
class AccountSpec:
    name: str
    login: int
    source: str
    server: str | None = None
    password_env: str | None = None
    path: str | None = None
    poll_interval_ms: int | None = None
    demo_seed: int | None = None
    demo_currency: str | None = None

    def settings(self, base: Settings, env: Mapping[str, str] | None = None) -> Settings:
        """This account's settings: the shared ones (Redis, prefix, heartbeat…) plus its own terminal."""
        env = os.environ if env is None else env
        password = Secret(env.get(self.password_env, "")) if self.password_env else Secret("")
        return replace(
            base,
            mt5_source=self.source,
            mt5_login=self.login,
            mt5_password=password,
            mt5_server=self.server,
            mt5_path=self.path,
            poll_interval_ms=self.poll_interval_ms or base.poll_interval_ms,
            demo_seed=self.demo_seed if self.demo_seed is not None else base.demo_seed,
            demo_currency=self.demo_currency or base.demo_currency,
        )


def _field(raw: dict[str, Any], key: str, where: str, path: Path, kind: type, required: bool = False) -> Any:
    value = raw.get(key)
    if value is None:
        if required:
            raise AccountsError(path, f"{where}.{key}", "a value")
        return None
    if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise AccountsError(path, f"{where}.{key}", "a whole number")
    if kind is str and not isinstance(value, str):
        raise AccountsError(path, f"{where}.{key}", "text")
    return value


def parse_accounts(data: Any, path: Path) -> tuple[AccountSpec, ...]:
    if not isinstance(data, dict) or not isinstance(data.get("accounts"), list) or not data["accounts"]:
        raise AccountsError(path, "the top level", 'an "accounts:" list with at least one account')
    specs: list[AccountSpec] = []
    for index, raw in enumerate(data["accounts"]):
        where = f"accounts[{index}]"
        if not isinstance(raw, dict):
            raise AccountsError(path, where, "an account (a mapping of fields)")
        unknown = sorted(set(raw) - set(FIELDS))
        if unknown:
            raise AccountsError(path, f"{where}.{unknown[0]}", "one of the fields " + ", ".join(FIELDS))
        name = _field(raw, "name", where, path, str, required=True)
        if not NAME.match(name):
            raise AccountsError(path, f"{where}.name", "1-40 letters, digits, '_', '.' or '-'")
        login = _field(raw, "login", where, path, int, required=True)
        if login <= 0:
            raise AccountsError(path, f"{where}.login", "a positive account number")
        source = raw.get("source", "mt5")
        if source not in SOURCE_KINDS:
            raise AccountsError(path, f"{where}.source", "one of " + "|".join(SOURCE_KINDS))
        password_env = _field(raw, "password_env", where, path, str)
        if password_env is not None and not ENV_NAME.match(password_env):
            raise AccountsError(
                path, f"{where}.password_env", "the NAME of an environment variable (never the password)"
            )
        demo_currency = _field(raw, "demo_currency", where, path, str)
        if demo_currency is not None and demo_currency not in DEMO_CURRENCIES:
            raise AccountsError(path, f"{where}.demo_currency", "one of " + "|".join(DEMO_CURRENCIES))
        poll = _field(raw, "poll_interval_ms", where, path, int)
        low, high = POLL_INTERVAL_MS_RANGE
        if poll is not None and not low <= poll <= high:
            raise AccountsError(path, f"{where}.poll_interval_ms", f"an integer from {low} to {high}")
        specs.append(
            AccountSpec(
                name=name,
                login=login,
                source=source,
                server=_field(raw, "server", where, path, str),
                password_env=password_env,
                path=_field(raw, "path", where, path, str),
                poll_interval_ms=poll,
                demo_seed=_field(raw, "demo_seed", where, path, int),
                demo_currency=demo_currency,
            )
        )
    for kind, values in (("name", [s.name for s in specs]), ("login", [s.login for s in specs])):
        duplicates = sorted({v for v in values if values.count(v) > 1}, key=str)
        if duplicates:
            raise AccountsError(path, f"accounts ({kind} {duplicates[0]})", f"a unique {kind} per account")
    return tuple(specs)


def load_accounts(path: Path) -> tuple[AccountSpec, ...]:
    """Read and check the file; raises AccountsError naming the account and the field at fault."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise AccountsError(path, "the file", f"a readable file ({exc.strerror})") from None
    try:
        data = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "the file"
        raise AccountsError(path, where, "valid YAML or JSON") from None
    return parse_accounts(data, path)
