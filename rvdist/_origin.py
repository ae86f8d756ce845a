"""Which copy of rvdist this is: never a source tree without its compiled
core, and a fingerprint of its code to compare a driver's with its hosts'.

A checkout of rvdist holds ``rvdist/`` without ``_core`` (the C core that
pip compiles at install time). Whenever that checkout comes first on
``sys.path`` it shadows the installed package. Ray's workers get there by
themselves: they put the driver's working directory (and ``ray job submit
--working-dir``'s upload) ahead of site-packages. So ``pip install . &&
rvdist demo`` run from the checkout's root would start host actors that
import the checkout and fail.

:func:`check` runs first thing in ``rvdist/__init__.py``. In a Ray worker
it points the package at the installed copy instead of the shadowing one;
anywhere else it refuses with an ImportError that says what to do.

:func:`fingerprint` digests the package's Python sources, so the executor
can refuse a host that imported different rvdist code than its driver (an
older install on a node, or another built checkout in the way).
"""

from __future__ import annotations

import functools
import hashlib
import importlib.machinery
import os
import sys
from typing import Optional


def has_core(package_dir: str) -> bool:
    """Whether ``package_dir`` holds a ``_core`` extension this interpreter can load."""
    return any(os.path.isfile(os.path.join(package_dir, "_core" + suffix))
               for suffix in importlib.machinery.EXTENSION_SUFFIXES)


def _in_ray_worker() -> bool:
    worker = sys.modules.get("ray._private.worker")
    if worker is None:
        return False
    mode = getattr(getattr(worker, "global_worker", None), "mode", None)
    return mode is not None and mode == getattr(worker, "WORKER_MODE", object())


def _built_elsewhere(name: str, shadow_dir: str) -> Optional[str]:
    """The directory of another importable ``name`` package with its core, if any.

    Asks every import finder (so an editable install's finder counts too),
    each time with the path entries holding a core-less copy taken out.
    """
    skipped = {os.path.realpath(os.path.dirname(shadow_dir))}
    saved = list(sys.path)
    try:
        for _ in range(len(saved) + 1):
            sys.path[:] = [p for p in saved if os.path.realpath(p or os.curdir) not in skipped]
            found = None
            for finder in sys.meta_path:
                find = getattr(finder, "find_spec", None)
                spec = find(name, None) if find is not None else None
                if spec is not None and spec.submodule_search_locations:
                    found = list(spec.submodule_search_locations)[0]
                    break
            if found is None:
                return None
            if has_core(found) and os.path.realpath(found) != os.path.realpath(shadow_dir):
                return found
            skipped.add(os.path.realpath(os.path.dirname(found)))
        return None
    finally:
        sys.path[:] = saved


def check(name: str, path: list[str]) -> None:
    """Make sure package ``name`` (its ``__path__`` is ``path``) has its compiled core.

    In a Ray worker a core-less copy gives way: ``path`` is repointed, in
    place, at an installed copy that has one, so every submodule comes from
    there. Elsewhere (a driver, a script) the error says which copy shadows
    which, and how to get out of it.
    """
    here = path[0]
    if has_core(here):
        return
    other = _built_elsewhere(name, here)
    if other is not None and _in_ray_worker():
        path[:] = [other]
        return
    if other is not None:
        raise ImportError(
            f"{here} is rvdist's source tree without its compiled core, and it shadows the "
            f"installed rvdist in {other}: run from another directory, or build the core in "
            f"place with 'python build_ffi.py'")
    raise ImportError(
        f"rvdist's compiled core (_core) is missing from {here}: install rvdist with "
        f"'pip install .', or build the core in place with 'python build_ffi.py'")


@functools.lru_cache(maxsize=None)
def fingerprint() -> str:
    """A digest of this rvdist's Python sources (the C core is built per node)."""
    here = _package_dir()
    digest = hashlib.sha256()
    for name in sorted(os.listdir(here)):
        if name.endswith(".py"):
            with open(os.path.join(here, name), "rb") as f:
                digest.update(name.encode() + b"\0" + f.read() + b"\0")
    return digest.hexdigest()[:16]


def origin() -> dict[str, str]:
    """Where this rvdist was imported from, and its :func:`fingerprint`."""
    return {"path": _package_dir(), "fingerprint": fingerprint()}


def _package_dir() -> str:
    # The package's __path__, not this file's folder: check() may have
    # repointed it after this module came from the shadowing copy.
    return os.path.abspath(sys.modules[__package__].__path__[0])
