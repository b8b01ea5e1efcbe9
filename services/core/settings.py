"""One frozen Settings object, read once from the environment and ``.env``.

Every value is validated here so a typo stops the app at start with a message
naming the variable, instead of surfacing later as a confusing runtime error.
"""

from __future__ import annotations

import importlib.util
import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote, unquote, urlsplit

from redis.connection import Connection, parse_url
from redis.exceptions import RedisError
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from services.core.brokertime import BrokerTimeError, parse_zone
from services.core.secret import Secret, redact_url, scrub

T = TypeVar("T")

SOURCE_KINDS = ("mt5", "mt5linux", "demo")  # what a collector of ACCOUNTS_FILE names: never "auto"
SOURCES = ("auto", *SOURCE_KINDS)
DEMO_CURRENCIES = ("USD", "EUR", "GBP", "JPY")
COLLECTOR_MODES = ("local", "none")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
REDIS_SCHEMES = ("redis", "rediss", "unix")
EMBEDDED = "embedded"
WS_MAX_CONNECTIONS = 64  # per process; gunicorn.conf.py gives each worker more threads than this
WS_SEND_TIMEOUT_S = 10.0
MAX_LOGIN = 2**63 - 1  # MT5 account numbers are signed 64-bit integers
REQUEST_BYTES = 1 << 20  # a Dash update of a large account's snapshot is a few hundred KiB
REQUEST_BYTES_RANGE = (64 << 10, 1 << 30)  # at least a rules document (64 KiB)
POLL_INTERVAL_MS_RANGE = (10, 60_000)  # POLL_INTERVAL_MS, and an account's poll_interval_ms in ACCOUNTS_FILE


class SettingsError(ValueError):
    """A setting has a bad value; the message names the variable and what it expects."""

    def __init__(self, variable: str, expected: str, value: str | None = None) -> None:
        self.variable = variable
        shown = "" if value is None else f" (got {value!r})"
        super().__init__(f"{variable}: expected {expected}{shown}")


@dataclass(frozen=True, slots=True)
class Settings:
    mt5_source: str = "auto"
    mt5_login: int | None = None
    mt5_password: Secret = field(default_factory=lambda: Secret(""))
    mt5_server: str | None = None
    mt5_path: str | None = None
    mt5_timeout_ms: int = 60_000
    broker_tz: str = "auto"  # auto: detected; else a BrokerZone spec (ny-close, an IANA name, UTC+2)
    mt5linux_host: str = "127.0.0.1"
    mt5linux_port: int = 18812
    poll_interval_ms: int = 250
    heartbeat_s: float = 5.0
    redis_url: str | None = None
    redis_prefix: str = "mt5"
    history_max_points: int = 1_000_000
    app_host: str = "127.0.0.1"
    app_port: int = 8050
    app_debug: bool = False
    log_level: str = "INFO"
    cors_origins: tuple[str, ...] = ()
    allowed_hosts: tuple[str, ...] = ()  # Host names served besides loopback and APP_HOST (DNS rebinding)
    demo_seed: int = 7
    demo_currency: str = "USD"
    ws_queue_size: int = 256
    ws_max_connections: int = WS_MAX_CONNECTIONS
    ws_send_timeout_s: float = WS_SEND_TIMEOUT_S  # a send to a client that reads nothing gives up after this
    max_request_bytes: int = REQUEST_BYTES  # the largest request body taken (a Dash update, a rules document)
    app_auth: str = "none"
    app_users: tuple[tuple[str, Secret], ...] = ()
    rules_file: Path | None = None
    accounts_file: Path | None = None
    collectors: str = "local"  # local: start one collector per account of ACCOUNTS_FILE; none: they run elsewhere
    alert_webhook_url: Secret = field(default_factory=lambda: Secret(""))
    report_currency: str | None = None
    fx_rates: tuple[tuple[str, float], ...] = ()  # (currency, value of one unit in report_currency)
    data_dir: Path | None = None  # the archive's directory; None (settings built in code): no archive
    database_url: Secret = field(default_factory=lambda: Secret(""))  # the archive elsewhere; empty: in data_dir

    @property
    def redis_configured(self) -> bool:
        """A configured Redis is never silently replaced by the embedded one."""
        return self.redis_url is not None and self.redis_url != EMBEDDED

    @property
    def redis_embedded_forced(self) -> bool:
        return self.redis_url == EMBEDDED

    @property
    def redis_url_redacted(self) -> str:
        return redact_url(self.redis_url or "")

    @property
    def database_url_redacted(self) -> str:
        return redact_url(self.database_url.reveal())

    def secrets(self) -> tuple[Secret, ...]:
        """Every value that must never be shown: the MT5 and users' passwords, the webhook URL (it may carry a
        token), and the passwords inside DATABASE_URL and REDIS_URL."""
        database = make_url(self.database_url.reveal()).password if self.database_url else None
        redis_password = urlsplit(self.redis_url).password if self.redis_configured else None
        return (
            self.mt5_password,
            *(password for _, password in self.app_users),
            self.alert_webhook_url,
            Secret(database or ""),
            Secret(unquote(redis_password or "")),
        )

    def resolved_source(self, mt5_importable: Callable[[], bool] | None = None) -> str:
        """``auto`` means the real terminal when its package imports and a login is set, else the demo."""
        if self.mt5_source != "auto":
            return self.mt5_source
        importable = mt5_importable or (lambda: importlib.util.find_spec("MetaTrader5") is not None)
        return "mt5" if self.mt5_login is not None and importable() else "demo"

    def public(self) -> dict[str, Any]:
        """The settings as shown in logs and responses: no password, Redis URL redacted."""
        return {
            "mt5_source": self.mt5_source,
            "mt5_login": self.mt5_login,
            "mt5_password_set": bool(self.mt5_password),
            "mt5_server": self.mt5_server,
            "broker_tz": self.broker_tz,
            "poll_interval_ms": self.poll_interval_ms,
            "heartbeat_s": self.heartbeat_s,
            "redis_url": self.redis_url_redacted or None,
            "redis_prefix": self.redis_prefix,
            "database_url": self.database_url_redacted or None,
            "history_max_points": self.history_max_points,
            "app_host": self.app_host,
            "app_port": self.app_port,
            "app_auth": self.app_auth,
        }


