"""Snapshots: a machine's whole state between two slices, as bytes.

A snapshot is relative to the program image: it holds the registers, pc,
cycles, the LR/SC reservation, the I/O state, and only the pages written
since the image was loaded (a full snapshot) or since the previous snapshot
(an incremental one). Restoring loads the program image into a fresh
machine and lays the snapshot over it. The encoding is described in
docs/snapshot-format.md; in short::

    magic "RVDSNAP\\0" | u32 format | u32 record size | record (fixed fields)
    | texts (ISA, program name, cost model, host error) | page block table
    | u32[] data-page indices | u32[] zero-page indices
    | lz4 block of stdout part + stderr part + stdin
    | lz4 block of the OS state (the Linux process and its files)
    | lz4 blocks of page data, up to 64 pages each
    | u32 crc32 of everything above except the page blocks

The core decodes and checks all of it but the page blocks in one call
(``rv_snap_decode``). Each page block carries its own crc32 in the table, so
every byte is covered while each block is checked only when it is restored:
a compressed block before it is decompressed, a stored one while the core
copies it into guest memory (one pass, in C, with CRC instructions where
the CPU has them).

``Snapshot.header`` presents the record, texts and table as one dict. A
snapshot whose header was handed out (and so may have been edited) is
encoded from that dict and decoded again before it is restored: edits are
honoured, and checked exactly like bytes from elsewhere.
"""

from __future__ import annotations

import os
import struct
import zlib
from dataclasses import dataclass, field
from itertools import accumulate
from operator import is_
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, Optional, Sequence, Union

import lz4.block

from rvdist._core import ffi, lib
from rvdist.errors import SnapshotError

if TYPE_CHECKING:
    from rvdist.machine import Machine
    from rvdist.program import Program

__all__ = ["Snapshot", "FORMAT_VERSION", "MAGIC"]

MAGIC = b"RVDSNAP\0"
FORMAT_VERSION = lib.RV_SNAP_FORMAT
ISA = "rv64imafdc_zicsr_zba_zbb_zbc_zbs"
PAGE_SIZE = lib.RV_PAGE_SIZE
#: Pages per compressed block: big enough to compress well, small enough to
#: stay in cache between compressing and checksumming.
CHUNK_PAGES = lib.RV_SNAP_MAX_BLOCK_PAGES
#: Default cap on the size of an encoded snapshot accepted by from_bytes().
DEFAULT_MAX_SNAPSHOT = 8 << 30
#: Largest stdout + stderr + stdin one snapshot may carry once decompressed.
MAX_IO_BYTES = lib.RV_SNAP_MAX_IO
#: Longest text (program name, cost model, host error) a snapshot holds.
MAX_TEXT = lib.RV_SNAP_MAX_TEXT

_RECORD = ffi.sizeof("rv_snap_record")
_PREFIX = struct.Struct("<8sII").pack(MAGIC, FORMAT_VERSION, _RECORD)
_U64 = (1 << 64) - 1
_STATUS_NAMES = {lib.RV_READY: "ready", lib.RV_EXITED: "exited", lib.RV_ERROR: "error"}
_STATUS_CODES = {v: k for k, v in _STATUS_NAMES.items()}
_HAS_PARENT, _HAS_MAX_CYCLES = lib.RV_SNAP_HAS_PARENT, lib.RV_SNAP_HAS_MAX_CYCLES
_HAS_NAME, _HAS_HOST_ERROR = lib.RV_SNAP_HAS_NAME, lib.RV_SNAP_HAS_HOST_ERROR


def _span(name: str, size: int) -> slice:
    at = ffi.offsetof("rv_snap_record", name)
    return slice(at, at + size)


# Where some fields lie in an encoded record.
_ID, _PARENT, _DIGEST = _span("id", 16), _span("parent", 16), _span("digest", 32)
_COSTS, _FLAGS = _span("costs", 8 * lib.RV_NCLASSES), _span("flags", 8)


