"""The archive's tables in SQLAlchemy Core: what the migrations build and every query names.

Kept in step with ``migrations/versions`` (a test compares the migrated database with this metadata).
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Float, Index, Integer, MetaData, String, Table, Text

metadata = MetaData()

history = Table(
    "history",
    metadata,
    Column("login", BigInteger, primary_key=True, autoincrement=False),
    Column("ts", BigInteger, primary_key=True, autoincrement=False),  # UTC ms, as the Redis stream id
    Column("balance", Float, nullable=False),
    Column("equity", Float, nullable=False),
    Column("margin", Float, nullable=False),
    Column("margin_level", Float, nullable=False),
    Column("profit", Float, nullable=False),
)

deals = Table(
    "deals",
    metadata,
    Column("login", BigInteger, primary_key=True, autoincrement=False),
    Column("ticket", BigInteger, primary_key=True, autoincrement=False),
    Column("time_utc_ms", BigInteger, nullable=False),
    Column("time_msc", BigInteger, nullable=False),  # the broker's clock: the UTC time can be derived again
    Column("data", Text, nullable=False),  # Deal.to_dict() as JSON
    Index("ix_deals_login_time", "login", "time_utc_ms"),
)

states = Table(
    "states",
    metadata,
    Column("login", BigInteger, primary_key=True, autoincrement=False),
    Column("ts", BigInteger, primary_key=True, autoincrement=False),
    Column("positions", Text, nullable=False),  # JSON list of Position.to_dict()
    Column("orders", Text, nullable=False),  # JSON list of Order.to_dict()
)

accounts = Table(
    "accounts",
    metadata,
    Column("login", BigInteger, primary_key=True, autoincrement=False),
    Column("updated_ms", BigInteger, nullable=False),
    Column("currency", String(16), nullable=False),
    Column("data", Text, nullable=False),  # the latest Account.to_dict() as JSON
)

rollups = Table(
    "rollups",
    metadata,
    Column("login", BigInteger, primary_key=True, autoincrement=False),
    Column("span_ms", BigInteger, primary_key=True, autoincrement=False),  # ROLLUP_SPANS_MS
    Column("start", BigInteger, primary_key=True, autoincrement=False),
    Column("low_ts", BigInteger, nullable=False),  # the span's lowest equity and when
    Column("low", Float, nullable=False),
    Column("high_ts", BigInteger, nullable=False),  # the span's highest equity and when
    Column("high", Float, nullable=False),
    Column("last_ts", BigInteger, nullable=False),  # the span's last point: its other values
    Column("balance", Float, nullable=False),
    Column("margin", Float, nullable=False),
    Column("margin_level", Float, nullable=False),
    Column("profit", Float, nullable=False),
)

alert_rules = Table(
    "alert_rules",
    metadata,
    Column("login", BigInteger, primary_key=True, autoincrement=False),
    Column("saved_ms", BigInteger, primary_key=True, autoincrement=False),  # every save is kept: the newest wins
    Column("origin", String(16), nullable=False),  # page | api | reset
    Column("ruleset", Text, nullable=True),  # RuleSet.to_dict() as JSON; NULL: a reset to the file's rules
)

alert_states = Table(
    "alert_states",
    metadata,
    Column("login", BigInteger, primary_key=True, autoincrement=False),
    Column("rule_id", String(40), primary_key=True, autoincrement=False),
    Column("data", Text, nullable=False),  # RuleState as JSON
)

alerts = Table(
    "alerts",
    metadata,
    Column("login", BigInteger, primary_key=True, autoincrement=False),
    Column("id", String(64), primary_key=True, autoincrement=False),  # "<ts>-<rule id>"
    Column("ts", BigInteger, nullable=False),
    Column("seq", Integer, nullable=False),  # its place among the alerts of the same poll
    Column("rule", String(40), nullable=False),
    Column("state", String(16), nullable=False),
    Column("data", Text, nullable=False),  # the alert as published, JSON
    Column("acked_ms", BigInteger, nullable=True),  # NULL until acknowledged
    Index("ix_alerts_login_ts", "login", "ts"),
)

webhook_outbox = Table(
    "webhook_outbox",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),  # the order alerts are sent in
    Column("login", BigInteger, nullable=False),
    Column("alert_id", String(64), nullable=False),  # the alert's id: with the login, the receivers' dedupe key
    Column("queued_ms", BigInteger, nullable=False),  # UTC ms it was recorded, before any attempt
    Column("payload", Text, nullable=False),  # the JSON POSTed, the alert event as /ws carries it
    Column("attempts", Integer, nullable=False),
    Column("last_error", String(300), nullable=True),
    Column("delivered_ms", BigInteger, nullable=True),  # NULL until the endpoint answered 2xx
    Index("ux_webhook_outbox_alert", "login", "alert_id", unique=True),
    Index("ix_webhook_outbox_pending", "login", "delivered_ms", "seq"),
)
