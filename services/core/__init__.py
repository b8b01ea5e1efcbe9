"""What every subsystem shares: settings, secrets, time units, the broker's clock, MT5 records, the worker."""

VERSION = "0.1.0"  # the release, as pyproject.toml names it: /health and the webhook's User-Agent report it
