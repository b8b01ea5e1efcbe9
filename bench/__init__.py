"""Benchmarks of the dashboard against its goals (issue 7): ``python -m bench`` or ``python -m bench --quick``.

Everything runs on this machine: a private ``redis-server`` on a free port, the app (and the
``dcc.Interval`` reference app) as subprocesses, WebSocket clients and headless Chromium.
"""