DEFAULTS = Settings()  # what load_settings gives a variable that is not set: the defaults stated once, above


def _text(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name)
    if value is None:
        return None
    value = value.strip()
    return value or None


def _int(env: Mapping[str, str], name: str, default: T, low: int, high: int) -> int | T:
    raw = _text(env, name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(name, f"an integer from {low} to {high}", raw) from None
    if not low <= value <= high:
        raise SettingsError(name, f"an integer from {low} to {high}", raw)
    return value


def _float(env: Mapping[str, str], name: str, default: float, low: float, high: float) -> float:
    raw = _text(env, name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(name, f"a number from {low:g} to {high:g}", raw) from None
    if not low <= value <= high:
        raise SettingsError(name, f"a number from {low:g} to {high:g}", raw)
    return value


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = _text(env, name)
    if raw is None:
        return default
    lowered = raw.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise SettingsError(name, "true or false", raw)


def _choice(env: Mapping[str, str], name: str, default: str, choices: tuple[str, ...], upper: bool = False) -> str:
    raw = _text(env, name)
    if raw is None:
        return default
    value = raw.upper() if upper else raw.lower()
    if value not in choices:
        raise SettingsError(name, "one of " + "|".join(choices), raw)
    return value


def _broker_tz(env: Mapping[str, str]) -> str:
    raw = _text(env, "BROKER_TZ")
    if raw is None or raw.lower() == "auto":
        return "auto"
    try:
        return parse_zone(raw).spec
    except BrokerTimeError:
        raise SettingsError(
            "BROKER_TZ", "auto, ny-close (New York + 7 h), an IANA zone such as Europe/Athens, or UTC+2", raw
        ) from None


REDIS_URL_FORMAT = "redis://[:password@]host:port/db, rediss://…, unix://… or embedded"
REDIS_DB_PATH = re.compile(r"^(/\d*)?/?$")  # redis-py reads any other path as database 0, silently
MAX_REDIS_DB = 1_000_000


def _redis_url(env: Mapping[str, str]) -> str | None:
    """``REDIS_URL`` wins; else the seed's REDIS_HOST/PORT/DB/PASSWORD build one; else None (embedded)."""
    raw = _text(env, "REDIS_URL")
    if raw is not None:
        return EMBEDDED if raw.lower() == EMBEDDED else _checked_redis_url(raw)
    host = _text(env, "REDIS_HOST")
    port = _int(env, "REDIS_PORT", None, 1, 65535)
    db = _int(env, "REDIS_DB", None, 0, MAX_REDIS_DB)
    password = _text(env, "REDIS_PASSWORD")
    if host is None and port is None and db is None and password is None:
        return None
    auth = f":{quote(password, safe='')}@" if password else ""
    return f"redis://{auth}{host or '127.0.0.1'}:{port or 6379}/{db or 0}"


def _checked_redis_url(raw: str) -> str:
    """The URL as redis-py will read it, checked now: a bad database path, port or query option would otherwise
    be database 0, or a traceback at the first connection. Errors show the URL with its password masked."""
    try:
        parts = urlsplit(raw)
        port = parts.port
    except ValueError:
        raise SettingsError("REDIS_URL", REDIS_URL_FORMAT) from None
    shown = redact_url(raw)
    where = parts.path if parts.scheme == "unix" else parts.hostname
    if parts.scheme not in REDIS_SCHEMES or not where or any(ch.isspace() for ch in where):
        raise SettingsError("REDIS_URL", REDIS_URL_FORMAT, shown)
    if port == 0:
        raise SettingsError("REDIS_URL", "a port from 1 to 65535", shown)
    if parts.scheme != "unix" and not REDIS_DB_PATH.match(parts.path):
        raise SettingsError("REDIS_URL", "a database number after host:port, such as redis://host:6379/0", shown)
    url = parts.scheme + raw[len(parts.scheme) :]  # redis-py reads only a lower-case scheme
    password = Secret(unquote(parts.password or ""))
    try:
        options = parse_url(url)
        connection_class = options.pop("connection_class", Connection)
        options.pop("max_connections", None)  # the pool's, not the connection's
        connection_class(**options)  # what the first connection will build; no I/O yet
    except (TypeError, ValueError, RedisError) as exc:
        problem = scrub(str(exc), password)[:120]
        raise SettingsError("REDIS_URL", f"options redis-py takes ({problem})", shown) from None
    if not 0 <= options.get("db", 0) <= MAX_REDIS_DB:
        raise SettingsError("REDIS_URL", f"a database from 0 to {MAX_REDIS_DB}", shown)
    return url


RULE_FILE_SUFFIXES = (".yaml", ".yml", ".json")
AUTH_MODES = ("none", "basic")
USER_NAME = re.compile(r"^[A-Za-z0-9._@-]{1,64}$")


def _users(env: Mapping[str, str], auth: str) -> tuple[tuple[str, Secret], ...]:
    """``APP_USERS=alice:pw1,bob:pw2``; errors never echo a password."""
    raw = _text(env, "APP_USERS")
    if raw is None:
        if auth == "basic":
            raise SettingsError("APP_USERS", "at least one user:password when APP_AUTH=basic")
        return ()
    users: dict[str, Secret] = {}
    for entry in raw.split(","):
        name, sep, password = entry.strip().partition(":")
        if not sep or not USER_NAME.match(name) or not password:
            raise SettingsError("APP_USERS", "comma-separated user:password pairs (user: letters, digits, ._@-)")
        if name in users:  # which password holds would be a guess
            raise SettingsError("APP_USERS", "each user name once", name)
        users[name] = Secret(password)
    return tuple(users.items())


def _data_file(env: Mapping[str, str], variable: str) -> Path | None:
    raw = _text(env, variable)
    if raw is None:
        return None
    path = Path(raw).expanduser()
    if path.suffix.lower() not in RULE_FILE_SUFFIXES:
        raise SettingsError(variable, "a .yaml, .yml or .json file", raw)
    if not path.is_file():
        raise SettingsError(variable, "an existing, readable file", raw)
    return path


APP_DIR = Path(__file__).resolve().parents[2]  # where app.py is
DEFAULT_DATA_DIR = APP_DIR / "data"


def _writable_place(path: Path) -> bool:
    """An existing writable directory, or a path that can be made in the nearest existing writable one."""
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    return existing.is_dir() and os.access(existing, os.W_OK | os.X_OK)


def _data_dir(env: Mapping[str, str]) -> Path:
    """Checked now, created at the archive's first start."""
    raw = _text(env, "DATA_DIR")
    path = DEFAULT_DATA_DIR if raw is None else Path(raw).expanduser().resolve()
    if not _writable_place(path):
        raise SettingsError("DATA_DIR", "a directory this process can create and write in", str(path))
    return path


DATABASE_URL_FORMAT = "postgresql://user:password@host:port/database, postgresql+psycopg://… or sqlite:///path"
POSTGRES_SCHEMES = ("postgresql", "postgres", "postgresql+psycopg")  # the driver is always psycopg 3


def _database_url(env: Mapping[str, str]) -> Secret:
    """The archive on a PostgreSQL server (several dashboard hosts share it) or in a chosen SQLite file.

    Normalised for SQLAlchemy: PostgreSQL through psycopg 3, SQLite as an absolute path. Kept secret (the
    URL holds the password), so an error shows only the scheme.
    """
    raw = _text(env, "DATABASE_URL")
    if raw is None:
        return Secret("")
    try:
        url = make_url(raw)
    except (ArgumentError, ValueError):
        hidden = f"{DATABASE_URL_FORMAT} (value not shown: it may hold a password)"
        raise SettingsError("DATABASE_URL", hidden) from None
    if url.drivername in POSTGRES_SCHEMES:
        if not (url.host or url.query.get("host")) or not 1 <= (5432 if url.port is None else url.port) <= 65535:
            raise SettingsError("DATABASE_URL", f"{DATABASE_URL_FORMAT}, with a host and a port from 1 to 65535")
        url = url.set(drivername="postgresql+psycopg")
    elif url.drivername == "sqlite" and url.database not in (None, "", ":memory:"):
        path = Path(url.database).expanduser().resolve()
        if path.is_dir() or not _writable_place(path.parent):
            raise SettingsError("DATABASE_URL", "a SQLite file this process can create and write", str(path))
        url = URL.create("sqlite", database=str(path))
    else:
        raise SettingsError("DATABASE_URL", DATABASE_URL_FORMAT, f"{url.drivername}://…")
    return Secret(url.render_as_string(hide_password=False))


def _webhook_url(env: Mapping[str, str]) -> Secret:
    """Webhook URLs often carry a token: the value is kept secret and never echoed in an error."""
    raw = _text(env, "ALERT_WEBHOOK_URL")
    if raw is None:
        return Secret("")
    try:
        parts = urlsplit(raw)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:  # an unclosed IPv6 bracket, a port that is no number
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise SettingsError("ALERT_WEBHOOK_URL", "an http:// or https:// URL (value not shown: it may hold a token)")
    return Secret(raw)


CURRENCY = re.compile(r"^[A-Z][A-Z0-9]{2,5}$")
FX_RATES_FORMAT = "comma-separated CODE=rate pairs, the value of one unit in REPORT_CURRENCY (e.g. EUR=1.08,GBP=1.27)"


def _currency(env: Mapping[str, str]) -> str | None:
    raw = _text(env, "REPORT_CURRENCY")
    if raw is not None and not CURRENCY.match(raw.upper()):
        raise SettingsError("REPORT_CURRENCY", "a currency code such as USD", raw)
    return None if raw is None else raw.upper()


def _fx_rates(env: Mapping[str, str], report_currency: str | None) -> tuple[tuple[str, float], ...]:
    """Rates the user chose: accounts in other currencies are only ever added up through these."""
    raw = _text(env, "FX_RATES")
    if raw is None:
        return ()
    if report_currency is None:
        raise SettingsError("FX_RATES", "REPORT_CURRENCY to be set as well (the currency the rates convert into)")
    rates: dict[str, float] = {}
    for entry in raw.split(","):
        code, sep, value = entry.strip().partition("=")
        code = code.strip().upper()
        try:
            rate = float(value)
        except ValueError:
            rate = math.nan
        if not sep or not CURRENCY.match(code) or not math.isfinite(rate) or rate <= 0 or code in rates:
            raise SettingsError("FX_RATES", FX_RATES_FORMAT, entry.strip()[:40])
        rates[code] = rate
    return tuple(sorted(rates.items()))


def ws_max_connections(env: Mapping[str, str]) -> int:
    """Also read by gunicorn.conf.py, which sizes the worker threads from it."""
    return _int(env, "WS_MAX_CONNECTIONS", WS_MAX_CONNECTIONS, 1, 10_000)


def load_dotenv_file(path: Path) -> dict[str, str]:
    """Values from ``.env``; the real environment overrides them."""
    if not path.is_file():
        return {}
    from dotenv import dotenv_values

    return {key: value for key, value in dotenv_values(path).items() if value is not None}


def load_settings(env: Mapping[str, str] | None = None, dotenv_path: Path | None = Path(".env")) -> Settings:
    """Build and validate the settings; raises SettingsError naming the first bad variable."""
    merged: dict[str, str] = dict(load_dotenv_file(dotenv_path)) if dotenv_path else {}
    merged.update(os.environ if env is None else env)
    env = merged
    host = _text(env, "APP_HOST") or _text(env, "API_HOST") or DEFAULTS.app_host  # API_*: the seed's names
    if any(ch.isspace() for ch in host):
        raise SettingsError("APP_HOST", "a host name or IP address", host)
    origins = tuple(o.strip().rstrip("/") for o in (_text(env, "CORS_ORIGINS") or "").split(",") if o.strip())
    for origin in origins:
        if urlsplit(origin).scheme not in ("http", "https") or not urlsplit(origin).netloc:
            raise SettingsError("CORS_ORIGINS", "comma-separated origins such as http://localhost:3000", origin)
    allowed_hosts = tuple(h.strip().lower() for h in (_text(env, "ALLOWED_HOSTS") or "").split(",") if h.strip())
    for name in allowed_hosts:
        if any(ch.isspace() or ch in "/:@" for ch in name.strip("[]")) and not name.startswith("["):
            raise SettingsError("ALLOWED_HOSTS", "comma-separated host names such as dashboard.lan", name)
    prefix = _text(env, "REDIS_PREFIX") or DEFAULTS.redis_prefix
    if any(ch.isspace() or ch == ":" for ch in prefix):
        raise SettingsError("REDIS_PREFIX", "a word without spaces or ':'", prefix)
    return Settings(
        mt5_source=_choice(env, "MT5_SOURCE", DEFAULTS.mt5_source, SOURCES),
        mt5_login=_int(env, "MT5_LOGIN", None, 1, MAX_LOGIN),
        mt5_password=Secret(env.get("MT5_PASSWORD", "") or ""),
        mt5_server=_text(env, "MT5_SERVER"),
        mt5_path=_text(env, "MT5_PATH"),
        mt5_timeout_ms=_int(env, "MT5_TIMEOUT_MS", DEFAULTS.mt5_timeout_ms, 100, 600_000),
        broker_tz=_broker_tz(env),
        mt5linux_host=_text(env, "MT5LINUX_HOST") or DEFAULTS.mt5linux_host,
        mt5linux_port=_int(env, "MT5LINUX_PORT", DEFAULTS.mt5linux_port, 1, 65535),
        poll_interval_ms=_int(env, "POLL_INTERVAL_MS", DEFAULTS.poll_interval_ms, *POLL_INTERVAL_MS_RANGE),
        heartbeat_s=_float(env, "HEARTBEAT_S", DEFAULTS.heartbeat_s, 0.1, 3600.0),
        redis_url=_redis_url(env),
        redis_prefix=prefix,
        history_max_points=_int(env, "HISTORY_MAX_POINTS", DEFAULTS.history_max_points, 100, 100_000_000),
        app_host=host,
        app_port=_int(env, "APP_PORT", _int(env, "API_PORT", DEFAULTS.app_port, 1, 65535), 1, 65535),
        app_debug=_bool(env, "APP_DEBUG", DEFAULTS.app_debug),
        log_level=_choice(env, "LOG_LEVEL", DEFAULTS.log_level, LOG_LEVELS, upper=True),
        cors_origins=origins,
        allowed_hosts=allowed_hosts,
        demo_seed=_int(env, "DEMO_SEED", DEFAULTS.demo_seed, 0, 2**32 - 1),
        demo_currency=_choice(env, "DEMO_CURRENCY", DEFAULTS.demo_currency, DEMO_CURRENCIES, upper=True),
        ws_queue_size=_int(env, "WS_QUEUE_SIZE", DEFAULTS.ws_queue_size, 8, 100_000),
        ws_max_connections=ws_max_connections(env),
        ws_send_timeout_s=_float(env, "WS_SEND_TIMEOUT_S", WS_SEND_TIMEOUT_S, 0.1, 600.0),
        max_request_bytes=_int(env, "MAX_REQUEST_BYTES", REQUEST_BYTES, *REQUEST_BYTES_RANGE),
        app_auth=(auth := _choice(env, "APP_AUTH", DEFAULTS.app_auth, AUTH_MODES)),
        app_users=_users(env, auth),
        rules_file=_data_file(env, "RULES_FILE"),
        accounts_file=_data_file(env, "ACCOUNTS_FILE"),
        collectors=_choice(env, "COLLECTORS", DEFAULTS.collectors, COLLECTOR_MODES),
        alert_webhook_url=_webhook_url(env),
        report_currency=(currency := _currency(env)),
        fx_rates=_fx_rates(env, currency),
        data_dir=_data_dir(env),
        database_url=_database_url(env),
    )
