"""Charts as files: self-contained HTML, PNG and SVG through kaleido, and the offline HTML report.

Images are drawn by kaleido 1.x, which drives an installed Chrome or Chromium (never one it
downloads): ``BROWSER_PATH`` when set, else the system Chromium, else whatever kaleido finds.
Each image gets its own browser in its own thread and event loop; the drawing is cancelled after
``RENDER_TIMEOUT_S`` and the request waits at most that plus ``GRACE_S``, so a browser that hangs
costs one request a bounded wait, never a worker forever. MathJax is off: kaleido would fetch it
from the internet, and no chart here has LaTeX.
"""

from __future__ import annotations

import asyncio
import html
import itertools
import logging
import os
import threading
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import plotly.graph_objects as go
from plotly.offline import get_plotlyjs

FORMATS = ("png", "svg", "html")
MEDIA_TYPES = {"png": "image/png", "svg": "image/svg+xml", "html": "text/html; charset=utf-8"}
SYSTEM_CHROMIUM = "/usr/bin/chromium"
RENDER_TIMEOUT_S = 30.0
GRACE_S = 5.0  # on top of the render timeout, for the browser to start and close
BROWSER_ATTEMPTS = 2  # a browser lost while it starts is started once more
MAX_RENDERS = 2  # browsers at once: each is a Chromium process, on a small machine
IMAGE_WIDTH, DEFAULT_HEIGHT, PNG_SCALE = 1100, 400, 2
HTML_CONFIG = {"displaylogo": False, "responsive": True}
QUIET_LOGGERS = ("kaleido", "choreographer")
INSTALL_KALEIDO = "pip install 'kaleido>=1.3,<2' (it is in requirements.txt)"
INSTALL_BROWSER = "install Chromium (apt-get install chromium) or Google Chrome, or set BROWSER_PATH to one"

log = logging.getLogger(__name__)
_slots = threading.BoundedSemaphore(MAX_RENDERS)


class ImageExportError(RuntimeError):
    """PNG/SVG export failed; the message says why and what to do."""


class ImageExportUnavailable(ImageExportError):
    """kaleido or a browser is missing: nothing is wrong with the request."""


class ImageExportTimeout(ImageExportError):
    """The browser took longer than the timeout, or every slot stayed busy that long."""


class ImageExportFailed(ImageExportError):
    """The browser started but crashed or could not draw the figure."""

    def __init__(self, message: str, browser_lost: bool = False) -> None:
        super().__init__(message)
        self.browser_lost = browser_lost  # it died or could not be reached, rather than refusing the figure


def for_export(fig: go.Figure) -> go.Figure:
    """A white background: the page's charts are transparent to sit on its cards, a file has no card."""
    return fig.update_layout(paper_bgcolor="white", plot_bgcolor="white")


def figure_html(fig: go.Figure) -> str:
    """One chart as a page with plotly.js inside, so it opens offline."""
    return fig.to_html(include_plotlyjs=True, full_html=True, config=HTML_CONFIG)


def browser_path() -> str | None:
    """``BROWSER_PATH``, else the system Chromium; None lets kaleido search (Chrome on Windows and macOS)."""
    configured = os.environ.get("BROWSER_PATH", "").strip()
    if configured:
        if not (os.path.isfile(configured) and os.access(configured, os.X_OK)):
            raise ImageExportUnavailable(
                f"PNG/SVG export: no browser at BROWSER_PATH={configured!r}; {INSTALL_BROWSER}"
            )
        return configured
    return SYSTEM_CHROMIUM if os.access(SYSTEM_CHROMIUM, os.X_OK) else None


def _kaleido() -> ModuleType:
    try:
        import kaleido
    except ImportError:
        raise ImageExportUnavailable(f"PNG/SVG export needs the Python package kaleido: {INSTALL_KALEIDO}") from None
    for name in QUIET_LOGGERS:  # about 30 INFO lines per image otherwise; a level set on purpose is kept
        if logging.getLogger(name).level == logging.NOTSET:
            logging.getLogger(name).setLevel(logging.WARNING)
    return kaleido


