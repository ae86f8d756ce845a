"""Snapshots: a machine's whole state between two slices, as bytes.

A snapshot is relative to the program image: it holds the registers, pc,
cycles, the LR/SC reservation, the I/O state, and only the pages written
since the image was loaded (a full snapshot) or since the previous snapshot
(an incremental one). Restoring loads the program image into a fresh
machine and lays the snapshot over it. The encoding is described in
docs/snapshot-format.md; in short::

    magic "RVDSNAP\\0" | u32 format | u32 header length | JSON header
    | u32[] data-page indices | u32[] zero-page indices
    | lz4 block of stdout part + stderr part + stdin
    | lz4 blocks of page data, up to 64 pages each
    | u32 crc32 of everything above except the page blocks

Each page block carries its own crc32 in the header, so every byte is
covered while each block is checked only when it is restored: a compressed
block before it is decompressed, a stored one while the core copies it into
guest memory (one pass, in C, with CRC instructions where the CPU has them).
"""

from __future__ import annotations

import json
import os
import struct
import zlib
from dataclasses import dataclass, field
from itertools import accumulate, compress
from itertools import chain as _concat
from operator import is_
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, Optional, Sequence, Union

import lz4.block

from rvdist import cost as _cost
from rvdist._core import ffi, lib
from rvdist.errors import SnapshotError

if TYPE_CHECKING:
    from rvdist.machine import Machine
    from rvdist.program import Program

__all__ = ["Snapshot", "FORMAT_VERSION", "MAGIC"]

MAGIC = b"RVDSNAP\0"
FORMAT_VERSION = 1
ISA = "rv64imac_zba_zbb_zbc_zbs"
PAGE_SIZE = lib.RV_PAGE_SIZE
#: Pages per compressed block: big enough to compress well, small enough to
#: stay in cache between compressing and checksumming.
CHUNK_PAGES = 64
#: Largest JSON header accepted on decode.
MAX_HEADER = 1 << 20
#: Default cap on the size of an encoded snapshot accepted by from_bytes().
DEFAULT_MAX_SNAPSHOT = 8 << 30

_PREFIX = struct.Struct("<8sII")
_U64 = (1 << 64) - 1
_STATUS_NAMES = {lib.RV_READY: "ready", lib.RV_EXITED: "exited", lib.RV_ERROR: "error"}
_STATUS_CODES = {v: k for k, v in _STATUS_NAMES.items()}


