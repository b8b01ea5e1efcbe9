"""A page's changes as the server renders them: component props by id, ready for ``dash_clientside.set_props``.

A ``Render`` is made once per page view and shared by every socket of that view, so it is encoded to JSON
once (``text``). Several waiting for one socket merge into one (``merge``): a prop set twice keeps the later
value, except the two props that add to what a component holds: ``rowTransaction`` (composed, ``rowdiff``)
and ``extendData`` (the points of both). A component takes one value per prop and update, so two of these in
one frame would lose the first.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from plotly.utils import PlotlyJSONEncoder

from services.live import rowdiff

Updates = dict[str, dict[str, Any]]  # component id → the props to set
ADDING = ("rowTransaction", "extendData")  # props that add to what a component holds, rather than replace it
WHOLE = {"figure": "extendData", "rowData": "rowTransaction"}  # a whole value, and the additions it supersedes


def encode(payload: Any) -> str:
    """JSON of updates that may hold components and figures (``to_plotly_json``)."""
    return json.dumps(payload, cls=PlotlyJSONEncoder, separators=(",", ":"))


@dataclass(slots=True)
class Render:
    """One rendering of a view's changes. ``live``: what a replay freezes (the page drops it while replaying);
    ``points``: new chart points, which each socket cuts to its own chart (``Viewer.own``); ``full``: the whole
    page, which supersedes what came before; ``reload``: the page reloads its charts (its points come with them)."""

    set: Updates = field(default_factory=dict)
    live: Updates = field(default_factory=dict)
    points: list[Any] = field(default_factory=list)
    full: bool = False
    reload: bool = False
    _text: str | None = None
    _merges: dict[tuple[int, ...], tuple[list[Render], Render]] | None = None  # ``merge`` with it first

    def text(self) -> str:
        if self._text is None:
            self._text = encode({"set": self.set, "live": self.live})
        return self._text

    def is_empty(self) -> bool:
        return not (self.set or self.live or self.points or self.full)


def put(updates: Updates, component_id: str, prop: str, value: Any) -> None:
    updates.setdefault(component_id, {})[prop] = value


def merge_updates(into: Updates, later: Updates) -> None:
    """``later`` applied on top of ``into``, in place."""
    for component_id, props in later.items():
        held = into.setdefault(component_id, {})
        for prop, value in props.items():
            if prop in WHOLE:  # additions made before a whole value are in it, or were to what it replaced
                held.pop(WHOLE[prop], None)
            if prop == "rowTransaction" and prop in held:
                held[prop] = rowdiff.compose(held[prop], value)
            elif prop == "extendData" and prop in held:
                held[prop] = extended(held[prop], value)
            else:
                held[prop] = value


def extended(first: list[Any], then: list[Any]) -> list[Any]:
    """Two ``extendData`` of the same traces as one: each trace's points of both, in turn."""
    (data, traces, cap), (more, more_traces, more_cap) = first, then
    if traces != more_traces or cap != more_cap or data.keys() != more.keys():
        return then
    return [{key: [a + b for a, b in zip(data[key], more[key], strict=True)] for key in data}, traces, cap]


def merge(renders: list[Render]) -> Render:
    """The renders in turn as one; the last full one starts afresh (the points before it are kept).

    Every socket of a view gets the same renders, so the same list merged again gives the same merged render,
    kept on the first one: its ``text`` is encoded once for all of them, not once per socket.
    """
    if len(renders) == 1:
        return renders[0]
    first, rest = renders[0], renders[1:]
    key = tuple(map(id, rest))
    if first._merges is None:
        first._merges = {}
    kept = first._merges.get(key)
    if kept is None:
        kept = first._merges[key] = (rest, merged_anew(renders))  # rest kept alive: their ids stay theirs
    return kept[1]


def merged_anew(renders: list[Render]) -> Render:
    start = max((i for i, render in enumerate(renders) if render.full), default=0)
    merged = Render(full=renders[start].full)
    for render in renders[:start]:
        merged.points.extend(render.points)
    for render in renders[start:]:
        merge_updates(merged.set, render.set)
        merge_updates(merged.live, render.live)
        merged.points.extend(render.points)
        merged.reload = merged.reload or render.reload
    return merged