def render_image(fig: go.Figure, fmt: str, timeout_s: float | None = None) -> bytes:
    """PNG or SVG bytes of ``fig``; raises an ``ImageExportError`` subclass that says what went wrong.

    A browser that dies or cannot be reached while it starts (a busy machine) is started once more; a
    figure the browser cannot draw, or a timeout, is not tried again.
    """
    timeout_s = RENDER_TIMEOUT_S if timeout_s is None else timeout_s
    for attempt in range(1, BROWSER_ATTEMPTS + 1):
        try:
            return _render_once(fig, fmt, timeout_s)
        except ImageExportFailed as exc:
            if not exc.browser_lost or attempt == BROWSER_ATTEMPTS:
                raise
            log.warning("%s; starting the browser again", exc)
    raise AssertionError("unreachable: the last attempt returns or raises")


def _render_once(fig: go.Figure, fmt: str, timeout_s: float) -> bytes:
    kaleido = _kaleido()
    from choreographer.errors import BrowserDepsError, ChannelClosedError, DevtoolsProtocolError
    from kaleido.errors import (
        BrowserClosedError,
        BrowserFailedError,
        ChromeNotFoundError,
        JavascriptError,
        KaleidoError,
    )

    path = browser_path()
    kopts: dict[str, Any] = {"mathjax": False, **({"path": path} if path else {})}
    opts = {
        "format": fmt,
        "width": IMAGE_WIDTH,
        "height": fig.layout.height or DEFAULT_HEIGHT,
        "scale": PNG_SCALE if fmt == "png" else 1,
    }
    if not _slots.acquire(timeout=timeout_s):
        raise ImageExportTimeout(f"PNG/SVG export: {MAX_RENDERS} images are being drawn already; retry shortly")
    done: Future[bytes] = Future()
    worker = threading.Thread(
        target=_render, args=(kaleido, fig.to_dict(), opts, kopts, timeout_s, done), name="chart-export", daemon=True
    )
    worker.start()
    try:
        return done.result(timeout_s + GRACE_S)
    except TimeoutError:
        raise ImageExportTimeout(f"PNG/SVG export: the browser did not finish within {timeout_s:g} s") from None
    except ChromeNotFoundError:
        raise ImageExportUnavailable(f"PNG/SVG export found no Chrome or Chromium: {INSTALL_BROWSER}") from None
    except BrowserDepsError:
        raise ImageExportUnavailable(f"PNG/SVG export: the browser lacks system libraries; {INSTALL_BROWSER}") from None
    except (BrowserFailedError, BrowserClosedError, ChannelClosedError) as exc:
        message = f"PNG/SVG export: the browser failed ({type(exc).__name__}: {exc})"
        raise ImageExportFailed(message, browser_lost=True) from None
    except (DevtoolsProtocolError, JavascriptError, KaleidoError) as exc:
        raise ImageExportFailed(f"PNG/SVG export: the browser failed ({type(exc).__name__}: {exc})") from None


def _render(
    kaleido: ModuleType,
    figure: dict[str, Any],
    opts: dict[str, Any],
    kopts: dict[str, Any],
    timeout_s: float,
    done: Future[bytes],
) -> None:
    """In a thread of its own, with a fresh event loop; the request waits on ``done``."""
    try:
        done.set_result(asyncio.run(_draw(kaleido, figure, opts, kopts, timeout_s)))
    except BaseException as exc:  # noqa: BLE001 - handed to the waiting request, which maps or re-raises it
        done.set_exception(exc)
    finally:
        _slots.release()


async def _draw(
    kaleido: ModuleType, figure: dict[str, Any], opts: dict[str, Any], kopts: dict[str, Any], timeout_s: float
) -> bytes:
    """Only the drawing is cancelled on a timeout: a browser cancelled while it starts is never closed."""
    async with kaleido.Kaleido(n=1, timeout=timeout_s, **kopts) as browser:
        return await asyncio.wait_for(browser.calc_fig(figure, opts), timeout_s)


@dataclass(frozen=True, slots=True)
class ReportPage:
    """Everything the report shows, already as text: this module only lays it out.

    ``trades`` is read once, while the page is written: each row is made as it goes out, so a history of a
    hundred thousand trades never sits in memory as text, only the chunk being sent.
    """

    title: str
    subtitle: str
    summary: Sequence[tuple[str, str]]
    check: str
    check_ok: bool
    notice: str | None
    statistics: Sequence[tuple[str, str]]
    figures: Sequence[go.Figure]
    drawdown_header: Sequence[str]
    drawdowns: Sequence[Sequence[str]]
    trade_header: Sequence[str] = ()
    trades: Iterable[Sequence[str]] = ()
    trade_totals: Sequence[str] = ()
    trade_note: str | None = None


