"""The columnar deals CSV on the embedded Redis: byte for byte what the per-deal path writes, whatever a deal's
text, numbers or times; pages that neither lose nor repeat a deal; a connection handed back clean however the
download ends."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import fakeredis
import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.analytics import csv_export as export
from services.core.models import Deal, MalformedRecord
from services.core.protocol import dumps
from services.storage.store import Store
from tests.conftest import free_port

LOGIN = 77
OFFSET_S = 7200
NOON_UTC_MS = 1_769_860_800_000  # 2026-01-31T12:00:00Z
HEADER = ",".join(export.DEAL_COLUMNS) + "\r\n"


@pytest.fixture
def store() -> Store:
    return Store(fakeredis.FakeRedis(server=fakeredis.FakeServer(), decode_responses=True), "x", 100_000)


def make_deal(ticket: int, utc_ms: int, offset_s: int = OFFSET_S, **fields: Any) -> Deal:
    record = {
        "ticket": ticket, "order": ticket + 1, "time": 0, "time_msc": utc_ms + offset_s * 1000, "type": ticket % 2,
        "entry": 0, "magic": 0, "position_id": ticket, "reason": 0, "volume": 0.1, "price": 1.1, "commission": -0.35,
        "swap": 0.0, "profit": 0.0, "fee": 0.0, "symbol": "EURUSD", "comment": "", "external_id": "",
    }  # fmt: skip
    record.update(fields)
    record["time"] = record["time_msc"] // 1000
    return Deal.from_mt5(record, offset_s)


def exact_csv(store: Store, start_ms: int | None = None, end_ms: int | None = None) -> str:
    """What ``deals_csv`` wrote before: a Deal per stored JSON, a csv row per deal."""
    deals = export.iter_deals(store, LOGIN, start_ms, end_ms)
    return "".join(export.csv_chunks(export.DEAL_COLUMNS, map(export.deal_row, deals)))


def fast_csv(store: Store, start_ms: int | None = None, end_ms: int | None = None) -> str:
    return "".join(export.deals_csv(store, LOGIN, start_ms, end_ms))


@pytest.fixture
def slow_rows(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """The stored JSON of every row the exact per-deal path wrote."""
    seen: list[bytes] = []
    exact = export._slow_rows

    def counting(raws: Any, wall: Any = None) -> str:
        raws = list(raws)
        seen.extend(raws)
        return exact(raws, wall)

    monkeypatch.setattr(export, "_slow_rows", counting)
    return seen


ODD_DEALS = [
    {"comment": "sl 1.1, tp 1.2"}, {"comment": 'say "hi"'}, {"comment": "back\\slash"}, {"comment": "two\nlines"},
    {"comment": "tab\there"}, {"comment": "café"}, {"comment": "=HYPERLINK(1)"}, {"comment": "+1"},
    {"comment": "-1 lot"}, {"comment": "@SUM"}, {"symbol": "=X"}, {"external_id": "a,b"},
    {"type": 2, "profit": 500.0}, {"type": 2, "profit": -20.0}, {"type": 3, "profit": 100.0}, {"type": 6},
    {"type": 17, "profit": -1.5},
]  # fmt: skip
PLAIN_DEALS = [
    {"order": 2**63 - 1, "position_id": 2**62}, {"magic": -123456, "reason": 4}, {"volume": 1e-05},
    {"price": 1e16, "profit": -0.0}, {"commission": -1234567.891, "swap": 1.5e-07, "fee": 123.0},
    {"comment": "ok: 1.2 x", "external_id": "id-7", "symbol": "XAUUSD.m"}, {"entry": 3, "reason": 9},
]  # fmt: skip


def test_every_kind_of_deal_is_written_as_the_exact_path_writes_it(store: Store, slow_rows: list[bytes]) -> None:
    odd = [make_deal(100 + k, NOON_UTC_MS + k * 1000, **fields) for k, fields in enumerate(ODD_DEALS)]
    plain = [make_deal(200 + k, NOON_UTC_MS + k * 1000 + 7, **fields) for k, fields in enumerate(PLAIN_DEALS)]
    plain.append(make_deal(2**64 - 1, NOON_UTC_MS + 5))
    times = [
        make_deal(300, -1_500, offset_s=0),  # before 1970
        make_deal(301, 0, offset_s=0),
        make_deal(302, 253_402_300_799_999, offset_s=0),  # the last millisecond of year 9999
        make_deal(303, 32_503_680_000_000, offset_s=-3600),  # year 3000, a server behind UTC
        *(make_deal(400 + k, NOON_UTC_MS + 86_400_000) for k in range(40)),  # a burst in one millisecond
    ]
    store.add_deals(LOGIN, [*odd, *plain, *times])
    text = fast_csv(store)
    assert text.startswith(HEADER) and text == exact_csv(store)
    assert text.count("\r\n") == 1 + len(odd) + len(plain) + len(times)
    exact_tickets = {json.loads(raw)["ticket"] for raw in slow_rows}
    assert exact_tickets >= {deal.ticket for deal in odd}
    assert not exact_tickets & {deal.ticket for deal in plain}, "plain deals are cut from the JSON"


def test_ranges_and_pages_neither_lose_nor_repeat_deals_sharing_a_millisecond(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    deals = [make_deal(1000 + k, NOON_UTC_MS + (k // 7) * 1000 + (k // 40) * 17) for k in range(300)]
    deals += [make_deal(5000 + k, NOON_UTC_MS + 3000) for k in range(50)]  # a burst longer than a page
    store.add_deals(LOGIN, reversed(deals))
    for chunk in (1, 3, 16, 17, 49, 1000):
        pages = list(store.deal_json_pages(LOGIN, chunk=chunk))
        got = [json.loads(line)["ticket"] for page in pages for line in page.split(b"\n")]
        assert got == [deal.ticket for deal in export.iter_deals(store, LOGIN)]
        assert all(page.count(b"\n") < chunk for page in pages)
    monkeypatch.setattr(export.Store, "deal_json_pages", _small_pages(Store.deal_json_pages))
    for start, end in ((None, None), (NOON_UTC_MS + 2000, NOON_UTC_MS + 9000), (NOON_UTC_MS + 3000, None)):
        text = fast_csv(store, start, end)
        assert text == exact_csv(store, start, end)
        tickets = [row.split(",")[2] for row in text.splitlines()[1:]]
        assert len(tickets) == len(set(tickets))


def _small_pages(pages: Any) -> Any:
    def small(self: Store, login: int, start_ms: int | None = None, end_ms: int | None = None) -> Iterator[bytes]:
        return pages(self, login, start_ms, end_ms, chunk=7)

    return small


def test_json_of_another_layout_is_written_the_exact_way(store: Store, slow_rows: list[bytes]) -> None:
    deals = [make_deal(k, NOON_UTC_MS + k, comment=f"c{k}") for k in range(6)]
    stored = [deal.to_dict() for deal in deals]
    texts = [
        dumps(dict(reversed(stored[0].items()))),  # keys in another order
        dumps({**stored[1], "extra": 1}),  # a field the deal does not have
        json.dumps(stored[2]),  # white space after the separators
        dumps({("swap" if k == "time" else "time" if k == "swap" else k): v for k, v in stored[3].items()}),
        dumps(stored[4]),
        dumps(stored[5]).replace('"time_utc_ms":', '"time_utc_xx":'),
    ]
    client = store.client
    for deal, text in zip(deals, texts, strict=True):
        client.hset(store.keys.deals(LOGIN), str(deal.ticket), text)
        client.zadd(store.keys.deals_by_time(LOGIN), {str(deal.ticket): deal.time_utc_ms})
    assert fast_csv(store) == exact_csv(store)
    assert len(slow_rows) == 5 and dumps(stored[4]).encode() not in slow_rows


def test_a_malformed_stored_deal_raises_as_before(store: Store) -> None:
    deal = make_deal(1, NOON_UTC_MS)
    store.client.hset(store.keys.deals(LOGIN), "1", dumps({**deal.to_dict(), "price": None}))
    store.client.zadd(store.keys.deals_by_time(LOGIN), {"1": deal.time_utc_ms})
    with pytest.raises(MalformedRecord, match="price"):
        exact_csv(store)
    with pytest.raises(MalformedRecord, match="price"):
        fast_csv(store)


TEXT = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=12) | st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12
)
MONEY = st.floats(allow_nan=False, allow_infinity=False, width=64)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.fixed_dictionaries(
            {
                "ticket": st.integers(0, 2**64),
                "magic": st.integers(-(2**63), 2**63),
                "type": st.integers(0, 18),
                "entry": st.integers(0, 3),
                "utc_ms": st.integers(-(10**12), 253_402_300_799_999 - 86_400_000),
                "offset_s": st.sampled_from([0, 7200, -3600, 10_800]),
                "volume": MONEY,
                "price": MONEY,
                "profit": MONEY,
                "swap": MONEY,
                "symbol": TEXT,
                "comment": TEXT,
                "external_id": st.sampled_from(["", "x"]) | TEXT,
            }
        ),
        min_size=1,
        max_size=30,
    )
)
def test_any_deals_are_written_as_the_exact_path_writes_them(rows: list[dict[str, Any]]) -> None:
    store = Store(fakeredis.FakeRedis(server=fakeredis.FakeServer(), decode_responses=True), "x", 100_000)
    deals = {}
    for row in rows:
        ticket, utc_ms, offset_s = row.pop("ticket"), row.pop("utc_ms"), row.pop("offset_s")
        deals[ticket] = make_deal(ticket, utc_ms, offset_s, **row)
    store.add_deals(LOGIN, deals.values())
    assert fast_csv(store) == exact_csv(store)


def test_an_empty_range_is_the_header_alone(store: Store) -> None:
    assert list(export.deals_csv(store, LOGIN, None, None)) == [HEADER]


def test_the_first_chunk_raises_a_redis_error_so_the_response_can_still_be_a_503() -> None:
    down = redis.Redis(port=free_port(), socket_connect_timeout=0.2, decode_responses=True)
    chunks = export.deals_csv(Store(down, "x", 100_000), LOGIN, None, None)
    with pytest.raises(redis.ConnectionError):
        next(chunks)


def test_a_download_left_half_way_leaves_no_reply_behind_for_the_next_command(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.add_deals(LOGIN, [make_deal(1000 + k, NOON_UTC_MS + k * 1000) for k in range(100)])
    whole = fast_csv(store)
    monkeypatch.setattr(export.Store, "deal_json_pages", _small_pages(Store.deal_json_pages))
    chunks = export.deals_csv(store, LOGIN, None, None)
    first = next(chunks)
    assert first.startswith(HEADER) and first.count("\r\n") == 8, "the header and one page of seven"
    chunks.close()  # two commands of the next page are on their way
    assert store.deal_count(LOGIN) == 100
    assert fast_csv(store) == whole


def test_scratch_arrays_are_kept_and_grown() -> None:
    scratch = export.Scratch()
    first = scratch("a", (3, 4))
    assert scratch("a", 10).base is first.base, "a smaller request reuses the array"
    grown = scratch("a", (40, 4))
    assert grown.shape == (40, 4) and grown.base is not first.base
