"""Formula injection through every CSV export (issue 14): a broker comment or symbol that a spreadsheet would
run, also behind a space, LF, CR, TAB, NBSP, BOM, NUL or any other invisible character, or written with the
fullwidth ＝ ＋ － ＠, is written with a leading ``'``; the deals' fast path writes what the exact path writes."""

from __future__ import annotations

import csv
import dataclasses
import io
from typing import Any

import fakeredis
import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.analytics import csv_export as export
from services.core.models import Order, Position
from services.storage.store import Store
from tests.unit.test_export import LOGIN, NOON_UTC_MS, OFFSET_S, POSITION, make_deal

INVISIBLE_LEADS = ("", " ", "\n", "\r", "\t", "\xa0", "\ufeff", "\x00", "\u2003", "\u200b", "\x0b", "\x1f", " \t ")
FORMULAS = ("=HYPERLINK(1)", "+1", "-1", "@SUM(A1)", "＝HYPERLINK(1)", "＋1", "－1", "＠SUM(A1)", "﹦1")
RUNNABLE = [lead + formula for lead in INVISIBLE_LEADS for formula in FORMULAS] + [" ", "\t", "\ufeffEURUSD"]
HARMLESS = ["EURUSD", "sl 1.1", "a=b", "1+1", "café", "", "'=already"]


def cells(chunks: Any, column: str) -> list[str]:
    return [row[column] for row in csv.DictReader(io.StringIO("".join(chunks)))]


@pytest.fixture
def store() -> Store:
    return Store(fakeredis.FakeRedis(server=fakeredis.FakeServer(), decode_responses=True), "x", 100_000)


def test_deal_comments_symbols_and_ids_are_neutralised(store: Store) -> None:
    texts = RUNNABLE + HARMLESS
    deals = [
        make_deal(k + 1, NOON_UTC_MS + k, comment=text, symbol=text or "X", external_id=text)
        for k, text in enumerate(texts)
    ]
    store.add_deals(LOGIN, deals)
    text = "".join(export.deals_csv(store, LOGIN, None, None))
    assert text == "".join(export.csv_chunks(export.DEAL_COLUMNS, map(export.deal_row, deals)))
    expected = ["'" + t if t in RUNNABLE else t for t in texts]
    assert cells([text], "comment") == expected
    assert cells([text], "external_id") == expected
    assert cells([text], "symbol") == ["'" + t if t in RUNNABLE else t or "X" for t in texts]


def test_ascii_deals_behind_a_space_are_neutralised_on_the_fast_path_too(store: Store) -> None:
    """A page of ASCII JSON is cut by the columnar path: a leading space is ASCII, so it must be caught there."""
    deals = [make_deal(k + 1, NOON_UTC_MS + k, comment=" =1+1" if k == 3 else "plain") for k in range(50)]
    store.add_deals(LOGIN, deals)
    assert cells(export.deals_csv(store, LOGIN, None, None), "comment")[3] == "' =1+1"


def first_row(chunks: Any) -> dict[str, str]:
    return next(csv.DictReader(io.StringIO("".join(chunks))))


def test_positions_orders_and_trades_are_neutralised(store: Store) -> None:
    position = Position.from_mt5(POSITION, OFFSET_S)
    order = Order(**{f.name: {"int": 0, "float": 0.0, "str": ""}[f.type] for f in dataclasses.fields(Order)})
    for text in RUNNABLE:
        row = first_row(export.positions_csv([dataclasses.replace(position, comment=text, symbol=text)], None, None))
        assert (row["comment"], row["symbol"]) == ("'" + text, "'" + text)
        row = first_row(export.orders_csv([dataclasses.replace(order, comment=text, external_id=text)], None, None))
        assert (row["comment"], row["external_id"]) == ("'" + text, "'" + text)
    opened = make_deal(1, NOON_UTC_MS, symbol="\u00a0=EVIL", position_id=5)
    closed = make_deal(2, NOON_UTC_MS + 60_000, symbol="\u00a0=EVIL", position_id=5, type=1, entry=1)
    store.add_deals(LOGIN, [opened, closed])
    assert cells(export.trades_csv(store, LOGIN, None, None, 2), "symbol") == ["'\u00a0=EVIL"]


@given(st.text(max_size=20))
def test_no_written_cell_can_run(text: str) -> None:
    written = export._cell(text)
    assert not export.runnable(written)
    assert written in (text, "'" + text)
