"""A node's cache of job contents (programs and declared files), by digest.

An agent fetches each content once from Ray's object store and shares it
among the jobs of its node that name it. A content some resident job uses
is always kept; one no resident job uses any more stays as long as the
idle contents fit in a byte budget, least recently used first out, so that
a batch of jobs of one program and inputs fetches them once per node while
a long-lived node that sees many distinct inputs does not keep them all.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any, Callable, Hashable, Iterable

__all__ = ["ContentCache", "DEFAULT_IDLE_BYTES"]

#: How many bytes of contents no resident job uses a node keeps by default.
DEFAULT_IDLE_BYTES = 256 << 20


class ContentCache:
    """Contents by key, with use counts and an LRU byte budget for idle ones.

    Thread-safe: the slots of a node load jobs concurrently. A key two
    slots miss at once may be fetched twice; one result is kept.
    """

    def __init__(self, idle_bytes: int = DEFAULT_IDLE_BYTES) -> None:
        self.idle_bytes = idle_bytes
        self._lock = threading.Lock()
        self._items: dict[Hashable, tuple[Any, int]] = {}     # key -> (value, size)
        self._uses: dict[Hashable, int] = {}
        self._idle: "OrderedDict[Hashable, None]" = OrderedDict()   # oldest first
        self._idle_size = 0
        self._fetches = 0

    def acquire(self, keys: Iterable[Hashable],
                fetch: Callable[[list[Hashable]], list[tuple[Any, int]]]) -> dict[Hashable, Any]:
        """The contents of ``keys`` (distinct), each counted as used until
        :meth:`release`. The absent ones are fetched in one call of
        ``fetch(missing) -> [(value, size), ...]``; if it raises, nothing
        stays counted."""
        keys = list(keys)
        with self._lock:
            missing = []
            for key in keys:
                if key in self._items:
                    self._use(key)      # held from now on, whatever other slots release
                else:
                    missing.append(key)
        if missing:
            try:
                fetched = fetch(missing)    # outside the lock: it waits on the object store
            except BaseException:
                self.release([k for k in keys if k not in missing])
                raise
            with self._lock:
                self._fetches += len(missing)
                for key, item in zip(missing, fetched):
                    self._items.setdefault(key, item)   # another slot may have been first
                    self._use(key)
        with self._lock:
            return {key: self._items[key][0] for key in keys}

    def release(self, keys: Iterable[Hashable]) -> None:
        """One use of each key ends; contents nobody uses become idle, and
        the oldest idle ones go while the idle ones exceed the budget."""
        with self._lock:
            for key in keys:
                n = self._uses.get(key, 0) - 1
                if n > 0:
                    self._uses[key] = n
                    continue
                self._uses.pop(key, None)
                if key in self._items and key not in self._idle:
                    self._idle[key] = None
                    self._idle_size += self._items[key][1]
            while self._idle_size > self.idle_bytes and self._idle:
                key, _ = self._idle.popitem(last=False)
                self._idle_size -= self._items.pop(key)[1]

    def stats(self) -> dict[str, int]:
        """``entries`` and ``bytes`` held, ``idle_bytes`` of them unused by any
        resident job, and ``fetches`` from the object store so far."""
        with self._lock:
            return {"entries": len(self._items), "bytes": sum(s for _, s in self._items.values()),
                    "idle_bytes": self._idle_size, "fetches": self._fetches}

    def _use(self, key: Hashable) -> None:
        self._uses[key] = self._uses.get(key, 0) + 1
        if key in self._idle:
            del self._idle[key]
            self._idle_size -= self._items[key][1]
