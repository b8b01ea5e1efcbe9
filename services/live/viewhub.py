"""Pages grouped by what they show, each group's changes rendered once for all its sockets.

A page's socket says which view it shows (the account, the time zone, live or replaying, the theme): its
``Viewer``. Sockets with the same view ``key`` share one ``Renderer``, which keeps that view's state and turns
each message of the fan-out into a ``Render`` (on the fan-out's thread, ``tap``), put into every member's
queue. A socket joining, asking again or changing its view gets a whole rendering of the page, made under
the same lock as the messages' renderings, after which its queue holds only what follows it.

The page-specific parts (``views/``, which knows the layout) are given to the hub as ``ViewKind``s by name
(``?view=page``, ``?view=overview``): this module and ``api/`` know none of them.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Hashable, Mapping, Sequence
from typing import Any, Protocol

from services.core.protocol import Message
from services.live.fanout import ClientQueue
from services.live.render import Render, Updates

log = logging.getLogger(__name__)


class Renderer(Protocol):
    """One view's state, and what each message changes of the page."""

    def event(self, message: Message) -> Render | None: ...

    def tick(self) -> Render | None: ...

    def full(self, reload: bool) -> Render: ...


class Viewer(Protocol):
    """One socket's view: the key of the renderer it shares, and what it adds of its own."""

    login: int | None

    def key(self) -> Hashable: ...

    def renderer(self) -> Renderer: ...

    def change(self, view: dict[str, Any]) -> str | None:
        """Take the page's view: ``"key"`` when its key changed (a whole rendering of the new one follows),
        ``"charts"`` when only its charts did (their new points follow), else None."""
        ...

    def own(self, points: Sequence[Any]) -> tuple[Updates, Updates, Any]:
        """This socket's part of a frame, from the renders' points: (applied at once, the rest, the state of the
        page it was made for, None for any)."""
        ...


class ViewKind(Protocol):
    def viewer(self, login: int | None, args: Mapping[str, str]) -> Viewer:
        """The view a socket asks for in its query (``?account=``: ``login``); raises ValueError naming a bad
        parameter."""
        ...


class Group:
    def __init__(self, renderer: Renderer) -> None:
        self.renderer = renderer
        self.members: set[ClientQueue] = set()
        self.failing = False


class ViewHub:
    """The fan-out's tap: every message rendered once per view, for the members of that view."""

    def __init__(self, kinds: Mapping[str, ViewKind]) -> None:
        self.kinds = dict(kinds)
        self._groups: dict[Hashable, Group] = {}
        self._lock = threading.Lock()

    def viewer(self, kind: str, login: int | None, args: Mapping[str, str]) -> Viewer:
        return self.kinds[kind].viewer(login, args)

    def publish(self, message: Message) -> None:
        with self._lock:
            for key, group in list(self._groups.items()):
                self._deliver(key, group, lambda g: g.renderer.event(message))

    def tick(self) -> None:
        with self._lock:
            for key, group in list(self._groups.items()):
                self._deliver(key, group, lambda g: g.renderer.tick())

    def _deliver(self, key: Hashable, group: Group, render: Any) -> None:
        """A fault of one view's rendering is told once and never stops the fan-out or the other views."""
        try:
            result = render(group)
        except Exception:
            if not group.failing:
                log.exception("page view %r: rendering failed; its pages keep what they show", key)
            group.failing = True
            return
        group.failing = False
        if result is not None and not result.is_empty():
            for queue in group.members:
                queue.put(result)

    def join(self, viewer: Viewer, queue: ClientQueue, reload: bool = True) -> Render:
        """Add a socket to its view's group (again: a page that missed something); the whole page as of now,
        its queue emptied of what came before. ``reload``: the page reloads its charts too."""
        with self._lock:
            key = viewer.key()
            group = self._groups.get(key)
            if group is None:
                group = self._groups[key] = Group(viewer.renderer())
            group.members.add(queue)
            queue.clear()
            return group.renderer.full(reload)

    def leave(self, key: Hashable, queue: ClientQueue) -> None:
        with self._lock:
            group = self._groups.get(key)
            if group is None:
                return
            group.members.discard(queue)
            if not group.members:
                del self._groups[key]

    def move(self, viewer: Viewer, old_key: Hashable, queue: ClientQueue) -> Render:
        """A socket whose view changed: out of the old group, into the new one, with the whole page of it."""
        self.leave(old_key, queue)
        return self.join(viewer, queue, reload=False)

    def view_count(self) -> int:
        with self._lock:
            return len(self._groups)
