"""Time units, stated once: MT5, Redis, the archive and the page all count time in epoch milliseconds."""

from __future__ import annotations

from datetime import datetime

EPOCH = datetime(1970, 1, 1)  # naive: epoch ms are turned into wall clocks (UTC, the broker's, the browser's) from it

SECOND_MS = 1000
MINUTE_MS = 60 * SECOND_MS
HOUR_MS = 60 * MINUTE_MS
DAY_MS = 24 * HOUR_MS
MINUTE_S = 60
HOUR_S = 60 * MINUTE_S
DAY_S = 24 * HOUR_S