@dataclass
class Snapshot:
    """One snapshot, decoded into its header and still-compressed page blocks.

    ``header`` is the state as a JSON-able dict (docs/snapshot-format.md);
    ``data_pages`` and ``zero_pages`` are the page indices (packed u32,
    ascending); ``chunks`` the lz4-compressed blocks of page contents,
    ``len(data_pages) // 4`` pages in all. ``io_block`` holds the stdout
    and stderr written since the parent (all of it for a full snapshot) and,
    for a full snapshot, the whole stdin. ``os_block`` holds the Linux
    process's state (clocks, random stream, mappings, files; always whole,
    also in an incremental snapshot), lz4-compressed.
    """

    header: dict[str, Any]
    data_pages: bytes
    zero_pages: bytes
    io_block: bytes
    chunks: list[Any] = field(default_factory=list)     # bytes-like
    os_block: bytes = b""

    @classmethod
    def _new(cls, head: bytes, data_pages: bytes, zero_pages: bytes, io_block: bytes,
             chunks: list[Any], os_block: bytes) -> "Snapshot":
        """A snapshot given its encoded head (record, texts, table) instead of a dict."""
        snap = cls.__new__(cls)
        snap.__dict__.update(_head=head, data_pages=data_pages, zero_pages=zero_pages,
                             io_block=io_block, chunks=chunks, os_block=os_block)
        return snap

    def __getstate__(self) -> dict[str, Any]:
        # Decoded page blocks are views into the encoded bytes; pickle them as bytes.
        state = dict(self.__dict__)
        state["chunks"] = [bytes(c) for c in self.chunks]
        state.pop("_decoded", None)     # views of the encoded bytes
        state.pop("_chunks_made", None)
        return state

    # -- identity -----------------------------------------------------------

    @property
    def id(self) -> str:
        """Unique id of this snapshot; an incremental child names it as ``parent``."""
        head = self.__dict__.get("_head")
        return head[_ID].hex() if head is not None else self.__dict__["header"]["id"]

    @property
    def parent(self) -> Optional[str]:
        """The id of the snapshot this one is relative to, or None for a full snapshot."""
        head = self.__dict__.get("_head")
        if head is None:
            return self.__dict__["header"]["parent"]
        return head[_PARENT].hex() if int.from_bytes(head[_FLAGS], "little") & _HAS_PARENT else None

    @property
    def incremental(self) -> bool:
        return self.parent is not None

    @property
    def program_digest(self) -> str:
        """sha256 (hex) of the ELF file of the program this snapshot is of."""
        return self._view()["program"]["digest"]

    @property
    def cycles(self) -> int:
        return self._view()["state"]["cycles"]

    def _view(self) -> dict[str, Any]:
        """The header, for reading only: unlike ``header`` it leaves a decoded
        snapshot's checked record in place."""
        head = self.__dict__.get("_head")
        return self.__dict__["header"] if head is None else _header_from(head)

    # -- encoding -----------------------------------------------------------

    def _parts(self) -> list[bytes]:
        head = self.__dict__.get("_head")
        if head is None:
            head = _pack_header(self.__dict__["header"])
        return [_PREFIX, head, self.data_pages, self.zero_pages, self.io_block, self.os_block]

    def to_bytes(self) -> bytes:
        """Encode the snapshot (see docs/snapshot-format.md).

        Raises :class:`SnapshotError` if ``header`` was edited into something
        the format cannot hold (a string for a number, a number out of range).
        """
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
        n = len(data)
        if n > max_size:
            raise SnapshotError(f"snapshot of {n} bytes is more than the {max_size} accepted")
        lay = ffi.new("rv_snap_layout *")
        code = lib.rv_snap_decode(data, n, lay)
        if code:
            raise _decode_error(code, lay, n)
        view = memoryview(data)
        rec = lay.rec
        head = data[len(_PREFIX):lay.data_pages]
        data_pages, zero_pages = data[lay.data_pages:lay.zero_pages], data[lay.zero_pages:lay.io]
        io_block, os_block = data[lay.io:lay.os], data[lay.os:lay.blocks]
        # The page blocks stay where they are, one span; `chunks` views into
        # it are made only if asked for (restoring needs none).
        snap = cls._new(head, data_pages, zero_pages, io_block, None, os_block)
        snap.__dict__["_decoded"] = _Decoded(lay, rec, _texts(data, lay.texts, rec), head, data_pages,
                                             zero_pages, io_block, os_block,
                                             view[lay.table:lay.data_pages].cast("I"),
                                             view[lay.blocks:lay.crc])
        return snap

    def _checked(self) -> "_Decoded":
        """What from_bytes checked, if nothing could have changed since;
        else the snapshot encoded and checked again, the one way (Snapshot
        objects may also be built by hand or edited: trust none)."""
        own = self.__dict__
        d = own.get("_decoded")
        if d is not None and own.get("_head") is d.head and self.data_pages is d.data_pages \
                and self.zero_pages is d.zero_pages and self.io_block is d.io_block \
                and self.os_block is d.os_block:
            chunks, made = own["chunks"], own.get("_chunks_made")
            if chunks is None or (made is not None and len(chunks) == len(made) and all(map(is_, chunks, made))):
                return d
        again = Snapshot.from_bytes(self.to_bytes())
        return again.__dict__["_decoded"]

    # -- contents -----------------------------------------------------------

    def io(self) -> tuple[bytes, bytes, Optional[bytes]]:
        """(stdout part, stderr part, stdin or None): the I/O this snapshot carries."""
        io = self._view()["io"]
        return _open_io(self.io_block, io["stdout_part"], io["stderr_part"], io["stdin_len"],
                        self.incremental)

    def pages(self):
        """Yield ``(page indices, decompressed bytes)`` for each page block, checked."""
        d = self._checked()
        idx = memoryview(d.data_pages).cast("I")
        for start, count, plain in _open_blocks(d):
            yield idx[start:start + count], plain

    def info(self) -> dict[str, Any]:
        """A summary: ids, sizes, page counts and compression ratio."""
        h = self._view()
        n_data, n_zero = len(self.data_pages) // 4, len(self.zero_pages) // 4
        raw = n_data * PAGE_SIZE
        packed = sum(len(c) for c in self.chunks)
        st = h["state"]
        return {
            "id": h["id"],
            "parent": h["parent"],
            "incremental": h["parent"] is not None,
            "format_version": FORMAT_VERSION,
            "core_version": h["core_version"],
            "program": h["program"],
            "memory_size": h["config"]["memory_size"],
            "cost_model": h["config"]["cost_model"],
            "status": st["status"],
            "pc": st["pc"],
            "cycles": st["cycles"],
            "pages": n_data + n_zero,
            "data_pages": n_data,
            "zero_pages": n_zero,
            "page_bytes": raw,
            "compressed_page_bytes": packed,
            "encoded_bytes": sum(len(p) for p in self._parts()) + packed + 4,
            "ratio": round(raw / packed, 3) if packed else None,
            "stdout_bytes": h["io"]["stdout_len"],
            "stderr_bytes": h["io"]["stderr_len"],
        }

    @staticmethod
    def compact(chain: Sequence["Snapshot"]) -> "Snapshot":
        """Merge a full snapshot and its increments into one full snapshot.

        The result has the id of the last snapshot of the chain, so that
        increments taken after it still name the right parent.
        """
        checked = [snap._checked() for snap in chain]
        _check_chain(checked)
        pages: dict[int, Optional[bytes]] = {}
        stdout, stderr, stdin = b"", b"", b""
        for snap, d in zip(chain, checked):
            for z in memoryview(d.zero_pages).cast("I"):
                pages[z] = None
            idx = memoryview(d.data_pages).cast("I")
            for start, count, raw in _open_blocks(d):
                for k in range(count):
                    pages[idx[start + k]] = raw[k * PAGE_SIZE:(k + 1) * PAGE_SIZE]
            out, err, sin = _open_io_of(d)
            stdout += out
            stderr += err
            if sin is not None:
                stdin = sin
        last = checked[-1]
        rec = ffi.new("rv_snap_record *")
        ffi.memmove(rec, last.head, _RECORD)
        rec.flags &= ~_HAS_PARENT
        ffi.memmove(rec.parent, bytes(16), 16)
        data = sorted(p for p, v in pages.items() if v is not None)
        zero = sorted(p for p, v in pages.items() if v is None)
        return _encode(rec, last.texts, struct.pack(f"<{len(data)}I", *data),
                       struct.pack(f"<{len(zero)}I", *zero),
                       lambda start, count: b"".join(pages[p] for p in data[start:start + count]),
                       stdout, stderr, stdin, bytes(last.os_block))


