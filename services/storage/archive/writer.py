"""The ``archive-writer`` thread: takes what the streamer records and writes it to the archive in batches.

The streamer only appends to in-memory buffers here (a lock and a few appends per poll), so a slow,
locked or full disk can never delay polling. Memory stays bounded while the archive refuses writes:
past ``max_pending`` rows a new history point or state replaces the newest one waiting (the archive
keeps the latest values at a coarser resolution) and the writer reports itself degraded. Deals, alerts
and rule saves are never dropped nor coalesced: each one is kept until it is written.

A user's action (a rule save, an acknowledgement) must be on disk when the user is told so: ``call``
runs it on this thread after what waits is written, and the caller waits for it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, TypeVar

from services.core.backoff import Backoff
from services.core.models import Account, Deal, HistoryPoint, Snapshot
from services.core.worker import Worker
from services.storage.archive.database import AlertRow, Archive, Batch, SavedRulesRow, State
from services.storage.archive.outbox import WebhookItem, WebhookMark

log = logging.getLogger(__name__)

T = TypeVar("T")


class ArchiveUnavailable(Exception):
    """The archive did not take a write the caller waits for (it refuses writes, or did not answer in time)."""


class ArchiveWriter:
    """Buffers rows from the streamer and writes them every ``interval_s`` or ``batch_rows`` rows."""

    def __init__(
        self,
        archive: Archive,
        *,
        max_pending: int = 200_000,
        batch_rows: int = 5_000,
        interval_s: float = 0.5,
        backoff: Backoff | None = None,
        on_error: Callable[[BaseException], None] | None = None,
    ) -> None:
        self.archive = archive
        self.max_pending = max_pending
        self.batch_rows = batch_rows
        self.interval_s = interval_s
        self._backoff = backoff or Backoff(base_s=1.0, cap_s=30.0)
        self._on_error = on_error or (lambda exc: log.warning("archive refuses writes: %s", self._reason(exc)))
        self._ready = threading.Lock()
        self.worker = Worker("archive-writer", self._step, interval_s=interval_s, on_stop=self._last)
        self._points: deque[tuple[int, HistoryPoint]] = deque()
        self._deals: dict[tuple[int, int], Deal] = {}
        self._states: deque[State] = deque()
        self._accounts: dict[int, tuple[int, Account]] = {}
        self._restamps: dict[int, str] = {}  # login -> the broker clock its archived deals must follow
        self._rules: dict[tuple[int, int], SavedRulesRow] = {}
        self._rule_states: dict[tuple[int, str], str] = {}
        self._alerts: dict[tuple[int, str], AlertRow] = {}
        self._acks: dict[tuple[int, str], int] = {}
        self._webhook: dict[tuple[int, str], WebhookItem] = {}
        self._webhook_marks: dict[int, WebhookMark] = {}
        self._webhook_watchers: list[Callable[[], None]] = []
        self._calls: deque[tuple[Callable[[Archive], Any], Future[Any]]] = deque()
        self._opened = False
        self._failures = 0
        self._full = False
        self.error: str | None = None
        self.last_write_ms: int | None = None
        self.size_bytes: int | None = None  # measured by this thread after its writes: /health never waits on it
        self.written = 0
        self.coalesced = 0

    # -- what the streamer calls: never blocks on the disk ------------------------------------------------
    def record(self, snapshot: Snapshot, point: HistoryPoint | None, changed: Iterable[str], deals: list[Deal]) -> None:
        """One poll's news: its history point (if the account changed), positions/orders if they did, new deals."""
        login = snapshot.account.login
        if point is not None:
            self.submit_points(login, [point])
            self.submit_account(point.ts, snapshot.account)
        if {"positions", "orders"} & set(changed):
            self.submit_state(State(login, snapshot.ts, snapshot.positions, snapshot.orders))
        if deals:
            self.submit_deals(login, deals)

    def submit_points(self, login: int, points: Iterable[HistoryPoint]) -> None:
        with self._ready:
            for point in points:
                if self._over() and self._points and self._points[-1][0] == login:
                    self._points[-1] = (login, point)
                    self._coalesced()
                else:
                    self._points.append((login, point))
            self._nudge()

    def submit_state(self, state: State) -> None:
        with self._ready:
            if self._over() and self._states and self._states[-1].login == state.login:
                self._states[-1] = state
                self._coalesced()
            else:
                self._states.append(state)
            self._nudge()

    def submit_deals(self, login: int, deals: Iterable[Deal]) -> None:
        """Always kept: a deal is recorded once and nothing else has it in full if Redis is wiped."""
        with self._ready:
            for deal in deals:
                self._deals[(login, deal.ticket)] = deal
            self._nudge()

    def restamp(self, login: int, spec: str) -> None:
        """The broker clock changed: after the deals waiting now are written, every archived deal is re-timed."""
        with self._ready:
            self._restamps[login] = spec
        self.worker.wake()

    def submit_account(self, ts_ms: int, account: Account) -> None:
        with self._ready:
            self._accounts[account.login] = (ts_ms, account)
            self._nudge()

    def submit_alerts(self, login: int, alerts: Sequence[dict[str, Any]]) -> None:
        """Always kept, like deals: the archive is where an alert outlives a Redis wipe."""
        with self._ready:
            for seq, alert in enumerate(alerts):
                self._alerts[(login, alert["id"])] = AlertRow(login, alert, seq)
            self._nudge()

    def submit_rule_states(self, login: int, states: Mapping[str, str]) -> None:
        """Rule id -> state JSON; a newer state of a rule replaces the one waiting (only the latest matters)."""
        with self._ready:
            self._rule_states.update({(login, rule_id): data for rule_id, data in states.items()})
            self._nudge()

    def submit_acks(self, login: int, acks: Mapping[str, int]) -> None:
        """Alert id -> UTC ms; the first acknowledgement of an alert is the one kept."""
        with self._ready:
            for alert_id, ms in acks.items():
                self._acks.setdefault((login, alert_id), ms)
            self._nudge()

    def submit_webhook(self, item: WebhookItem, cap: int) -> bool:
        """An alert for the webhook's outbox, kept like alerts but at most ``cap`` per account: True when the
        oldest waiting one of the account was dropped for it."""
        with self._ready:
            waiting = [key for key in self._webhook if key[0] == item.login]
            full = len(waiting) >= cap
            if full:
                del self._webhook[waiting[0]]
            self._webhook[(item.login, item.alert_id)] = item
            self._nudge()
        return full

    def submit_webhook_mark(self, mark: WebhookMark) -> None:
        with self._ready:
            earlier = self._webhook_marks.get(mark.seq)
            self._webhook_marks[mark.seq] = mark if earlier is None else earlier.then(mark)
            self._nudge()

    def watch_webhook(self, callback: Callable[[], None]) -> None:
        """``callback`` runs on this thread after each write that put alerts in the webhook's outbox."""
        self._webhook_watchers.append(callback)

    def webhook_waiting(self) -> int:
        """Alerts for the webhook not written to the archive yet."""
        with self._ready:
            return len(self._webhook)

    def submit_rules(self, row: SavedRulesRow) -> None:
        with self._ready:
            self._rules[(row.login, row.saved_ms)] = row
            self._nudge()

    def call(self, fn: Callable[[Archive], T], timeout_s: float = 5.0) -> T:
        """Run ``fn(archive)`` on the writer thread once what waits is written; returns its result.

        Raises ArchiveUnavailable when the archive refuses writes or does not get to it within ``timeout_s``
        (then it never runs: what the caller reports as not saved is not saved later behind its back).
        """
        future: Future[T] = Future()
        with self._ready:
            self._calls.append((fn, future))
        self.worker.wake()
        try:
            return future.result(timeout_s)
        except FutureTimeout:
            if future.cancel():
                raise ArchiveUnavailable(self.error or f"no answer within {timeout_s:g} s") from None
            return future.result()  # already running: it ends within the database's busy timeout
        except Exception as exc:  # whatever the database said, the caller hears "not saved"
            raise ArchiveUnavailable(self._reason(exc)) from exc

    def _count(self) -> int:
        alerting = len(self._rules) + len(self._rule_states) + len(self._alerts) + len(self._acks)
        alerting += len(self._webhook) + len(self._webhook_marks)
        return (
            len(self._points)
            + len(self._deals)
            + len(self._states)
            + len(self._accounts)
            + len(self._restamps)
            + alerting
        )

    def _over(self) -> bool:
        return self._count() >= self.max_pending

    def _coalesced(self) -> None:
        if not self._full:
            log.warning("archive: %d rows wait to be written; history is coalesced until they are", self._count())
        self.coalesced += 1
        self._full = True

    def _nudge(self) -> None:
        """A full batch is written now rather than at the interval's end (but not while backing off)."""
        if not self._failures and self._count() >= self.batch_rows:
            self.worker.wake()

    # -- lifecycle -----------------------------------------------------------------------------------------
    def start(self) -> None:
        if self.worker.started:
            return
        log.info("archive: %s", self.archive.where)
        self.worker.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Write what is still waiting (one attempt), then close the database."""
        self.worker.stop(timeout)

    @property
    def opened(self) -> bool:
        """Created and migrated: readable from here on."""
        return self._opened

    @property
    def pending(self) -> int:
        with self._ready:
            return self._count()

    @property
    def state(self) -> str:
        return "degraded" if self.error is not None or self._full else "ok"

    def health(self) -> dict[str, Any]:
        return {
            "backend": self.archive.backend,
            "url": self.archive.url,
            "path": None if self.archive.path is None else str(self.archive.path),
            "size_bytes": self.size_bytes,
            "last_write_ms": self.last_write_ms,
            "pending": self.pending,
            "written": self.written,
            "failures": self._failures,
            "coalesced": self.coalesced,
            "state": self.state,
            "error": self.error if self.error is not None else ("buffer full" if self._full else None),
        }

    def _reason(self, exc: BaseException) -> str:
        """The driver's own words ("database is locked"), not SQLAlchemy's statement and parameters."""
        return self.archive.redact(f"{type(exc).__name__}: {getattr(exc, 'orig', None) or exc}")[:300]

    # -- the thread ----------------------------------------------------------------------------------------
    def _step(self) -> float:
        """The worker's step (the first opens the archive at start); waits the interval, or the backoff after a
        failure. A call or a full batch wakes it sooner."""
        self._attempt()
        return self._backoff.compute(self._failures) if self._failures else self.interval_s

    def _last(self) -> None:
        if self.pending and not self._failures:  # the polls recorded while the stop caught the thread writing
            self._attempt()
        left = self.pending
        if left:
            log.warning("archive: %d row(s) not written at shutdown", left)
        self.archive.close()

    def _take(self) -> Batch:
        with self._ready:
            batch = Batch()
            room = self.batch_rows
            while self._deals and room:
                key = next(iter(self._deals))
                batch.deals.append((key[0], self._deals.pop(key)))
                room -= 1
            while self._points and room:
                batch.points.append(self._points.popleft())
                room -= 1
            while self._states and room:
                batch.states.append(self._states.popleft())
                room -= 1
            while self._accounts and room:
                login = next(iter(self._accounts))
                batch.accounts.append(self._accounts.pop(login))
                room -= 1
            for source, target in (
                (self._rules, batch.rules),
                (self._alerts, batch.alerts),
                (self._webhook, batch.webhook),
            ):
                while source and room:
                    target.append(source.pop(next(iter(source))))
                    room -= 1
            while self._webhook_marks and room:  # of rows the sender read: written before
                batch.webhook_marks.append(self._webhook_marks.pop(next(iter(self._webhook_marks))))
                room -= 1
            while self._rule_states and room:
                (login, rule_id), data = self._rule_states.popitem()
                batch.rule_states.append((login, rule_id, data))
                room -= 1
            while self._acks and room and not self._alerts:  # an ack updates its alert's row: that row first
                (login, alert_id), ms = self._acks.popitem()
                batch.acks.append((login, alert_id, ms))
                room -= 1
            return batch

    def _put_back(self, batch: Batch) -> None:
        """A failed batch goes back in front of what arrived meanwhile (newer accounts win), within the cap."""
        with self._ready:
            self._deals = {(login, deal.ticket): deal for login, deal in batch.deals} | self._deals
            self._points.extendleft(reversed(batch.points))
            self._states.extendleft(reversed(batch.states))
            self._accounts = {account.login: (ts, account) for ts, account in batch.accounts} | self._accounts
            self._rules = {(r.login, r.saved_ms): r for r in batch.rules} | self._rules
            self._alerts = {(a.login, a.alert["id"]): a for a in batch.alerts} | self._alerts
            self._rule_states = {
                (login, rule_id): data for login, rule_id, data in batch.rule_states
            } | self._rule_states
            self._acks |= {(login, alert_id): ms for login, alert_id, ms in batch.acks}  # the first ack stays
            self._webhook = {(i.login, i.alert_id): i for i in batch.webhook} | self._webhook
            for mark in batch.webhook_marks:  # older than any waiting mark of the same row
                later = self._webhook_marks.get(mark.seq)
                self._webhook_marks[mark.seq] = mark if later is None else mark.then(later)
            self._trim()

    def _trim(self) -> None:
        """What arrived while a failed batch was out of the buffers was not counted against the cap: past it,
        the newest point (or state) of an account replaces the ones that arrived before it, as in ``submit_*``."""
        for rows in (self._points, self._states):
            while self._count() > self.max_pending and len(rows) > 1 and self._login(rows[-2]) == self._login(rows[-1]):
                del rows[-2]
                self._coalesced()

    @staticmethod
    def _login(row: tuple[int, HistoryPoint] | State) -> int:
        return row.login if isinstance(row, State) else row[0]

    def _run_calls(self) -> None:
        while True:
            with self._ready:
                if not self._calls:
                    return
                fn, future = self._calls.popleft()
            if not future.set_running_or_notify_cancel():
                continue  # its caller gave up waiting
            try:
                future.set_result(fn(self.archive))
            except Exception as exc:  # noqa: BLE001 - the caller is told; the writer goes on
                future.set_exception(exc)

    def _fail_calls(self, exc: BaseException) -> None:
        """A user waiting on a refusing archive hears so now, not after the backoff."""
        with self._ready:
            calls, self._calls = list(self._calls), deque()
        for _, future in calls:
            if future.set_running_or_notify_cancel():
                future.set_exception(exc)

    def _restamp(self) -> None:
        """Once the deals before the change are in; a failure leaves the request to be tried again."""
        with self._ready:
            waiting = dict(self._restamps)
        for login, spec in waiting.items():
            moved = self.archive.restamp_deals(login, spec)
            with self._ready:
                if self._restamps.get(login) == spec:
                    del self._restamps[login]
            if moved:
                log.info("archive: %d deals of account %d re-timed to the broker clock %s", moved, login, spec)

    def _attempt(self) -> None:
        """Open if needed, then write full batches until what is left fits in one; never raises."""
        try:
            if not self._opened:
                self.archive.open()
                self._opened = True
                self.size_bytes = self.archive.size_bytes()
            wrote = False
            while True:
                batch = self._take()
                if not batch:
                    break
                try:
                    self.archive.write(batch)
                except BaseException:
                    self._put_back(batch)
                    raise
                self.written += len(batch)
                self.last_write_ms = int(time.time() * 1000)
                wrote = True
                if batch.webhook:
                    for callback in self._webhook_watchers:
                        callback()
                if len(batch) < self.batch_rows:
                    break
            self._restamp()
            if wrote:
                self.size_bytes = self.archive.size_bytes()
            self._run_calls()
        except Exception as exc:  # noqa: BLE001 - a refusing archive must never stop the writer
            self._fail_calls(exc)
            self._failures += 1
            if self.error is None:
                self._on_error(exc)
            self.error = self._reason(exc)
            return
        self._failures = 0
        was = self.state
        with self._ready:
            self._full = self._full and self._count() >= self.max_pending
        self.error = None
        if was == "degraded" and self.state == "ok":
            log.info("archive: writing again (%d rows written, %d coalesced)", self.written, self.coalesced)
