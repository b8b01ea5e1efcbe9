"""Capped exponential backoff with jitter, as a small strategy object (after redis-py's ``Backoff``)."""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Backoff:
    """Delay before attempt number ``failures + 1``; jitter spreads reconnect storms."""

    base_s: float = 1.0
    cap_s: float = 30.0
    jitter: float = 0.2
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)

    def compute(self, failures: int) -> float:
        if failures <= 0:
            return 0.0
        delay = min(self.cap_s, self.base_s * 2 ** min(failures - 1, 30))
        spread = delay * self.jitter
        return max(0.0, min(self.cap_s, delay + self.rng.uniform(-spread, spread)))