def _get_header(snap: Snapshot) -> dict[str, Any]:
    d = snap.__dict__
    head = d.pop("_head", None)
    if head is not None:
        d["header"] = _header_from(head)
    return d["header"]


def _set_header(snap: Snapshot, header: dict[str, Any]) -> None:
    snap.__dict__.pop("_head", None)
    snap.__dict__["header"] = header


# A property: whoever gets hold of the header may change it, now or later, so
# from then on the snapshot is encoded from the dict (and checked again
# before a restore) instead of from the record that from_bytes checked.
Snapshot.header = property(_get_header, _set_header,    # type: ignore[assignment]
                           doc="The snapshot's header as a dict (docs/snapshot-format.md).")


def _get_chunks(snap: Snapshot) -> list[Any]:
    own = snap.__dict__
    if own["chunks"] is None:
        own["chunks"] = _chunk_views(own["_decoded"])
        own["_chunks_made"] = tuple(own["chunks"])
    return own["chunks"]


def _set_chunks(snap: Snapshot, chunks: list[Any]) -> None:
    snap.__dict__["chunks"] = chunks


Snapshot.chunks = property(_get_chunks, _set_chunks,    # type: ignore[assignment]
                           doc="The page blocks, lz4-compressed or stored raw, in table order.")


class _Decoded(NamedTuple):
    """A snapshot as from_bytes checked it: the core's layout (with an aligned
    copy of the record), the texts, and the sections, the blocks as one span."""

    lay: Any                # rv_snap_layout *
    rec: Any                # lay.rec
    texts: tuple[Optional[str], ...]    # ISA, program name, cost model, host error
    head: bytes             # record, texts and block table, as encoded
    data_pages: bytes
    zero_pages: bytes
    io_block: bytes
    os_block: bytes
    table: memoryview       # the block table: 4 u32 per block (pages, bytes, crc32, raw)
    blocks: memoryview      # the page blocks, back to back

    @property
    def id(self) -> str:
        return self.head[_ID].hex()


# -- the header dict and the encoded head -------------------------------------

def _texts(data: bytes, at: int, rec: Any) -> tuple[Optional[str], ...]:
    """The four texts (ISA, program name, cost model, host error), checked UTF-8."""
    a, b, c, d = rec.text_len
    flags = rec.flags
    try:
        return (str(data[at:at + a], "utf-8"),
                str(data[at + a:at + a + b], "utf-8") if flags & _HAS_NAME else None,
                str(data[at + a + b:at + a + b + c], "utf-8"),
                str(data[at + a + b + c:at + a + b + c + d], "utf-8") if flags & _HAS_HOST_ERROR else None)
    except UnicodeDecodeError:
        raise SnapshotError("malformed snapshot header: a text is not UTF-8") from None


