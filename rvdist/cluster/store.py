"""The checkpoint store: where node agents keep jobs' snapshot chains.

A job's checkpoints form a chain: a full snapshot, then increments that
hold only the pages written since the previous checkpoint (each names its
parent). Now and then the agent writes a full snapshot again, which
replaces the chain: that is the compaction. Agents write and read the
store themselves, so checkpoints never pass through the driver, and the
store outlives any worker node:

- :class:`DirStore` keeps chains as files under a directory that every
  node can reach: a local path (one machine, or a shared filesystem) or an
  fsspec URL (``s3://bucket/prefix``, ``gs://...``; needs ``fsspec`` and
  the filesystem's package). Layout: ``<job_id>.snap`` is the chain's full
  snapshot, ``<job_id>.snap.<epoch>.<seq>`` its increments, and
  ``<job_id>.result.json`` a finished job's result (written by the driver).
- :class:`Keeper` is an actor on the driver's node (the head node, for a
  driver started there) that keeps chains the same way in a directory on
  its node: a private one by default, or a ``checkpoint_dir`` that is a
  local path (so that a path on the driver's machine works on any
  cluster); :class:`KeeperStore` is the handle agents use. With a
  ``checkpoint_dir`` URL, agents write there directly.

Reading follows parent ids from the full snapshot, so an increment left
over from before a compaction, or from an agent that lost the job, is
ignored rather than applied.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Any, Optional, Protocol

from rvdist.errors import ConfigError, SnapshotError
from rvdist.snapshot import Snapshot

__all__ = ["CheckpointStore", "DirStore", "Keeper", "KeeperStore", "open_store"]

_INC = re.compile(r"^(?P<job>.+)\.snap\.(?P<epoch>\d+)\.(?P<seq>\d+)$")


class CheckpointStore(Protocol):
    """What agents and the control plane need of a store."""

    def write(self, job_id: str, epoch: int, seq: int, full: bool, data: Any) -> int:
        """Store one checkpoint (a full one replaces the chain); returns its size."""

    def read(self, job_id: str) -> list[bytes]:
        """The job's chain, oldest first ([] if it has none)."""

    def delete(self, job_id: str) -> None:
        """Forget the job's chain."""


class _Files:
    """The few file operations a store needs, on a local path or through fsspec."""

    def __init__(self, root: str) -> None:
        self.root = root
        self.url = "://" in root
        if self.url:
            try:
                import fsspec
            except ImportError:
                raise ConfigError(f"checkpoint_dir {root!r} is a URL, which needs fsspec "
                                  f"(pip install fsspec)") from None
            self.fs, self.base = fsspec.core.url_to_fs(root)
            self.fs.makedirs(self.base, exist_ok=True)
        else:
            self.fs, self.base = None, root
            try:
                Path(root).mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise ConfigError(f"cannot use checkpoint directory {root}: "
                                  f"{e.strerror or e}") from None

    def path(self, name: str) -> str:
        return f"{self.base.rstrip('/')}/{name}"

    def write(self, name: str, data: Any) -> None:
        """Write a file whole: readers see the old file or the new one, never a part."""
        path = self.path(name)
        if self.fs is not None:
            self.fs.pipe_file(path, bytes(data))     # object stores put atomically
            return
        tmp = self.path(f".{name}.{threading.get_ident()}.tmp")
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)

    def read(self, name: str) -> Optional[bytes]:
        try:
            if self.fs is not None:
                return self.fs.cat_file(self.path(name))
            with open(self.path(name), "rb") as f:
                return f.read()
        except (FileNotFoundError, OSError):
            return None

    def remove(self, name: str) -> None:
        try:
            if self.fs is not None:
                self.fs.rm_file(self.path(name))
            else:
                os.unlink(self.path(name))
        except (FileNotFoundError, OSError):
            pass

    def names(self, prefix: str) -> list[str]:
        if self.fs is not None:
            found = self.fs.glob(self.path(glob_escape(prefix)) + "*")
            return [p.rsplit("/", 1)[-1] for p in found]
        try:
            return [n for n in os.listdir(self.base) if n.startswith(prefix)]
        except FileNotFoundError:
            return []


def glob_escape(text: str) -> str:
    return re.sub(r"([*?\[\]])", r"[\1]", text)


