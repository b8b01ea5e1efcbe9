"""The mt5linux bridge client: the MetaTrader5 calls over rpyc, with records copied in bulk.

mt5linux (0.2.4, rpyc 5.2.3) evaluates each call on the Wine side and hands back an rpyc proxy, so
every field of every record read here is one network round trip: a 3,472-deal history took 37-55 s.
``BridgeClient`` instead calls the record-returning functions through a small helper it installs
on the bridge, which turns the result into plain tuples there; rpyc sends those by value in one
message, and they arrive as named tuples with attribute access and ``_asdict()``, like the
package's own result types. ``MT5Source`` above it cannot tell it is on a bridge.
"""

from __future__ import annotations

import collections
import contextlib
import datetime
import functools
from collections.abc import Callable
from typing import Any

from services.ingest.sources.base import SourceDisconnected, SourceUnreachable

INSTALL = "pip install -r requirements-mt5linux.txt"
SERVER_COMMAND = "wine <path to the Wine python.exe> -m mt5linux --host 127.0.0.1 -p {port}"
_DATETIME = "__mt5dash_datetime__"  # tags an ISO datetime argument on its way to the bridge

# Runs in the bridge's namespace. It imports what it needs itself, so it works with any client.
_REMOTE = f'''
def _mt5dash_records(name, args, kwargs):
    """MetaTrader5.<name>(*args, **kwargs) as (type name, field names, rows of plain values), a number
    as ("", None, number), or None."""
    import datetime
    import MetaTrader5

    def plain(value):
        if type(value) is tuple and len(value) == 2 and value[0] == {_DATETIME!r}:
            return datetime.datetime.fromisoformat(value[1])
        return value

    args = tuple(plain(a) for a in args)
    kwargs = {{key: plain(value) for key, value in kwargs}}
    function = getattr(MetaTrader5, name)
    result = function(*args, **kwargs) if kwargs else function(*args)  # never **{{}}: it breaks MT5 calls
    if result is None:
        return None
    if isinstance(result, (bool, int, float)):
        return ("", None, result)
    rows = (result,) if hasattr(result, "_asdict") else tuple(result)
    if not rows:
        return ("", (), ())
    return (type(rows[0]).__name__, tuple(rows[0]._asdict()), tuple(tuple(row) for row in rows))
'''


def _wire(value: Any) -> Any:
    """A call argument rpyc sends by value: datetimes travel as ISO text (naive stays naive)."""
    if isinstance(value, datetime.datetime):
        return (_DATETIME, value.isoformat())
    return value


@functools.cache
def _record_type(name: str, fields: tuple[str, ...]) -> type[tuple[Any, ...]]:
    """A named tuple standing in for the package's result type of that name."""
    return collections.namedtuple(name if name.isidentifier() else "Record", fields)


class BridgeClient:
    """An mt5linux client made on first use and dropped at ``shutdown()``.

    The bridge may start after the app or restart under it: a refused connection is
    ``SourceUnreachable`` (the streamer retries it every few seconds), any other failure to
    connect is a link fault retried with the usual backoff, and the next call after
    ``shutdown()`` opens a fresh rpyc connection. Every other attribute is the client's own.
    """

    def __init__(self, factory: Callable[[], Any], address: str, port: int) -> None:
        self._factory = factory
        self._address = address
        self._port = port
        self._client: Any = None
        self._remote: Any = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._connected(), name)

    # The record-returning calls, in one round trip each.
    def account_info(self, *args: Any, **kwargs: Any) -> Any:
        return self._one("account_info", args, kwargs)

    def terminal_info(self, *args: Any, **kwargs: Any) -> Any:
        return self._one("terminal_info", args, kwargs)

    def symbol_info_tick(self, *args: Any, **kwargs: Any) -> Any:
        return self._one("symbol_info_tick", args, kwargs)

    def positions_get(self, *args: Any, **kwargs: Any) -> Any:
        return self._many("positions_get", args, kwargs)

    def orders_get(self, *args: Any, **kwargs: Any) -> Any:
        return self._many("orders_get", args, kwargs)

    def history_deals_get(self, *args: Any, **kwargs: Any) -> Any:
        return self._many("history_deals_get", args, kwargs)

    def history_orders_get(self, *args: Any, **kwargs: Any) -> Any:
        return self._many("history_orders_get", args, kwargs)

    # Counts: the mt5linux client would read their int arguments as datetimes.
    def history_deals_total(self, *args: Any, **kwargs: Any) -> Any:
        return self._many("history_deals_total", args, kwargs)

    def history_orders_total(self, *args: Any, **kwargs: Any) -> Any:
        return self._many("history_orders_total", args, kwargs)

    def shutdown(self) -> bool:
        client, self._client, self._remote = self._client, None, None
        if client is None:
            return True
        try:
            return bool(client.shutdown())
        finally:
            _close(client)

    # ------------------------------------------------------------ internals
    def _one(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        rows = self._many(name, args, kwargs)
        return None if rows is None else rows[0]

    def _many(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        """Records as local named tuples, a number as is; None stays None, so ``last_error()`` (the
        bridge's, still untouched) tells why."""
        self._connected()
        wire_kwargs = tuple((key, _wire(value)) for key, value in kwargs.items())
        answer = self._remote(name, tuple(_wire(a) for a in args), wire_kwargs)
        if answer is None:
            return None
        type_name, fields, rows = answer
        if fields is None:
            return rows
        if not rows:
            return ()
        make = _record_type(type_name, fields)._make  # type: ignore[attr-defined]
        return tuple(make(row) for row in rows)

    def _connected(self) -> Any:
        if self._client is None:
            try:
                client = self._factory()
                client.execute(_REMOTE)
                remote = client.eval("_mt5dash_records")
            except ConnectionRefusedError as exc:
                raise SourceUnreachable(-10003, self._hint(exc), "mt5linux connect") from None
            except Exception as exc:  # noqa: BLE001 - rpyc raises OSError, EOFError or its own errors
                raise SourceDisconnected(-10003, self._hint(exc), "mt5linux connect") from None
            self._client, self._remote = client, remote
        return self._client

    def _hint(self, exc: Exception) -> str:
        return (
            f"cannot reach the mt5linux bridge at {self._address} ({type(exc).__name__}: {exc}); start it in "
            f"the Wine Python with `{SERVER_COMMAND.format(port=self._port)}` (bind it to localhost only; "
            f"`{INSTALL}` on both sides) and check MT5LINUX_HOST / MT5LINUX_PORT."
        )


def _close(client: Any) -> None:
    """Close the client's rpyc connection now, not whenever the garbage collector gets to it;
    mt5linux 0.2.x keeps it in a private attribute and has no ``close()``."""
    connection = getattr(client, "_MetaTrader5__conn", None)
    if connection is not None:
        with contextlib.suppress(OSError, EOFError):  # a killed bridge: nothing left to close
            connection.close()