def _header_from(head: bytes) -> dict[str, Any]:
    """The dict form of an encoded head (record, texts, block table)."""
    rec = ffi.new("rv_snap_record *")
    ffi.memmove(rec, head, _RECORD)
    texts = _texts(head, _RECORD, rec)
    at = _RECORD + (sum(rec.text_len) + 7) // 8 * 8
    table = list(memoryview(head[at:at + 16 * rec.n_blocks]).cast("I"))
    has_parent = rec.flags & _HAS_PARENT
    return {
        "id": head[_ID].hex(),
        "parent": head[_PARENT].hex() if has_parent else None,
        "core_version": rec.core_version,
        "isa": texts[0],
        "program": {"digest": head[_DIGEST].hex(), "name": texts[1]},
        "config": {
            "memory_size": rec.memory_size,
            "cost_model": texts[2],
            "costs": list(rec.costs),
            "output_limit": rec.output_limit,
            "max_cycles": rec.max_cycles if rec.flags & _HAS_MAX_CYCLES else None,
        },
        "state": {
            "pc": rec.pc, "x": list(rec.x), "f": list(rec.f), "fcsr": rec.fcsr,
            "cycles": rec.cycles, "reservation": rec.reservation,
            "status": _STATUS_NAMES.get(rec.status, rec.status), "exit_code": rec.exit_code,
            "error": list(rec.error), "stdin_pos": rec.stdin_pos, "brk": list(rec.brk),
            "host_error": texts[3],
        },
        "io": {"stdout_len": rec.stdout_len, "stderr_len": rec.stderr_len,
               "stdout_part": rec.stdout_part, "stderr_part": rec.stderr_part,
               "stdin_len": rec.stdin_len, "io_block": rec.io_block},
        "os": {"len": rec.os_len, "block": rec.os_block},
        "pages": {"data": rec.n_data, "zero": rec.n_zero,
                  "chunks": [table[i:i + 4] for i in range(0, len(table), 4)]},
    }


def _pack_header(h: Any) -> bytes:
    """Encode a header dict into the head (record, texts, block table).

    Only representability is checked here (types, widths, lengths);
    rv_snap_decode checks the values when the bytes are decoded.
    """
    try:
        return _pack_fields(h)
    except (ValueError, KeyError, TypeError, IndexError, OverflowError, AttributeError) as e:
        raise SnapshotError(f"malformed snapshot header: {str(e)[:200]}") from None


def _pack_fields(h: dict[str, Any]) -> bytes:
    prog, cfg, st, io, pages, osb = (_obj(h, k) for k in ("program", "config", "state", "io", "pages", "os"))
    rec = ffi.new("rv_snap_record *")
    flags = 0
    ffi.memmove(rec.id, _hex(h["id"], 16, "id"), 16)
    if h["parent"] is not None:
        flags |= _HAS_PARENT
        ffi.memmove(rec.parent, _hex(h["parent"], 16, "parent"), 16)
    ffi.memmove(rec.digest, _hex(prog["digest"], 32, "program digest"), 32)
    if cfg["max_cycles"] is not None:
        flags |= _HAS_MAX_CYCLES
        rec.max_cycles = _int(cfg["max_cycles"], "max_cycles")
    texts = [_text(h["isa"], "isa"), _text(prog["name"], "program name", True),
             _text(cfg["cost_model"], "cost_model"), _text(st["host_error"], "host_error", True)]
    flags |= (_HAS_NAME if texts[1] is not None else 0) | (_HAS_HOST_ERROR if texts[3] is not None else 0)
    rec.flags = flags
    rec.core_version = _int(h["core_version"], "core_version")
    for k in ("memory_size", "output_limit"):
        setattr(rec, k, _int(cfg[k], k))
    for k in ("pc", "fcsr", "cycles", "reservation", "stdin_pos"):
        setattr(rec, k, _int(st[k], k))
    for k in ("stdout_len", "stderr_len", "stdout_part", "stderr_part", "stdin_len", "io_block"):
        setattr(rec, k, _int(io[k], k))
    rec.os_len, rec.os_block = _int(osb["len"], "os.len"), _int(osb["block"], "os.block")
    for k, src, n in (("costs", cfg, lib.RV_NCLASSES), ("x", st, 32), ("f", st, 32),
                      ("error", st, 6), ("brk", st, 3)):
        v = src[k]
        if type(v) is not list or len(v) != n:
            raise ValueError(f"{k} must be a list of {n} integers")
        setattr(rec, k, [_int(e, k) for e in v])
    if st["status"] not in _STATUS_CODES:
        raise ValueError(f"unknown status {st['status']!r}")
    rec.status = _STATUS_CODES[st["status"]]
    if type(st["exit_code"]) is not int or not -(1 << 31) <= st["exit_code"] < 1 << 31:
        raise ValueError("exit_code must be a 32-bit integer")
    rec.exit_code = st["exit_code"]
    chunks = pages["chunks"]
    if type(chunks) is not list or any(type(c) is not list or len(c) != 4 for c in chunks):
        raise ValueError("pages.chunks must be a list of lists of 4 integers")
    table = [_int(v, "page block entry") for c in chunks for v in c]
    if max(table, default=0) >= 1 << 32:
        raise ValueError("a page block entry does not fit in 32 bits")
    rec.n_data, rec.n_zero = _int(pages["data"], "pages.data"), _int(pages["zero"], "pages.zero")
    rec.n_blocks = len(chunks)
    return _head(rec, texts, struct.pack(f"<{len(table)}I", *table))