class DirStore:
    """Checkpoint chains as files under ``root`` (a path or an fsspec URL)."""

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = str(root)
        self._files = _Files(self.root)

    def __reduce__(self) -> tuple:
        return (DirStore, (self.root,))      # agents open their own handle

    def write(self, job_id: str, epoch: int, seq: int, full: bool, data: Any) -> int:
        if full:
            self._files.write(f"{job_id}.snap", data)
            for name in self._increments(job_id):
                self._files.remove(name)
        else:
            self._files.write(f"{job_id}.snap.{epoch}.{seq}", data)
        return len(data)

    def read(self, job_id: str) -> list[bytes]:
        base = self._files.read(f"{job_id}.snap")
        if base is None:
            return []
        chain = [base]
        tip = Snapshot.from_bytes(base).id
        children: dict[str, list[tuple[int, int, bytes]]] = {}
        for name in self._increments(job_id):
            data = self._files.read(name)
            m = _INC.match(name)
            if data is None or m is None:
                continue
            try:
                parent = Snapshot.from_bytes(data).parent
            except SnapshotError:
                continue
            if parent is not None:
                children.setdefault(parent, []).append(
                    (int(m["epoch"]), int(m["seq"]), data))
        while tip in children:
            # Two children of one parent: an agent that lost the job wrote on;
            # the later placement (higher epoch) is the one that counts.
            data = max(children.pop(tip))[2]
            chain.append(data)
            tip = Snapshot.from_bytes(data).id
        return chain

    def delete(self, job_id: str) -> None:
        for name in self._increments(job_id):
            self._files.remove(name)
        self._files.remove(f"{job_id}.snap")

    def has_chain(self, job_id: str) -> bool:
        return self._files.read(f"{job_id}.snap") is not None

    # -- results (the driver's) ------------------------------------------------------

    def write_result(self, job_id: str, data: bytes) -> None:
        self._files.write(f"{job_id}.result.json", data)

    def read_result(self, job_id: str) -> Optional[bytes]:
        return self._files.read(f"{job_id}.result.json")

    def _increments(self, job_id: str) -> list[str]:
        return [n for n in self._files.names(f"{job_id}.snap.") if _INC.match(n)
                and _INC.match(n)["job"] == job_id]


class Keeper:
    """An actor on the driver's node keeping chains in a directory there:
    ``root`` (a ``checkpoint_dir`` on the driver's machine), or by default a
    private one, removed when the keeper stops."""

    def __init__(self, root: Optional[str] = None) -> None:
        self._private = root is None
        self._dir = tempfile.mkdtemp(prefix="rvdist-keeper-") if root is None else root
        self._store = DirStore(self._dir)
        self._lock = threading.Lock()
        self._bytes = 0
        self._writes = 0

    def write(self, job_id: str, epoch: int, seq: int, full: bool, data: Any) -> int:
        n = self._store.write(job_id, epoch, seq, full, data)
        with self._lock:
            self._bytes += n
            self._writes += 1
        return n

    def read(self, job_id: str) -> list[bytes]:
        return self._store.read(job_id)

    def delete(self, job_id: str) -> None:
        self._store.delete(job_id)

    def stats(self) -> dict[str, Any]:
        """Bytes and checkpoints written so far, the node and the jobs held."""
        import ray
        names = os.listdir(self._dir)
        return {"bytes_written": self._bytes, "writes": self._writes,
                "node": ray.get_runtime_context().get_node_id(), "pid": os.getpid(),
                "jobs": sorted({n.split(".snap")[0] for n in names if ".snap" in n})}

    def close(self) -> None:
        if self._private:
            shutil.rmtree(self._dir, ignore_errors=True)


class KeeperStore:
    """An agent's (or the driver's) handle on the :class:`Keeper` actor."""

    def __init__(self, actor: Any) -> None:
        self.actor = actor
        self._deletes: list[Any] = []

    def __reduce__(self) -> tuple:
        return (KeeperStore, (self.actor,))

    def write(self, job_id: str, epoch: int, seq: int, full: bool, data: Any) -> int:
        import ray
        return ray.get(self.actor.write.remote(job_id, epoch, seq, full, data), timeout=300)

    def read(self, job_id: str) -> list[bytes]:
        import ray
        return ray.get(self.actor.read.remote(job_id), timeout=300)

    def delete(self, job_id: str) -> None:
        """Forget a chain; nothing waits for it but :meth:`flush`."""
        import ray
        self._deletes.append(self.actor.delete.remote(job_id))
        if len(self._deletes) > 64:
            _, self._deletes = ray.wait(self._deletes, num_returns=len(self._deletes), timeout=0)

    def flush(self, timeout: float = 30) -> None:
        """Wait until the deletions asked for so far are done."""
        import ray
        if self._deletes:
            ray.wait(self._deletes, num_returns=len(self._deletes), timeout=timeout)
            self._deletes = []


def open_store(checkpoint_dir: Any) -> DirStore:
    """A :class:`DirStore` for a ``checkpoint_dir`` (path or URL)."""
    return DirStore(checkpoint_dir)
