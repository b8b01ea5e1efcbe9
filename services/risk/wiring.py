"""Risk alerts wired into the runtime: the engine listens to the streamer, the webhook has its own thread.

``attach_risk(runtime)`` builds everything and starts nothing; ``RiskEngine.start()/stop()`` run the
engine's ``alerts-redis`` worker and the webhook worker (``services/risk/webhook.py``). The webhook's HTTP
calls live on that worker: the streamer only hands each alert to the archive writer's buffers, and a
slow or dead endpoint can neither block polling nor lose an alert.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from services.core.worker import Worker
from services.risk.engine import AlertEngine
from services.risk.rules import DEFAULT_RULES, RulesSettings, load_rules_file
from services.risk.webhook import WebhookSender
from services.runtime import Runtime

log = logging.getLogger(__name__)


@dataclass
class RiskEngine:
    """The alert engine plus the webhook worker it feeds; ``start``/``stop`` follow the runtime's."""

    alerts: AlertEngine
    settings: RulesSettings
    webhook: WebhookSender | None = None

    def start(self) -> None:
        self.alerts.start()
        if self.webhook is not None:
            self.webhook.start()

    def stop(self) -> None:
        self.alerts.stop()
        if self.webhook is not None:
            self.webhook.stop()

    def workers(self) -> list[Worker]:
        return [self.alerts.worker, *([self.webhook.worker] if self.webhook is not None else [])]


def attach_risk(runtime: Runtime, settings: RulesSettings | None = None) -> RiskEngine:
    """Build the engine from ``RULES_FILE`` (or the margin defaults) and listen to the streamer.

    The engine records into the runtime's archive when this process keeps one; ``/health`` gets its section.

    Raises SettingsError (RuleError for the file's content) naming the variable, file, line and field.
    """
    settings = settings or RulesSettings.of(runtime.settings)
    rules = load_rules_file(settings.rules_file) if settings.rules_file else DEFAULT_RULES
    webhook = None
    if settings.webhook_url and runtime.archive is None:
        log.warning("ALERT_WEBHOOK_URL not used here: this process keeps no archive (the collectors send alerts)")
    elif settings.webhook_url:
        webhook = WebhookSender(settings.webhook_url, runtime.archive, runtime.streamer.owned_login)
    notify: Callable[[dict[str, Any]], None] | None = webhook.put if webhook else None
    engine = AlertEngine(runtime.store, rules, archive=runtime.archive, notify=notify)
    runtime.streamer.add_listener(engine.evaluate)
    runtime.add_health("alerts", engine.health)
    if webhook is not None:
        runtime.add_health("webhook", webhook.health)
    log.info(
        "Risk rules: %s (%d rules); alert webhook: %s",
        settings.rules_file or "built-in margin rules",
        len(rules.rules),
        webhook.host if webhook else "off",
    )
    return RiskEngine(engine, settings, webhook)