def _head(rec: Any, texts: Sequence[Optional[bytes]], table: bytes) -> bytes:
    """Record, texts (zero-padded to 8 bytes) and table; sets the text lengths."""
    rec.text_len = [len(t or b"") for t in texts]
    blob = b"".join(t or b"" for t in texts)
    return b"".join((ffi.buffer(rec)[:], blob, bytes(-len(blob) % 8), table))


def _obj(h: Any, key: str) -> dict:
    v = h[key]
    if type(v) is not dict:
        raise ValueError(f"{key} must be an object")
    return v


_HEX = frozenset("0123456789abcdefABCDEF")


def _hex(v: Any, size: int, what: str) -> bytes:
    # Digits only: bytes.fromhex would also skip whitespace, giving fewer bytes.
    if type(v) is not str or len(v) != 2 * size or not _HEX.issuperset(v):
        raise ValueError(f"{what} must be {2 * size} hex digits, got {v!r}")
    return bytes.fromhex(v)


def _text(v: Any, what: str, nullable: bool = False) -> Optional[bytes]:
    if v is None and nullable:
        return None
    if type(v) is not str:
        raise ValueError(f"{what} must be a string")
    b = v.encode()
    if len(b) > MAX_TEXT:
        raise ValueError(f"{what} is longer than {MAX_TEXT} bytes")
    return b


def _int(v: Any, what: str) -> int:
    if type(v) is not int or not 0 <= v <= _U64:
        raise ValueError(f"{what} must be a non-negative 64-bit integer, got {v!r}")
    return v


# What each field the core refuses must be (rv_snap_decode: RV_SNAP_FIELD).
_FIELD_RULES = {
    "flags": "unknown flags",
    "parent": "a parent id in a snapshot without a parent",
    "max_cycles": "max_cycles without its flag",
    "memory_size": "memory_size is not a page multiple up to 4 GiB",
    "costs": f"costs must each be 1..{lib.RV_MAX_COST}",
    "x": "x0 must be 0",
    "fcsr": "fcsr has bits above frm and fflags",
    "status": "unknown status",
    "exit_code": "exit_code must be a 32-bit integer",
    "error": "error kind or bits out of range",
    "brk": "brk outside [brk_min, brk_max] or past memory",
    "stdout_part": "the stdout part is longer than the stdout",
    "stderr_part": "the stderr part is longer than the stderr",
    "io_block": f"the I/O block claims more bytes than 255x its size or {MAX_IO_BYTES} in all",
    "os_len": f"the OS block is empty, or claims more bytes than 255x its size or "
              f"{lib.RV_SNAP_MAX_OS} in all",
    "stdin_len": "an incremental snapshot carries stdin",
    "stdin_pos": "stdin position beyond stdin",
    "n_data": "more pages listed than the memory holds",
    "n_blocks": "the page block count does not fit the data pages",
    "text_len": f"texts longer than {MAX_TEXT} bytes, present without their flag, "
                "or followed by padding that is not zeros",
}
_FIELD_AT = {ffi.offsetof("rv_snap_record", k): k for k in _FIELD_RULES}


def _decode_error(code: int, lay: Any, n: int) -> SnapshotError:
    if code == lib.RV_SNAP_SHORT:
        return SnapshotError(f"truncated snapshot: {n} bytes is too short to hold a header")
    if code == lib.RV_SNAP_MAGIC:
        return SnapshotError("not an rvdist snapshot (bad magic)")
    if code == lib.RV_SNAP_VERSION:
        if 1 <= lay.version < FORMAT_VERSION:
            # Older formats lack state the machine now has (version 3 added
            # the FP registers and fcsr): restoring one would guess it.
            return SnapshotError(f"snapshot format version {lay.version} is older than this "
                                 f"rvdist's version {FORMAT_VERSION} and cannot be restored "
                                 f"(it lacks the FP registers and fcsr); rerun the job from "
                                 f"its start")
        return SnapshotError(f"unknown snapshot format version {lay.version} "
                             f"(this rvdist reads version {FORMAT_VERSION})")
    if code == lib.RV_SNAP_RECORD:
        return SnapshotError(f"malformed snapshot: its record size is not the {_RECORD} bytes "
                             f"of format version {FORMAT_VERSION}")
    if code == lib.RV_SNAP_FIELD:
        return SnapshotError(f"malformed snapshot header: {_FIELD_RULES[_FIELD_AT[lay.field]]}")
    if code == lib.RV_SNAP_LENGTH:
        return SnapshotError(f"truncated or malformed snapshot: {n} bytes do not hold the "
                             f"sections its header describes")
    if code == lib.RV_SNAP_CHECKSUM:
        return SnapshotError("snapshot checksum mismatch: the data is corrupt")
    if code == lib.RV_SNAP_PAGES:
        return SnapshotError("malformed snapshot: page indices out of range, not ascending, "
                             "or listed twice")
    return SnapshotError("malformed snapshot: the page block table does not add up to its pages")


