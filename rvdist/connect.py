"""Start or join the Ray that the executor runs on, within a bounded time.

``ray.init`` on an address where no cluster listens retries for many
minutes (20 attempts of 30 s each in Ray 2.60). :func:`init_ray` first
waits, at most ``timeout`` seconds, for the address to accept a TCP
connection, and fails with :class:`~rvdist.errors.ClusterUnavailable` if it
never does. It also keeps the SIGTERM handler that was in place before
``ray.init`` (Ray replaces it with one that exits on the spot), so that a
batch stopped by SIGTERM can end cleanly.
"""

from __future__ import annotations

import logging
import os
import re
import signal
import socket
import threading
import time
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Optional

import ray

from rvdist.errors import ClusterUnavailable

#: Seconds to wait for a cluster to answer, unless told otherwise.
DEFAULT_CONNECT_TIMEOUT = 30.0

log = logging.getLogger(__name__)

_on_hang: Optional[Callable[[str], None]] = None


def set_hang_handler(handler: Optional[Callable[[str], None]]) -> None:
    """What :func:`init_ray` calls when no ``on_hang`` is passed (the command
    line registers one that prints the message and exits)."""
    global _on_hang
    _on_hang = handler


def init_ray(address: Optional[str] = None, timeout: float = DEFAULT_CONNECT_TIMEOUT,
             options: Optional[dict[str, Any]] = None,
             on_hang: Optional[Callable[[str], None]] = None) -> bool:
    """Connect this process to Ray unless it is already; True if this call did.

    ``address=None`` joins the cluster ``RAY_ADDRESS`` names (as inside a
    Ray job), or else starts a private local Ray sized to this machine;
    ``"auto"`` joins the cluster running on this machine; ``"local"``
    always starts a private one; anything else is a cluster address. A
    cluster that does not accept connections within ``timeout`` seconds
    raises :class:`ClusterUnavailable`. ``options`` go to ``ray.init``.
    ``on_hang``, if given, is called with a message should ``ray.init``
    itself still be waiting ``timeout`` seconds after the address first
    answered (a port that accepts connections but is not Ray's): a command
    line can exit there, which a library cannot.
    """
    if ray.is_initialized():
        return False
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    kwargs = {"include_dashboard": False, "log_to_driver": False,
              "logging_level": logging.ERROR, **(options or {})}
    if address is None:
        address = os.environ.get("RAY_ADDRESS") or "local"
    if address == "local":
        kwargs.setdefault("num_cpus", os.cpu_count() or 1)
        if "RAY_worker_niceness" not in os.environ:
            # Ray starts workers at niceness 15, so the slices of a private
            # Ray (work the user asked for, on their own machine) would
            # yield to every other process: beside two busy processes on 2
            # cores they ran at 52 M instr/s, against 754 at niceness 0.
            kwargs["_system_config"] = {"worker_niceness": 0,
                                        **kwargs.get("_system_config", {})}
    else:
        target = _resolve(address)
        wait_for_listener(target, timeout)
    watchdog = None
    on_hang = on_hang or _on_hang
    if on_hang is not None and address != "local":
        watchdog = threading.Timer(timeout, on_hang, [f"no Ray cluster answered at {address} "
                                                      f"within {timeout:g} s"])
        watchdog.daemon = True
        watchdog.start()
    try:
        with _keep_signal_handlers():
            ray.init(address=address, **kwargs)
    except (ConnectionError, RuntimeError, ValueError) as e:
        raise ClusterUnavailable(f"cannot join the Ray cluster at {address}: "
                                 f"{_first_line(e)}") from None
    finally:
        if watchdog is not None:
            watchdog.cancel()
    return True


def wait_for_listener(target: Optional[tuple[str, int]], timeout: float) -> None:
    """Wait until ``target`` (host, port) accepts a TCP connection, at most ``timeout`` s."""
    if target is None:
        return
    host, port = target
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        try:
            with socket.create_connection((host, port), timeout=max(0.1, min(left, 2.0))):
                return
        except OSError as e:
            error = e
        left = deadline - time.monotonic()
        if left <= 0:
            raise ClusterUnavailable(
                f"no Ray cluster answered at {host}:{port} within {timeout:g} s "
                f"({error.strerror or error}); is the cluster up? (--connect-timeout sets the wait)")
        time.sleep(min(0.5, left))


def _resolve(address: str) -> Optional[tuple[str, int]]:
    """(host, port) to probe for an address, or None when there is nothing to probe."""
    if address == "auto":
        try:        # Ray's own lookup of the cluster started on this machine
            from ray._private.services import canonicalize_bootstrap_address
            address = canonicalize_bootstrap_address(address) or ""
        except Exception:
            return None
    m = re.fullmatch(r"(?:ray://)?\[?([^\]/]+?)\]?:(\d+)/?", address)
    return (m.group(1), int(m.group(2))) if m else None


@contextmanager
def _keep_signal_handlers() -> Iterator[None]:
    """Undo the SIGTERM (and SIGINT) handlers ``ray.init`` installs, in the main thread."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    saved = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for s, handler in saved.items():
            if handler is not None and signal.getsignal(s) is not handler:
                signal.signal(s, handler)


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__
