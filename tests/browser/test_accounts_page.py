"""A page per account: /a/<login> shows that account's data from Redis, the switcher lists every account."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from layouts import ids
from services.core.formatting import money
from services.core.settings import load_settings
from services.ingest.sources.mirror import MirrorSource
from services.runtime import build_runtime
from tests.helpers import wait_until

pytestmark = pytest.mark.browser


@pytest.fixture
def collectors(redis_server: Any) -> Iterator[dict[int, Any]]:
    """Two accounts polled in this process the way collector processes do, into one real Redis."""
    runtimes = {}
    for login, seed in ((7101, 1), (7102, 2)):
        env = {"REDIS_URL": redis_server.url, "MT5_SOURCE": "demo", "MT5_LOGIN": str(login), "DEMO_SEED": str(seed),
               "POLL_INTERVAL_MS": "200"}  # fmt: skip
        runtimes[login] = build_runtime(load_settings(env, dotenv_path=None))
        runtimes[login].start(with_fanout=False)
    yield runtimes
    for runtime in runtimes.values():
        runtime.stop()


def test_each_account_page_shows_only_its_own_data(
    dash_duo: Any, make_app: Any, redis_server: Any, collectors: dict[int, Any]
) -> None:
    app = make_app({"REDIS_URL": redis_server.url, "MT5_LOGIN": "7101"}, source=MirrorSource("first", 7101, "demo"))
    dash_duo.start_server(app)
    dash_duo.wait_for_contains_text(f"#{ids.ACCOUNT_TITLE}", "#7101", timeout=15)
    dash_duo.driver.get(dash_duo.server_url + "/a/7102")
    dash_duo.wait_for_contains_text(f"#{ids.ACCOUNT_TITLE}", "#7102", timeout=15)
    dash_duo.wait_for_contains_text(f"#{ids.link_badge('live')}", "connected", timeout=10)
    collectors[7102].streamer.stop()  # freeze the account so the page can be compared with what Redis holds
    stored = json.loads(redis_server.client().get("mt5:7102:snapshot"))["account"]
    other = json.loads(redis_server.client().get("mt5:7101:snapshot"))["account"]
    expected = money(stored["equity"], stored["currency"], stored["currency_digits"])
    wait_until(lambda: dash_duo.find_element(f"#{ids.kpi_value('equity')}").text == expected, 10, "7102's equity")
    assert stored["equity"] != other["equity"]
    wait_until(lambda: "#7102" in dash_duo.find_element(f"#{ids.ACCOUNT_SWITCH}").text, 5, "the switcher's value")
    assert dash_duo.get_logs() == []
