"""A node's cache of job contents: used contents stay, idle ones fit a budget."""

from __future__ import annotations

import threading

import pytest

from rvdist.cluster.contents import ContentCache


def fetcher(log: list):
    def fetch(missing):
        log.append(list(missing))
        return [(f"value of {k}", size) for k, size in missing]
    return fetch


def test_contents_are_fetched_once_while_a_job_uses_them():
    cache, log = ContentCache(idle_bytes=0), []
    got = cache.acquire([("a", 10), ("b", 20)], fetcher(log))
    assert got == {("a", 10): "value of a", ("b", 20): "value of b"}
    assert cache.acquire([("a", 10)], fetcher(log)) == {("a", 10): "value of a"}
    assert log == [[("a", 10), ("b", 20)]]      # the second job fetched nothing
    cache.release([("a", 10), ("b", 20)])       # the first job leaves; "a" is still used
    assert cache.stats() == {"entries": 1, "bytes": 10, "idle_bytes": 0, "fetches": 2}
    cache.release([("a", 10)])
    assert cache.stats() == {"entries": 0, "bytes": 0, "idle_bytes": 0, "fetches": 2}


def test_idle_contents_go_least_recently_used_first_beyond_the_budget():
    cache, log = ContentCache(idle_bytes=100), []
    for key in [("a", 40), ("b", 40), ("c", 40)]:
        cache.acquire([key], fetcher(log))
    cache.release([("a", 40)])
    cache.release([("b", 40)])
    # "a" is used again, so "b" is now the oldest idle one
    cache.acquire([("a", 40)], fetcher(log))
    cache.release([("a", 40)])
    cache.release([("c", 40)])                  # 120 idle bytes > 100: "b" goes
    assert cache.stats()["entries"] == 2 and cache.stats()["idle_bytes"] == 80
    cache.acquire([("b", 40)], fetcher(log))
    assert log[-1] == [("b", 40)]
    cache.acquire([("a", 40), ("c", 40)], fetcher(log))
    assert log[-1] == [("b", 40)], "a and c were still held"


def test_a_used_content_is_never_evicted_however_large():
    cache = ContentCache(idle_bytes=10)
    cache.acquire([("big", 1000)], fetcher([]))
    cache.acquire([("small", 20)], fetcher([]))
    cache.release([("small", 20)])              # idle and over the budget: goes
    assert cache.stats() == {"entries": 1, "bytes": 1000, "idle_bytes": 0, "fetches": 2}


def test_a_failed_fetch_leaves_nothing_counted():
    cache = ContentCache(idle_bytes=50)
    cache.acquire([("a", 5)], fetcher([]))
    cache.release([("a", 5)])                   # idle now

    def broken(missing):
        raise ConnectionError("object store gone")

    with pytest.raises(ConnectionError):
        cache.acquire([("a", 5), ("b", 5)], broken)
    # the failed acquire gave back its use of "a": it is idle again, evictable
    assert cache.stats() == {"entries": 1, "bytes": 5, "idle_bytes": 5, "fetches": 1}


def test_concurrent_slots_share_one_content():
    cache, log, seen = ContentCache(idle_bytes=0), [], []
    start = threading.Barrier(8)

    def slot():
        start.wait()
        for _ in range(200):
            seen.append(cache.acquire([("p", 1)], fetcher(log))[("p", 1)])
            cache.release([("p", 1)])

    threads = [threading.Thread(target=slot) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert set(seen) == {"value of p"} and len(seen) == 1600
    assert cache.stats() == {"entries": 0, "bytes": 0, "idle_bytes": 0, "fetches": len(log)}
