"""The shape of the tests' local Ray cluster (built by the ``cluster`` fixture in conftest),
and waiting on it."""

import time
from typing import Callable

#: Object store of each node of the test cluster: Ray's default is 30% of RAM.
OBJECT_STORE = 100 * 1024 * 1024


def wait_for(cond: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``cond`` until it holds; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)