@dataclass
class Snapshot:
    """One snapshot, decoded into its header and still-compressed page blocks.

    ``header`` is the JSON-able state; ``data_pages`` and ``zero_pages`` are
    the page indices (ascending); ``chunks`` the lz4-compressed blocks of
    page contents, ``len(data_pages)`` pages in all. ``io`` holds the
    stdout and stderr written since the parent (all of it for a full
    snapshot) and, for a full snapshot, the whole stdin.
    """

    header: dict[str, Any]
    data_pages: bytes
    zero_pages: bytes
    io_block: bytes
    chunks: list[Any] = field(default_factory=list)     # bytes-like

    def __getstate__(self) -> dict[str, Any]:
        # Decoded page blocks are views into the encoded bytes; pickle them as bytes.
        state = dict(self.__dict__)
        state["chunks"] = [bytes(c) for c in self.chunks]
        state.pop("_decoded", None)     # views of the encoded bytes
        return state

    # -- identity -----------------------------------------------------------

    @property
    def id(self) -> str:
        """Unique id of this snapshot; an incremental child names it as ``parent``."""
        return self.header["id"]

    @property
    def parent(self) -> Optional[str]:
        """The id of the snapshot this one is relative to, or None for a full snapshot."""
        return self.header["parent"]

    @property
    def incremental(self) -> bool:
        return self.header["parent"] is not None

    @property
    def program_digest(self) -> str:
        return self.header["program"]["digest"]

    @property
    def cycles(self) -> int:
        return self.header["state"]["cycles"]

    # -- encoding -----------------------------------------------------------

    def _parts(self) -> list[bytes]:
        head = json.dumps(self.header, separators=(",", ":"), sort_keys=True).encode()
        return [_PREFIX.pack(MAGIC, FORMAT_VERSION, len(head)), head,
                self.data_pages, self.zero_pages, self.io_block]

    def to_bytes(self) -> bytes:
        """Encode the snapshot (see docs/snapshot-format.md)."""
        parts = self._parts()
        crc = 0
        for p in parts:
            crc = _crc32(p, crc)
        return b"".join(parts + self.chunks + [struct.pack("<I", crc)])

    def save(self, path: Union[str, os.PathLike]) -> None:
        """Write the encoded snapshot to ``path`` atomically (via a temporary file)."""
        path = Path(path)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            with open(tmp, "wb") as f:
                f.write(self.to_bytes())
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except OSError as e:
            tmp.unlink(missing_ok=True)
            raise SnapshotError(f"cannot write snapshot to {path}: {e.strerror or e}") from None

    @classmethod
    def load(cls, path: Union[str, os.PathLike], *, max_size: int = DEFAULT_MAX_SNAPSHOT) -> "Snapshot":
        """Read and decode a snapshot file; SnapshotError if unreadable or invalid."""
        try:
            size = os.path.getsize(path)
            if size > max_size:
                raise SnapshotError(f"{path}: {size} bytes is more than the {max_size} accepted")
            data = Path(path).read_bytes()
        except OSError as e:
            raise SnapshotError(f"cannot read snapshot {path}: {e.strerror or e}") from None
        return cls.from_bytes(data, max_size=max_size)

    @classmethod
    def from_bytes(cls, data: bytes, *, max_size: int = DEFAULT_MAX_SNAPSHOT) -> "Snapshot":
        """Decode an encoded snapshot, checking its structure and checksum.

        Page blocks stay compressed; each is checked against its own crc32
        when it is restored. Raises :class:`SnapshotError` for anything that
        is not a well-formed snapshot of a known format version.
        """
        if not isinstance(data, bytes):
            data = bytes(data)      # page blocks stay views into it: it must not change
        view = memoryview(data)
        n = len(view)
        if n > max_size:
            raise SnapshotError(f"snapshot of {n} bytes is more than the {max_size} accepted")
        if n < _PREFIX.size + 4:
            raise SnapshotError(f"truncated snapshot: {n} bytes is too short to hold a header")
        magic, version, head_len = _PREFIX.unpack_from(view, 0)
        if magic != MAGIC:
            raise SnapshotError("not an rvdist snapshot (bad magic)")
        if version != FORMAT_VERSION:
            raise SnapshotError(f"unknown snapshot format version {version} "
                                f"(this rvdist reads version {FORMAT_VERSION})")
        if head_len > MAX_HEADER or _PREFIX.size + head_len + 4 > n:
            raise SnapshotError(f"truncated or malformed snapshot: header length {head_len} "
                                f"does not fit in {n} bytes")
        pos = _PREFIX.size
        try:
            header = json.loads(str(view[pos:pos + head_len], "utf-8"))
            layout = _check_header(header)
        except (ValueError, KeyError, TypeError, AttributeError, IndexError, RecursionError) as e:
            raise SnapshotError(f"malformed snapshot header: {str(e)[:200]}") from None
        pos += head_len
        expected = pos + layout.tables + layout.io_len + layout.chunk_bytes + 4
        if expected != n:
            raise SnapshotError(f"truncated or malformed snapshot: {n} bytes, "
                                f"the header describes {expected}")
        body_end = pos + layout.tables + layout.io_len
        (stored,) = struct.unpack_from("<I", view, n - 4)
        if _crc32(view[:body_end]) != stored:
            raise SnapshotError("snapshot checksum mismatch: the data is corrupt")
        data_pages = bytes(view[pos:pos + 4 * layout.n_data])
        pos += 4 * layout.n_data
        zero_pages = bytes(view[pos:pos + 4 * layout.n_zero])
        pos += 4 * layout.n_zero
        io_block = bytes(view[pos:pos + layout.io_len])
        pos += layout.io_len
        ends = list(accumulate(layout.table[1::4], initial=pos))
        chunks = [view[a:b] for a, b in zip(ends, ends[1:])]    # views: no copy of page data
        snap = cls(header, data_pages, zero_pages, io_block, chunks)
        snap._check_pages(header["config"]["memory_size"] // PAGE_SIZE)
        snap.__dict__["_decoded"] = _Decoded(layout, data_pages, zero_pages, tuple(chunks),
                                             view[pos:ends[-1]])
        return snap

    def _checked_layout(self) -> Optional["_Layout"]:
        """The layout from_bytes checked, if nobody could have changed the
        snapshot since: then restore() need not check it all again."""
        d = self.__dict__.get("_decoded")
        if d is None or d.layout is None or self.data_pages is not d.data_pages or \
                self.zero_pages is not d.zero_pages or not self._same_chunks(d):
            return None
        return d.layout

    def _same_chunks(self, d: "_Decoded") -> bool:
        return len(d.chunks) == len(self.chunks) and all(map(is_, d.chunks, self.chunks))

    def _packed_blocks(self) -> Optional[memoryview]:
        """The page blocks back to back, if they still are the ones decoded."""
        d = self.__dict__.get("_decoded")
        return d.blocks if d is not None and self._same_chunks(d) else None

    def _check_pages(self, npages: int) -> None:
        """Page indices must be in memory, ascending and not listed twice."""
        if lib.rv_check_page_lists(ffi.from_buffer("uint32_t[]", self.data_pages), len(self.data_pages) // 4,
                                   ffi.from_buffer("uint32_t[]", self.zero_pages), len(self.zero_pages) // 4,
                                   npages):
            raise SnapshotError("malformed snapshot: page indices out of range, not ascending, "
                                "or listed twice")

    # -- contents -----------------------------------------------------------

    def io(self) -> tuple[bytes, bytes, Optional[bytes]]:
        """(stdout part, stderr part, stdin or None): the I/O this snapshot carries."""
        io = self.header["io"]
        total = io["stdout_part"] + io["stderr_part"] + io["stdin_len"]
        try:
            raw = lz4.block.decompress(self.io_block, uncompressed_size=total) if total else b""
        except lz4.block.LZ4BlockError as e:
            raise SnapshotError(f"corrupt I/O block in snapshot: {e}") from None
        if len(raw) != total:
            raise SnapshotError("corrupt I/O block in snapshot: wrong decompressed size")
        a, b = io["stdout_part"], io["stdout_part"] + io["stderr_part"]
        return raw[:a], raw[a:b], (raw[b:] if not self.incremental else None)

    def pages(self):
        """Yield ``(page indices, decompressed bytes)`` for each page block, checked."""
        layout = _Layout.from_header(self.header)
        idx = memoryview(self.data_pages).cast("I")
        start = 0
        for block, chunk in zip(layout.chunks, self.chunks):
            yield idx[start:start + block[0]], _open_block(block, chunk, start)
            start += block[0]

    def info(self) -> dict[str, Any]:
        """A summary: ids, sizes, page counts and compression ratio."""
        layout = _Layout.from_header(self.header)
        raw = layout.n_data * PAGE_SIZE
        st = self.header["state"]
        return {
            "id": self.id,
            "parent": self.parent,
            "incremental": self.incremental,
            "format_version": FORMAT_VERSION,
            "core_version": self.header["core_version"],
            "program": self.header["program"],
            "memory_size": self.header["config"]["memory_size"],
            "cost_model": self.header["config"]["cost_model"],
            "status": st["status"],
            "pc": st["pc"],
            "cycles": st["cycles"],
            "pages": layout.n_data + layout.n_zero,
            "data_pages": layout.n_data,
            "zero_pages": layout.n_zero,
            "page_bytes": raw,
            "compressed_page_bytes": layout.chunk_bytes,
            "encoded_bytes": sum(len(p) for p in self._parts()) + layout.chunk_bytes + 4,
            "ratio": round(raw / layout.chunk_bytes, 3) if layout.chunk_bytes else None,
            "stdout_bytes": self.header["io"]["stdout_len"],
            "stderr_bytes": self.header["io"]["stderr_len"],
        }

    @staticmethod
    def compact(chain: Sequence["Snapshot"]) -> "Snapshot":
        """Merge a full snapshot and its increments into one full snapshot.

        The result has the id of the last snapshot of the chain, so that
        increments taken after it still name the right parent.
        """
        _check_chain(chain)
        pages: dict[int, Optional[bytes]] = {}
        stdout, stderr, stdin = b"", b"", b""
        for snap in chain:
            for z in memoryview(snap.zero_pages).cast("I"):
                pages[z] = None
            for idx, raw in snap.pages():
                for i, p in enumerate(idx):
                    pages[p] = raw[i * PAGE_SIZE:(i + 1) * PAGE_SIZE]
            out, err, sin = snap.io()
            stdout += out
            stderr += err
            if sin is not None:
                stdin = sin
        header = json.loads(json.dumps(chain[-1].header))
        header["parent"] = None
        data = sorted(p for p, v in pages.items() if v is not None)
        zero = sorted(p for p, v in pages.items() if v is None)
        return _encode(header, struct.pack(f"<{len(data)}I", *data),
                       struct.pack(f"<{len(zero)}I", *zero),
                       lambda start, count: b"".join(pages[p] for p in data[start:start + count]),
                       stdout, stderr, stdin)


def _get_header(snap: Snapshot) -> dict[str, Any]:
    _header_out(snap)
    return snap.__dict__["header"]


def _set_header(snap: Snapshot, header: dict[str, Any]) -> None:
    _header_out(snap)
    snap.__dict__["header"] = header


def _header_out(snap: Snapshot) -> None:
    """Whoever gets hold of the header may change it, now or later: from then on
    restore() checks the header again instead of trusting from_bytes' check."""
    d = snap.__dict__.get("_decoded")
    if d is not None and d.layout is not None:
        snap.__dict__["_decoded"] = d._replace(layout=None)


# A property, so that the header of a decoded snapshot is checked once if
# nobody else touched it: checking it costs as much as parsing it.
Snapshot.header = property(_get_header, _set_header,    # type: ignore[assignment]
                           doc="The snapshot's JSON header (docs/snapshot-format.md).")


@dataclass(frozen=True)
class _Layout:
    """Section sizes described by a header, validated."""

    n_data: int
    n_zero: int
    io_len: int
    chunks: list[list[int]]     # per page block: pages, bytes, crc32, stored raw
    chunk_bytes: int
    table: list[int]        # the same, flat: 4 numbers per block
    n_raw: int              # blocks stored raw

    @property
    def tables(self) -> int:
        return 4 * (self.n_data + self.n_zero)

    @classmethod
    def from_header(cls, h: dict[str, Any]) -> "_Layout":
        """Check the header (see _check_header) and describe its sections."""
        return _check_header(h)


class _Decoded(NamedTuple):
    """What from_bytes checked: the layout (None once the header got out), the
    page tables and blocks it checked it against, and the blocks as one span."""

    layout: Optional[_Layout]
    data_pages: bytes
    zero_pages: bytes
    chunks: tuple[Any, ...]
    blocks: memoryview


_HEX = frozenset("0123456789abcdef")
_I32 = (-(1 << 31), (1 << 31) - 1)
_ONLY_INT, _ONLY_LIST, _ONLY_4 = {int}, {list}, {4}
#: Largest stdout + stderr + stdin one snapshot may carry once decompressed.
MAX_IO_BYTES = 1 << 32


_KEYS = {
    "header": ("id", "parent", "core_version", "isa", "program", "config", "state", "io", "pages"),
    "program": ("digest", "name"),
    "config": ("memory_size", "cost_model", "costs", "output_limit", "max_cycles"),
    "state": ("pc", "x", "cycles", "reservation", "status", "exit_code", "error", "stdin_pos", "brk",
              "host_error"),
    "io": ("stdout_len", "stderr_len", "stdout_part", "stderr_part", "stdin_len", "io_block"),
    "pages": ("data", "zero", "chunks"),
}
_KEY_SETS = {what: frozenset(keys) for what, keys in _KEYS.items()}
#: Fields that are non-negative 64-bit integers (section, key), and
#: fixed-length lists of them (section, key, length).
_U64_FIELDS = (("config", "memory_size"), ("config", "output_limit"), ("state", "pc"),
               ("state", "cycles"), ("state", "reservation"), ("state", "stdin_pos"),
               ("pages", "data"), ("pages", "zero"))
_U64_LISTS = (("config", "costs", lib.RV_NCLASSES), ("state", "x", 32), ("state", "error", 6),
              ("state", "brk", 3))


def _obj(v: Any, what: str) -> dict:
    if type(v) is not dict:
        raise ValueError(f"{what} must be an object")
    if not _KEY_SETS[what] <= v.keys():
        raise ValueError(f"{what} lacks {', '.join(k for k in _KEYS[what] if k not in v)}")
    return v


def _hex_id(v: Any, what: str) -> None:
    if type(v) is not str or not 0 < len(v) <= 64 or not _HEX.issuperset(v):
        raise ValueError(f"{what} must be a hex string, got {v!r}")


def _check_header(h: Any) -> _Layout:
    """Check every field a restore relies on, so nothing untrusted reaches the core,
    and return the section sizes the header describes.

    Raises ValueError (or KeyError/TypeError) naming the first bad field. This
    runs on every decode and every restore, so all the integers are checked
    at once (_check_ints names a bad one).
    """
    _obj(h, "header")
    sect = {k: _obj(h[k], k) for k in ("program", "config", "state", "io", "pages")}
    prog, cfg, st, io, pages = sect.values()
    _hex_id(h["id"], "id")
    if h["parent"] is not None:
        _hex_id(h["parent"], "parent")
    if type(h["isa"]) is not str:
        raise ValueError("isa must be a string")
    _hex_id(prog["digest"], "program digest")
    if prog["name"] is not None and type(prog["name"]) is not str:
        raise ValueError("program name must be a string")
    if type(cfg["cost_model"]) is not str:
        raise ValueError("cost_model must be a string")
    if st["host_error"] is not None and type(st["host_error"]) is not str:
        raise ValueError("host_error must be a string or null")
    if type(st["status"]) is not str or st["status"] not in _STATUS_CODES:
        raise ValueError(f"unknown status {st['status']!r}")
    if not isinstance(st["exit_code"], int) or not _I32[0] <= st["exit_code"] <= _I32[1]:
        raise ValueError("exit_code must be a 32-bit integer")
    if cfg["max_cycles"] is not None:
        _int(cfg["max_cycles"], "max_cycles")
    for s, k, n in _U64_LISTS:
        if type(sect[s][k]) is not list or len(sect[s][k]) != n:
            raise ValueError(f"{k} must be a list of {n} integers")
    table = _block_entries(pages["chunks"])
    _check_ints(h, sect, table)

    size = cfg["memory_size"]
    if size % PAGE_SIZE or not PAGE_SIZE <= size <= 1 << 32:
        raise ValueError(f"memory_size {size} is not a page multiple up to 4 GiB")
    if min(cfg["costs"]) < 1 or max(cfg["costs"]) > lib.RV_MAX_COST:
        raise ValueError(f"costs must each be 1..{lib.RV_MAX_COST}")
    kind, bits, *_ = st["error"]
    if kind > lib.RV_ERR_HOST or bits >= 1 << 32:
        raise ValueError("error kind or bits out of range")
    brk, lo, hi = st["brk"]
    if not lo <= brk <= hi <= size:
        raise ValueError(f"brk {brk:#x} outside [{lo:#x}, {hi:#x}] or past memory")

    if io["stdout_part"] > io["stdout_len"] or io["stderr_part"] > io["stderr_len"]:
        raise ValueError("an output part is longer than the output")
    plain = io["stdout_part"] + io["stderr_part"] + io["stdin_len"]
    # lz4 expands at most ~255x: anything more is a decompression bomb.
    if plain > MAX_IO_BYTES or plain > 255 * io["io_block"] + 64:
        raise ValueError(f"I/O block claims {plain} bytes from {io['io_block']} compressed")
    if h["parent"] is not None and io["stdin_len"]:
        raise ValueError("an incremental snapshot carries stdin")
    if h["parent"] is None and st["stdin_pos"] > io["stdin_len"]:
        raise ValueError("stdin position beyond stdin")

    n_data, n_zero = pages["data"], pages["zero"]
    if n_data + n_zero > size // PAGE_SIZE:
        raise ValueError(f"{n_data + n_zero} pages listed in a memory of {size // PAGE_SIZE}")
    return _Layout(n_data, n_zero, io["io_block"], *_check_blocks(pages["chunks"], table, n_data))


def _block_entries(table: Any) -> list[Any]:
    """The page block table's numbers, flat, once it is a list of lists of 4."""
    if type(table) is not list:
        raise ValueError("pages.chunks must be a list")
    if table and (set(map(type, table)) != _ONLY_LIST or set(map(len, table)) != _ONLY_4):
        raise ValueError("page block entry must be a list of 4 integers")
    return list(_concat.from_iterable(table))


def _check_ints(h: dict, sect: dict, table: list[Any]) -> None:
    """Every integer field at once; only if one is bad, each on its own to name it."""
    nums = [h["core_version"], *[sect[s][k] for s, k in _U64_FIELDS], *sect["io"].values(),
            *_concat.from_iterable(sect[s][k] for s, k, _ in _U64_LISTS), *table]
    if set(map(type, nums)) == _ONLY_INT and min(nums) >= 0 and max(nums) <= _U64:
        return
    _int(h["core_version"], "core_version")
    for s, k in _U64_FIELDS:
        _int(sect[s][k], k)
    for k, v in sect["io"].items():
        _int(v, k)
    for s, k, _ in _U64_LISTS:
        for v in sect[s][k]:
            _int(v, k)
    for v in table:
        _int(v, "page block entry")
    raise ValueError("an integer field is out of range")


def _check_blocks(table: list[list[int]], flat: list[int], n_data: int) -> tuple[list, int, list[int], int]:
    """The page block table, the blocks' total size, the table flat, and the
    number of raw blocks; flat holds checked integers already."""
    counts, sizes, raws = flat[0::4], flat[1::4], flat[3::4]
    if sum(counts) != n_data or (counts and (min(counts) < 1 or max(counts) > CHUNK_PAGES)):
        raise ValueError("page blocks do not add up to the data pages")
    n_raw = sum(raws)
    if n_raw and (max(raws) > 1 or
                  list(compress(sizes, raws)) != [c * PAGE_SIZE for c in compress(counts, raws)]):
        raise ValueError("a raw page block has the wrong size")
    return table, sum(sizes), flat, n_raw


def _int(v: Any, what: str) -> int:
    if type(v) is not int or not 0 <= v <= _U64:
        raise ValueError(f"{what} must be a non-negative integer, got {v!r}")
    return v


def _check_chain(chain: Sequence[Snapshot]) -> None:
    if not chain:
        raise SnapshotError("an empty list of snapshots")
    if chain[0].incremental:
        raise SnapshotError(f"snapshot chain starts with incremental snapshot {chain[0].id} "
                            f"(parent {chain[0].parent}); it needs its full base first")
    base = chain[0].header
    for prev, snap in zip(chain, chain[1:]):
        if snap.parent != prev.id:
            raise SnapshotError(f"broken snapshot chain: {snap.id} names parent {snap.parent}, "
                                f"but follows {prev.id}")
        h = snap.header
        for key in ("program", "core_version", "isa"):
            if h[key] != base[key]:
                raise SnapshotError(f"snapshot {snap.id} differs from its base {chain[0].id} in {key}")
        if h["config"]["memory_size"] != base["config"]["memory_size"] or \
                h["config"]["costs"] != base["config"]["costs"]:
            raise SnapshotError(f"snapshot {snap.id} has a different machine configuration "
                                f"from the base snapshot {chain[0].id}")


def _encode(header: dict[str, Any], data_pages: bytes, zero_pages: bytes, gather,
            stdout: bytes, stderr: bytes, stdin: Optional[bytes]) -> Snapshot:
    """Build a Snapshot. ``data_pages``/``zero_pages`` are packed u32 page
    indices; ``gather(start, count)`` returns the contents of data pages
    ``start .. start+count`` of that list as one buffer."""
    n_data = len(data_pages) // 4
    chunks, table = [], []
    for start in range(0, n_data, CHUNK_PAGES):
        count = min(CHUNK_PAGES, n_data - start)
        plain = gather(start, count)
        c = lz4.block.compress(plain, store_size=False)
        # Incompressible pages are kept as they are: restoring them is then one copy.
        stored_raw = len(c) >= count * PAGE_SIZE
        if stored_raw:
            c = bytes(plain)
        chunks.append(c)
        table.append([count, len(c), _crc32(c), int(stored_raw)])
    io_raw = stdout + stderr + (stdin or b"")
    io_block = lz4.block.compress(io_raw, store_size=False) if io_raw else b""
    header["pages"] = {"data": n_data, "zero": len(zero_pages) // 4, "chunks": table}
    header["io"].update(stdout_part=len(stdout), stderr_part=len(stderr),
                        stdin_len=len(stdin or b""), io_block=len(io_block))
    return Snapshot(header, data_pages, zero_pages, io_block, chunks)


# -- taking and restoring ---------------------------------------------------

def capture(machine: "Machine", incremental: bool) -> Snapshot:
    """Snapshot a machine (see :meth:`rvdist.Machine.snapshot`)."""
    m = machine._m
    if m.status == lib.RV_HOST_CALL:
        raise SnapshotError(f"cannot snapshot while host call {int(m.host_call)} is pending: "
                            f"complete it first (complete_host_call)")
    parent = machine._snapshot_id if incremental else None
    mask = lib.RV_PAGE_DIRTY if parent is not None else lib.RV_PAGE_TOUCHED
    npages = machine.memory_size // PAGE_SIZE
    data = ffi.new("uint32_t[]", npages)
    zero = ffi.new("uint32_t[]", npages)
    nd, nz = ffi.new("uint64_t *"), ffi.new("uint64_t *")
    lib.rv_list_pages(m, mask, data, nd, zero, nz)
    n_data, n_zero = nd[0], nz[0]

    out_from, err_from = machine._snapshot_output if parent is not None else (0, 0)
    stdout = machine.output_since(1, out_from)
    stderr = machine.output_since(2, err_from)
    header = {
        "id": os.urandom(16).hex(),     # 128 random bits, as uuid4 but cheaper
        "parent": parent,
        "core_version": lib.RV_CORE_VERSION,
        "isa": ISA,
        "program": {"digest": machine.program.digest, "name": machine.program.name},
        "config": {
            "memory_size": machine.memory_size,
            "cost_model": machine.cost_model,
            "costs": list(machine.cost_table.values()),
            "output_limit": int(m.out_cap),
            "max_cycles": machine.max_cycles,
        },
        "state": {
            "pc": int(m.pc),
            "x": [int(v) for v in list(m.x)[:32]],
            "cycles": int(m.cycles),
            "reservation": int(m.reservation),
            "status": _STATUS_NAMES[int(m.status)],
            "exit_code": int(m.exit_code),
            "error": [int(m.err_kind), int(m.err_bits), int(m.err_pc), int(m.err_addr),
                      int(m.host_call), int(m.host_call_pc)],
            "stdin_pos": int(m.stdin_pos),
            "brk": [int(m.brk), int(m.brk_min), int(m.brk_max)],
            # A failed host-call handler is a Python exception: keep its message.
            "host_error": str(machine._host_error) if m.status == lib.RV_ERROR and
            m.err_kind == lib.RV_ERR_HOST and machine._host_error else None,
        },
        "io": {"stdout_len": machine.output_length(1), "stderr_len": machine.output_length(2)},
    }
    buf = ffi.new("uint8_t[]", CHUNK_PAGES * PAGE_SIZE)

    def gather(start: int, count: int) -> Any:
        first = data[start]
        if data[start + count - 1] - first == count - 1:     # contiguous: no copy needed
            return ffi.buffer(m.mem + first * PAGE_SIZE, count * PAGE_SIZE)
        lib.rv_gather_pages(m, data + start, count, buf)
        return ffi.buffer(buf, count * PAGE_SIZE)

    snap = _encode(header, ffi.buffer(data, 4 * n_data)[:], ffi.buffer(zero, 4 * n_zero)[:],
                   gather, stdout, stderr, None if parent is not None else machine.stdin)

    lib.rv_clear_page_flags(m, lib.RV_PAGE_DIRTY)
    machine._snapshot_id = header["id"]
    machine._snapshot_output = (header["io"]["stdout_len"], header["io"]["stderr_len"])
    return snap


def restore(machine_cls, program: "Program", snapshots: Union[Snapshot, Sequence[Snapshot]],
            max_cycles: Any, output_limit: Optional[int]) -> "Machine":
    """Build a fresh machine from ``program`` and a snapshot or chain of them."""
    chain = [snapshots] if isinstance(snapshots, Snapshot) else list(snapshots)
    layouts = [_restorable_layout(snap) for snap in chain]
    _check_compatible(chain, program)
    last = chain[-1].header
    machine = _new_machine(machine_cls, program, last["config"], output_limit)
    stdout, stderr = _restore_io(machine, chain)
    _restore_state(machine, last["state"], stdout, stderr)
    if max_cycles is not ...:
        machine.max_cycles = max_cycles     # a raised limit also lifts a CyclesExceeded stop
    machine._snapshot_id = chain[-1].id
    machine._snapshot_output = (len(stdout), len(stderr))
    # The pages last: copying them in evicts whatever the Python above had in cache.
    for snap, layout in zip(chain, layouts):
        _apply_pages(machine._m, snap, layout)
    lib.rv_zero_stale(machine._m)
    return machine


def _check_compatible(chain: list[Snapshot], program: "Program") -> None:
    for snap in chain:
        h = snap.header
        if h["program"]["digest"] != program.digest:
            raise SnapshotError(f"snapshot {snap.id} is of program {h['program']['name']!r} "
                                f"(sha256 {h['program']['digest'][:16]}...), not of "
                                f"{program.name!r} (sha256 {program.digest[:16]}...)")
        if h["core_version"] != lib.RV_CORE_VERSION:
            raise SnapshotError(f"snapshot {snap.id} was taken by core version {h['core_version']}; "
                                f"this core is version {lib.RV_CORE_VERSION}")
        if h.get("isa") != ISA:
            raise SnapshotError(f"snapshot {snap.id} is for ISA {h.get('isa')!r}, not {ISA!r}")
    _check_chain(chain)


def _new_machine(machine_cls, program: "Program", cfg: dict[str, Any],
                 output_limit: Optional[int]) -> "Machine":
    try:
        machine = machine_cls.__new__(machine_cls)
        # Stale memory: pages reused from an earlier machine are zeroed only if
        # the snapshot does not overwrite them (rv_zero_stale, in restore()).
        machine._build(program, cfg["memory_size"], dict(zip(_cost.CLASSES, cfg["costs"])),
                       cfg["max_cycles"], cfg["output_limit"] if output_limit is None else output_limit,
                       stale=True)
    except Exception as e:  # ConfigError or ProgramError: the snapshot does not fit
        raise SnapshotError(f"incompatible snapshot configuration: {e}") from None
    machine.cost_model = cfg["cost_model"]
    return machine


def _restore_io(machine: "Machine", chain: list[Snapshot]) -> tuple[bytes, bytes]:
    """Give the machine its stdin; the captured stdout and stderr of the chain."""
    stdout, stderr = b"", b""
    for snap in chain:
        out, err, sin = snap.io()
        h = snap.header["io"]
        if len(stdout) + len(out) != h["stdout_len"] or len(stderr) + len(err) != h["stderr_len"]:
            raise SnapshotError(f"snapshot {snap.id}: captured output does not continue its parent's")
        stdout += out
        stderr += err
        if sin is not None:
            machine.stdin = sin
    return stdout, stderr


def _restore_state(machine: "Machine", st: dict[str, Any], stdout: bytes, stderr: bytes) -> None:
    m = machine._m
    x, err = st["x"], st["error"]
    try:
        m.x[1:32] = x[1:]
        m.pc, m.cycles, m.reservation = st["pc"], st["cycles"], st["reservation"]
        m.status, m.exit_code = _STATUS_CODES[st["status"]], st["exit_code"]
        m.err_kind, m.err_bits, m.err_pc, m.err_addr, m.host_call, m.host_call_pc = err
        if not 0 <= st["stdin_pos"] <= m.stdin_len:
            raise ValueError("stdin position beyond stdin")
        m.stdin_pos = st["stdin_pos"]
        m.brk, m.brk_min, m.brk_max = st["brk"]
    except (OverflowError, TypeError, ValueError) as e:
        raise SnapshotError(f"malformed snapshot state: {e}") from None
    for i, data in enumerate((stdout, stderr)):
        if data and lib.rv_append_output(m, i + 1, ffi.from_buffer(data), len(data)):
            raise SnapshotError("cannot allocate the captured output of the snapshot")
    if st["host_error"] is not None:
        from rvdist.errors import HostCallError
        machine._host_error = HostCallError(st["host_error"], pc=st["error"][2])


def _restorable_layout(snap: Any) -> _Layout:
    """The layout of a snapshot that is sound to restore: the one from_bytes
    checked if nothing could have changed since, else checked now (Snapshot
    objects may also be built by hand or edited: trust none)."""
    if not isinstance(snap, Snapshot):
        raise SnapshotError(f"expected Snapshot objects, got {type(snap).__name__}")
    layout = snap._checked_layout()
    if layout is not None:
        return layout
    try:
        layout = _check_header(snap.header)
    except (ValueError, KeyError, TypeError, AttributeError, IndexError) as e:
        raise SnapshotError(f"malformed snapshot header: {e}") from None
    if len(snap.chunks) != len(layout.chunks) or len(snap.data_pages) != 4 * layout.n_data \
            or len(snap.zero_pages) != 4 * layout.n_zero:
        raise SnapshotError(f"snapshot {snap.id}: page tables do not match its header")
    snap._check_pages(snap.header["config"]["memory_size"] // PAGE_SIZE)
    return layout


def _apply_pages(m: Any, snap: Snapshot, layout: _Layout) -> None:
    zero = snap.zero_pages
    if zero and lib.rv_scatter_pages(m, ffi.from_buffer("uint32_t[]", zero), len(zero) // 4, ffi.NULL):
        raise _unwritable(snap)
    idx = ffi.from_buffer("uint32_t[]", snap.data_pages)
    raw_done = bool(layout.n_raw) and _HW_CRC and _scatter_raw_blocks(m, snap, layout, idx)
    if raw_done and layout.n_raw == len(layout.chunks):
        return
    starts = list(accumulate(layout.table[0::4], initial=0))     # first data page of each block
    todo = range(len(layout.chunks))
    if raw_done:
        todo = [i for i, raw in enumerate(layout.table[3::4]) if not raw]
    for i in todo:
        plain = _open_block(layout.chunks[i], snap.chunks[i], starts[i])
        if lib.rv_scatter_pages(m, idx + starts[i], layout.chunks[i][0], ffi.from_buffer(plain)):
            raise _unwritable(snap)


def _scatter_raw_blocks(m: Any, snap: Snapshot, layout: _Layout, idx: Any) -> bool:
    """Copy in and check all the raw page blocks of a decoded snapshot with one
    call into the core, which reads each byte once. False if the blocks are
    not one span (a snapshot built by hand): then each is done on its own."""
    blocks = snap._packed_blocks()
    if blocks is None:
        return False
    bad = ffi.new("uint64_t *")
    err = lib.rv_scatter_raw_blocks(m, idx, layout.n_data, ffi.from_buffer(blocks), len(blocks),
                                    ffi.new("uint64_t[]", layout.table), len(layout.chunks), bad)
    if err > 0:
        raise _unwritable(snap)
    if err < 0:
        if bad[0] >= len(layout.chunks):
            raise SnapshotError(f"snapshot {snap.id}: page blocks do not match its header")
        raise _corrupt_block(sum(c[0] for c in layout.chunks[:bad[0]]))
    return True


def _open_block(block: tuple[int, int, int, int], chunk: Any, start: int) -> Any:
    """The checked, decompressed contents of one page block (data page ``start`` on)."""
    npages, size, crc, raw = block
    if len(chunk) != size or _crc32(chunk) != crc:
        raise _corrupt_block(start)
    if raw:
        return chunk
    try:
        plain = lz4.block.decompress(chunk, uncompressed_size=npages * PAGE_SIZE)
    except lz4.block.LZ4BlockError as e:
        raise SnapshotError(f"corrupt page block in snapshot: {e}") from None
    if len(plain) != npages * PAGE_SIZE:
        raise SnapshotError("corrupt page block in snapshot: wrong decompressed size")
    return plain


def _corrupt_block(start: int) -> SnapshotError:
    return SnapshotError(f"snapshot checksum mismatch in page block at page {start}: the data is corrupt")


def _unwritable(snap: Snapshot) -> SnapshotError:
    return SnapshotError(f"snapshot {snap.id} writes pages that are not writable in this program")


#: Whether the core has CRC hardware to use; if not, zlib is faster than its fallback.
_HW_CRC = lib.rv_crc32_level(-1) != lib.RV_CRC_BITWISE


def _crc32(data: Any, crc: int = 0) -> int:
    """zlib.crc32, computed by the core when the CPU has CRC instructions (several times faster)."""
    if _HW_CRC:
        return lib.rv_crc32(crc, ffi.from_buffer(data), len(data))
    return zlib.crc32(data, crc)