# -- chains ----------------------------------------------------------------------

def _check_chain(chain: Sequence[_Decoded]) -> None:
    if not chain:
        raise SnapshotError("an empty list of snapshots")
    base = chain[0]
    if base.rec.flags & _HAS_PARENT:
        raise SnapshotError(f"snapshot chain starts with incremental snapshot {base.id} "
                            f"(parent {base.head[_PARENT].hex()}); it needs its full base first")
    for prev, d in zip(chain, chain[1:]):
        if not d.rec.flags & _HAS_PARENT or d.head[_PARENT] != prev.head[_ID]:
            parent = d.head[_PARENT].hex() if d.rec.flags & _HAS_PARENT else None
            raise SnapshotError(f"broken snapshot chain: {d.id} names parent {parent}, "
                                f"but follows {prev.id}")
        if d.head[_DIGEST] != base.head[_DIGEST] or d.texts[0] != base.texts[0] or \
                d.rec.core_version != base.rec.core_version:
            raise SnapshotError(f"snapshot {d.id} differs from its base {base.id} in program, "
                                f"core version or ISA")
        if d.rec.memory_size != base.rec.memory_size or d.head[_COSTS] != base.head[_COSTS]:
            raise SnapshotError(f"snapshot {d.id} has a different machine configuration "
                                f"from the base snapshot {base.id}")


def _encode(rec: Any, texts: Sequence[Optional[str]], data_pages: bytes, zero_pages: bytes, gather,
            stdout: bytes, stderr: bytes, stdin: Optional[bytes], os_block: bytes) -> Snapshot:
    """Build a Snapshot from a record with its state filled in. ``data_pages``/
    ``zero_pages`` are packed u32 page indices; ``gather(start, count)``
    returns the contents of data pages ``start .. start+count`` of that list
    as one buffer. ``os_block`` is the compressed OS block, its plain size
    already in the record."""
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
        table += (count, len(c), _crc32(c), int(stored_raw))
    io_raw = stdout + stderr + (stdin or b"")
    io_block = lz4.block.compress(io_raw, store_size=False) if io_raw else b""
    rec.n_data, rec.n_zero, rec.n_blocks = n_data, len(zero_pages) // 4, len(chunks)
    rec.stdout_part, rec.stderr_part = len(stdout), len(stderr)
    rec.stdin_len, rec.io_block = len(stdin or b""), len(io_block)
    encoded = [None if t is None else t.encode()[:MAX_TEXT] for t in texts]
    rec.flags = (rec.flags & ~(_HAS_NAME | _HAS_HOST_ERROR)) | \
        (_HAS_NAME if encoded[1] is not None else 0) | (_HAS_HOST_ERROR if encoded[3] is not None else 0)
    rec.os_block = len(os_block)
    head = _head(rec, encoded, struct.pack(f"<{len(table)}I", *table))
    return Snapshot._new(head, data_pages, zero_pages, io_block, chunks, os_block)


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
    rec = ffi.new("rv_snap_record *")
    lib.rv_snap_get_state(m, rec)
    snap_id = os.urandom(16)        # 128 random bits, as uuid4 but cheaper
    ffi.memmove(rec.id, snap_id, 16)
    if parent is not None:
        rec.flags |= _HAS_PARENT
        ffi.memmove(rec.parent, bytes.fromhex(parent), 16)
    ffi.memmove(rec.digest, bytes.fromhex(machine.program.digest), 32)
    rec.stdout_len, rec.stderr_len = machine.output_length(1), machine.output_length(2)
    # A failed host-call handler is a Python exception: keep its message.
    host_error = str(machine._host_error) if m.status == lib.RV_ERROR and \
        m.err_kind == lib.RV_ERR_HOST and machine._host_error else None
    buf = ffi.new("uint8_t[]", CHUNK_PAGES * PAGE_SIZE)

    def gather(start: int, count: int) -> Any:
        first = data[start]
        if data[start + count - 1] - first == count - 1:     # contiguous: no copy needed
            return ffi.buffer(m.mem + first * PAGE_SIZE, count * PAGE_SIZE)
        lib.rv_gather_pages(m, data + start, count, buf)
        return ffi.buffer(buf, count * PAGE_SIZE)

    os_plain = _os_state(m)
    rec.os_len = len(os_plain)
    snap = _encode(rec, (ISA, machine.program.name, machine.cost_model, host_error),
                   ffi.buffer(data, 4 * n_data)[:], ffi.buffer(zero, 4 * n_zero)[:],
                   gather, stdout, stderr, None if parent is not None else machine.stdin,
                   lz4.block.compress(os_plain, store_size=False))

    lib.rv_clear_page_flags(m, lib.RV_PAGE_DIRTY)
    machine._snapshot_id = snap_id.hex()
    machine._snapshot_output = (rec.stdout_len, rec.stderr_len)
    return snap