REPORT_STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px auto;max-width:1180px;color:#1f2937}
h1{font-size:22px;margin-bottom:4px}h2{font-size:17px;margin-top:28px;border-bottom:1px solid #e5e7eb}
.sub{color:#6b7280;margin-top:0}table{border-collapse:collapse;font-variant-numeric:tabular-nums}
td,th{padding:3px 14px 3px 0;text-align:left;vertical-align:top}th{color:#6b7280;font-weight:500}
.stats{display:grid;grid-template-columns:repeat(auto-fill,minmax(260px,1fr));gap:2px 24px}
.stats div{display:flex;justify-content:space-between;border-bottom:1px dotted #e5e7eb;padding:3px 0}
.warn{background:#fef3c7;border:1px solid #f59e0b;padding:8px;border-radius:4px}.ok{color:#15803d}
.notice{color:#6b7280;font-style:italic}.chart{margin:12px 0}
.trades{font-size:12px;width:100%}.trades td,.trades th{padding:2px 8px;white-space:nowrap}
.trades tbody tr:nth-child(even){background:#f9fafb}.trades thead th{position:sticky;top:0;background:#fff}
.trades td:nth-child(n+6),.trades th:nth-child(n+6){text-align:right}
.trades tfoot td{font-weight:600;border-top:2px solid #e5e7eb}
"""
TRADE_ROWS_PER_CHUNK = 1000  # rows written per piece of the report: a few hundred KB at most


def _cells(tag: str, values: Sequence[str]) -> str:
    return "".join(f"<{tag}>{html.escape(value)}</{tag}>" for value in values)


def _trade_chunks(page: ReportPage) -> Iterator[str]:
    """The trades as a compact table (a row's closing tags are optional in HTML), a chunk of rows at a time."""
    esc = html.escape
    yield f'<h2>Trades</h2><table class="trades"><thead><tr>{_cells("th", page.trade_header)}</tr></thead><tbody>'
    rows = iter(page.trades)
    while chunk := ["<tr><td>" + "<td>".join(map(esc, row)) for row in itertools.islice(rows, TRADE_ROWS_PER_CHUNK)]:
        yield "\n".join(chunk) + "\n"
    totals = f"<tfoot><tr>{_cells('td', page.trade_totals)}</tr></tfoot>" if page.trade_totals else ""
    note = f'<p class="notice">{esc(page.trade_note)}</p>' if page.trade_note else ""
    yield f"</tbody>{totals}</table>{note}"


def report_chunks(page: ReportPage) -> Iterator[str]:
    """One self-contained page, in pieces to send as they are made: plotly.js is inlined once in the head,
    each chart is a div that uses it, and the trade list comes last, a chunk of rows at a time."""
    esc = html.escape
    summary = "".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in page.summary)
    stats = "".join(f"<div><span>{esc(k)}</span><strong>{esc(v)}</strong></div>" for k, v in page.statistics)
    notice = f'<p class="notice">{esc(page.notice)}</p>' if page.notice else ""
    drawdowns = (
        f"<table><thead><tr>{_cells('th', page.drawdown_header)}</tr></thead><tbody>"
        + "".join(f"<tr>{_cells('td', row)}</tr>" for row in page.drawdowns)
        + "</tbody></table>"
        if page.drawdowns
        else '<p class="notice">No drawdown on the equity history in this range.</p>'
    )
    yield (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(page.title)}</title><style>{REPORT_STYLE}</style>"
        f'<script type="text/javascript">{get_plotlyjs()}</script></head><body>'
        f'<h1>{esc(page.title)}</h1><p class="sub">{esc(page.subtitle)}</p>'
        f"<h2>Account</h2><table>{summary}</table>"
        f'<h2>Balance check</h2><p class="{"ok" if page.check_ok else "warn"}">{esc(page.check)}</p>'
        f'<h2>Statistics</h2>{notice}<div class="stats">{stats}</div><h2>Charts</h2>'
    )
    for fig in page.figures:
        yield f'<div class="chart">{fig.to_html(full_html=False, include_plotlyjs=False, config=HTML_CONFIG)}</div>'
    yield f"<h2>Deepest drawdowns</h2>{drawdowns}"
    if page.trade_header:
        yield from _trade_chunks(page)
    yield "</body></html>\n"