def _os_state(m: Any) -> bytes:
    """The machine's OS block, uncompressed (rv_os_encode)."""
    size = lib.rv_os_encode(m, ffi.NULL, 0)
    buf = ffi.new("uint8_t[]", size)
    lib.rv_os_encode(m, buf, size)
    return ffi.buffer(buf, size)[:]


def _restore_os(m: Any, d: "_Decoded", files: Any) -> None:
    """Put the last snapshot's OS block into a restored machine: the declared
    files' bytes first (they travel by digest), then the state."""
    from rvdist.process import normalize_files
    jf = normalize_files(files)
    for digest, data in jf.blobs.items():
        if lib.rv_fs_provide(m, bytes.fromhex(digest), ffi.from_buffer(data), len(data)):
            raise SnapshotError(f"cannot hold a declared file of {len(data)} bytes")
    rec = d.rec
    try:
        plain = lz4.block.decompress(d.os_block, uncompressed_size=rec.os_len)
    except lz4.block.LZ4BlockError as e:
        raise SnapshotError(f"corrupt OS block in snapshot: {e}") from None
    if len(plain) != rec.os_len:
        raise SnapshotError("corrupt OS block in snapshot: wrong decompressed size")
    missing = ffi.new("uint8_t[32]")
    code = lib.rv_os_decode(m, plain, len(plain), missing)
    if code == lib.RV_OS_MISSING_FILE:
        raise SnapshotError(f"snapshot {d.id} needs a declared file that was not given: sha256 "
                            f"{bytes(missing).hex()} (pass the job's files to restore)")
    if code == lib.RV_OS_PROTECTION:
        raise SnapshotError(f"snapshot {d.id} makes read-only pages of the program writable")
    if code == lib.RV_OS_NOMEM:
        raise SnapshotError("out of memory restoring the snapshot's process state")
    if code:
        raise SnapshotError(f"malformed OS block in snapshot {d.id}")


def restore(machine_cls, program: "Program", snapshots: Union[Snapshot, Sequence[Snapshot]],
            max_cycles: Any, output_limit: Optional[int], files: Any = None) -> "Machine":
    """Build a fresh machine from ``program`` and a snapshot or chain of them
    (``files``: the job's declared files, which snapshots name by digest)."""
    chain = [snapshots] if isinstance(snapshots, Snapshot) else list(snapshots)
    for snap in chain:
        if not isinstance(snap, Snapshot):
            raise SnapshotError(f"expected Snapshot objects, got {type(snap).__name__}")
    checked = [snap._checked() for snap in chain]
    _check_compatible(checked, program)
    last = checked[-1]
    machine = _new_machine(machine_cls, program, last, output_limit)
    stdout, stderr = _restore_io(machine, checked)
    m = machine._m
    if lib.rv_snap_set_state(m, ffi.addressof(last.lay, "rec")):
        raise SnapshotError(f"snapshot {last.id}: stdin position beyond stdin")
    for fd, data in ((1, stdout), (2, stderr)):
        if data and lib.rv_append_output(m, fd, ffi.from_buffer(data), len(data)):
            raise SnapshotError("cannot allocate the captured output of the snapshot")
    if last.texts[3] is not None:
        from rvdist.errors import HostCallError
        machine._host_error = HostCallError(last.texts[3], pc=last.rec.error[2])
    if max_cycles is not ...:
        machine.max_cycles = max_cycles     # a raised limit also lifts a CyclesExceeded stop
    machine._snapshot_id = last.id
    machine._snapshot_output = (len(stdout), len(stderr))
    # The pages last: copying them in evicts whatever the Python above had in cache.
    for d in checked:
        _apply_pages(m, d)
    lib.rv_zero_stale(m)
    _restore_os(m, last, files)
    return machine


def _check_compatible(chain: list[_Decoded], program: "Program") -> None:
    digest = bytes.fromhex(program.digest)
    for d in chain:
        if d.head[_DIGEST] != digest:
            raise SnapshotError(f"snapshot {d.id} is of program {d.texts[1]!r} "
                                f"(sha256 {d.head[_DIGEST].hex()[:16]}...), not of "
                                f"{program.name!r} (sha256 {program.digest[:16]}...)")
        if d.rec.core_version != lib.RV_CORE_VERSION:
            raise SnapshotError(f"snapshot {d.id} was taken by core version {d.rec.core_version}; "
                                f"this core is version {lib.RV_CORE_VERSION}")
        if d.texts[0] != ISA:
            raise SnapshotError(f"snapshot {d.id} is for ISA {d.texts[0]!r}, not {ISA!r}")
    _check_chain(chain)


def _new_machine(machine_cls, program: "Program", d: _Decoded, output_limit: Optional[int]) -> "Machine":
    rec = d.rec
    if output_limit is None:
        output_limit = rec.output_limit
    elif type(output_limit) is not int or not 0 <= output_limit <= _U64:
        raise SnapshotError(f"output_limit must be a non-negative 64-bit integer, got {output_limit!r}")
    machine = machine_cls.__new__(machine_cls)
    try:
        # The core checked memory_size and costs. Stale memory: pages reused
        # from an earlier machine are zeroed only if the snapshot does not
        # overwrite them (rv_zero_stale, in restore()).
        machine._load_image(program, rec.memory_size, tuple(rec.costs),
                            rec.max_cycles if rec.flags & _HAS_MAX_CYCLES else None, output_limit, stale=True)
    except Exception as e:  # ConfigError or ProgramError: the snapshot does not fit
        raise SnapshotError(f"incompatible snapshot configuration: {e}") from None
    machine.cost_model = d.texts[2]
    return machine


def _restore_io(machine: "Machine", chain: list[_Decoded]) -> tuple[bytes, bytes]:
    """Give the machine its stdin; the captured stdout and stderr of the chain."""
    stdout, stderr = b"", b""
    for d in chain:
        out, err, sin = _open_io_of(d)
        rec = d.rec
        if len(stdout) + len(out) != rec.stdout_len or len(stderr) + len(err) != rec.stderr_len:
            raise SnapshotError(f"snapshot {d.id}: captured output does not continue its parent's")
        stdout += out
        stderr += err
        if sin is not None:
            machine.stdin = sin
    return stdout, stderr


def _open_io_of(d: _Decoded) -> tuple[bytes, bytes, Optional[bytes]]:
    rec = d.rec
    return _open_io(d.io_block, rec.stdout_part, rec.stderr_part, rec.stdin_len,
                    bool(rec.flags & _HAS_PARENT))


def _open_io(block: bytes, out: int, err: int, sin: int, incremental: bool
             ) -> tuple[bytes, bytes, Optional[bytes]]:
    total = out + err + sin
    try:
        raw = lz4.block.decompress(block, uncompressed_size=total) if total else b""
    except lz4.block.LZ4BlockError as e:
        raise SnapshotError(f"corrupt I/O block in snapshot: {e}") from None
    if len(raw) != total:
        raise SnapshotError("corrupt I/O block in snapshot: wrong decompressed size")
    return raw[:out], raw[out:out + err], (raw[out + err:] if not incremental else None)


def _apply_pages(m: Any, d: _Decoded) -> None:
    zero = d.zero_pages
    if zero and lib.rv_scatter_pages(m, ffi.from_buffer("uint32_t[]", zero), len(zero) // 4, ffi.NULL):
        raise _unwritable(d)
    idx = ffi.from_buffer("uint32_t[]", d.data_pages)
    n_raw = d.lay.n_raw
    if n_raw and _HW_CRC:
        _scatter_raw_blocks(m, d, idx)
        if n_raw == len(d.table) // 4:
            return
    for start, count, plain in _open_blocks(d, skip_raw=_HW_CRC):
        if lib.rv_scatter_pages(m, idx + start, count, ffi.from_buffer(plain)):
            raise _unwritable(d)


def _scatter_raw_blocks(m: Any, d: _Decoded, idx: Any) -> None:
    """Copy in and check all the raw page blocks with one call into the core,
    which reads each byte once."""
    bad = ffi.new("uint64_t *")
    n_blocks = len(d.table) // 4
    err = lib.rv_scatter_raw_blocks(m, idx, len(d.data_pages) // 4, ffi.from_buffer(d.blocks),
                                    len(d.blocks), ffi.from_buffer(d.table), n_blocks, bad)
    if err > 0:
        raise _unwritable(d)
    if err < 0:
        if bad[0] >= n_blocks:
            raise SnapshotError(f"snapshot {d.id}: page blocks do not match its header")
        raise _corrupt_block(sum(d.table[0:4 * bad[0]:4]))


def _chunk_views(d: _Decoded) -> list[memoryview]:
    ends = list(accumulate(d.table[1::4], initial=0))
    return [d.blocks[a:b] for a, b in zip(ends, ends[1:])]


def _open_blocks(d: _Decoded, skip_raw: bool = False):
    """Yield (first data page, pages, checked contents) for each page block."""
    t = d.table
    start = at = 0
    for i in range(0, len(t), 4):
        count, size, crc, raw = t[i:i + 4]
        if not (raw and skip_raw):
            yield start, count, _open_block(d.blocks[at:at + size], count, crc, raw, start)
        start += count
        at += size


def _open_block(chunk: Any, npages: int, crc: int, raw: int, start: int) -> Any:
    """The checked, decompressed contents of one page block (data page ``start`` on)."""
    if _crc32(chunk) != crc:
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


def _unwritable(d: _Decoded) -> SnapshotError:
    return SnapshotError(f"snapshot {d.id} writes pages that are not writable in this program")


#: Whether the core has CRC hardware to use; if not, zlib is faster than its fallback.
_HW_CRC = lib.rv_crc32_level(-1) != lib.RV_CRC_BITWISE


def _crc32(data: Any, crc: int = 0) -> int:
    """zlib.crc32, computed by the core when the CPU has CRC instructions (several times faster)."""
    if _HW_CRC:
        return lib.rv_crc32(crc, ffi.from_buffer(data), len(data))
    return zlib.crc32(data, crc)
