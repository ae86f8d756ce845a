"""The snapshot codec: encoded bytes to an immutable :class:`Snapshot` and back.

A snapshot is a machine's whole state between two slices, relative to the
program image: registers (integer and FP), pc, cycles, the LR/SC
reservation, the I/O state, the Linux process (the OS block: clocks, random
stream, mappings, files), and only the pages written since the image was
loaded (a full snapshot) or since the previous snapshot (an incremental
one). Taking one and restoring
one are :class:`rvdist.Machine` methods; this module only knows the format
(docs/snapshot-format.md). In short::

    magic "RVDSNAP\\0" | u32 format | u32 record size | record (fixed fields)
    | texts (ISA, program name, cost model, host error) | page block table
    | u32[] data-page indices | u32[] zero-page indices
    | lz4 block of stdout part + stderr part + stdin
    | lz4 block of the OS state (the Linux process and its files)
    | lz4 blocks of page data, up to 64 pages each
    | u32 crc32 of everything above except the page blocks

The core decodes and checks all of it but the page blocks in one call
(``rv_snap_decode``). Each page block carries its own crc32 in the table, so
every byte is covered while each block is checked only when it is restored
(:class:`DecodedSnapshot` hands them out checked).

``Snapshot.header`` presents the record, texts and table as a dict: a new
one on every call, since a snapshot never changes. ``with_header`` gives a
new snapshot with an edited header, which is checked like bytes from
elsewhere when it is decoded or restored.
"""

from __future__ import annotations

import os
import struct
import zlib
from itertools import accumulate
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, NamedTuple, Optional, Sequence, Union

import lz4.block

from rvdist._core import ffi, lib
from rvdist.errors import SnapshotError, snapshot_decode_error

__all__ = ["Snapshot", "DecodedSnapshot", "FORMAT_VERSION", "MAGIC", "check_chain", "join_io"]

MAGIC = b"RVDSNAP\0"
FORMAT_VERSION = lib.RV_SNAP_FORMAT
PAGE_SIZE = lib.RV_PAGE_SIZE
#: Pages per compressed block: big enough to compress well, small enough to
#: stay in cache between compressing and checksumming.
CHUNK_PAGES = lib.RV_SNAP_MAX_BLOCK_PAGES
#: Default cap on the size of an encoded snapshot accepted by from_bytes().
DEFAULT_MAX_SNAPSHOT = 8 << 30
#: Largest stdout + stderr + stdin one snapshot may carry once decompressed.
MAX_IO_BYTES = lib.RV_SNAP_MAX_IO
#: Largest OS block (the process and its files) once decompressed.
MAX_OS_BYTES = lib.RV_SNAP_MAX_OS
#: Longest text (program name, cost model, host error) a snapshot holds.
MAX_TEXT = lib.RV_SNAP_MAX_TEXT
#: Whether the core has CRC hardware to use; if not, zlib is faster than its
#: fallback (and a restore checks raw page blocks with zlib, not in the core).
FAST_CORE_CRC = lib.rv_crc32_level(-1) != lib.RV_CRC_BITWISE

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

#: A function ``gather(start, count)`` giving the contents of data pages
#: ``start .. start + count`` (of the snapshot's list) as one buffer.
Gather = Callable[[int, int], Any]


class _Encoded(NamedTuple):
    """A header already encoded (record, texts, table) and, for a snapshot
    decoded by from_bytes, the whole encoding and what it checked."""

    head: bytes
    data: Optional[bytes] = None
    decoded: Optional["DecodedSnapshot"] = None


class Snapshot:
    """One snapshot: its header and its still-compressed page blocks. Immutable.

    ``Snapshot(header, data_pages, zero_pages, io_block, chunks, os_block)``
    builds one from a header dict (docs/snapshot-format.md) and the
    sections: ``data_pages`` and ``zero_pages`` are the page indices (packed
    u32, ascending), ``io_block`` holds the stdout and stderr written since
    the parent (all of it for a full snapshot) and, for a full snapshot, the
    whole stdin, lz4-compressed; ``chunks`` are the page blocks, lz4 or
    stored raw, ``len(data_pages) // 4`` pages in all; ``os_block`` is the
    Linux process's state (always whole, in an incremental snapshot too),
    lz4-compressed. Raises
    :class:`SnapshotError` if the format cannot hold the header. Snapshots
    usually come from :meth:`rvdist.Machine.snapshot` or :meth:`from_bytes`.
    """

    __slots__ = ("_head", "_data_pages", "_zero_pages", "_io_block", "_chunks", "_os_block", "_data",
                 "_decoded")

    def __init__(self, header: Union[Mapping[str, Any], _Encoded], data_pages: bytes, zero_pages: bytes,
                 io_block: bytes, chunks: Optional[Sequence[Any]], os_block: bytes) -> None:
        # Every public attribute is a property without a setter, and __slots__
        # leaves no room for others: nothing outside this class changes a snapshot.
        if isinstance(header, _Encoded):
            self._head, self._data, self._decoded = header
        else:
            self._head, self._data, self._decoded = _pack_header(header), None, None
        self._data_pages = bytes(data_pages)
        self._zero_pages = bytes(zero_pages)
        self._io_block = bytes(io_block)
        self._os_block = bytes(os_block)
        # None: the blocks are one span of the decoded bytes, cut into views when asked for.
        self._chunks = None if chunks is None else tuple(map(_frozen, chunks))

    def __reduce__(self) -> tuple:
        # Snapshots travel between processes (Ray pickles them): as the
        # encoding if it is at hand, else as the parts, the blocks as bytes.
        if self._data is not None:
            return Snapshot.from_bytes, (self._data,)
        return _rebuild, (self._head, self._data_pages, self._zero_pages, self._io_block,
                          [bytes(c) for c in self.chunks], self._os_block)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Snapshot):
            return NotImplemented
        return self.to_bytes() == other.to_bytes()

    def __hash__(self) -> int:
        return hash(self._head)

    def __repr__(self) -> str:
        kind = f"incremental on {self.parent}" if self.incremental else "full"
        return f"<Snapshot {self.id} {kind}, {len(self._data_pages) // 4} data pages>"

    # -- contents -------------------------------------------------------------

    @property
    def header(self) -> dict[str, Any]:
        """The header as a dict (docs/snapshot-format.md): a new copy on every
        call; editing it changes no snapshot (see :meth:`with_header`)."""
        return _header_from(self._head)

    @property
    def data_pages(self) -> bytes:
        """The indices of the pages with data, packed u32, ascending."""
        return self._data_pages

    @property
    def zero_pages(self) -> bytes:
        """The indices of the pages of zeros, packed u32, ascending."""
        return self._zero_pages

    @property
    def io_block(self) -> bytes:
        """The lz4 block of the stdout part, the stderr part and (full snapshots) stdin."""
        return self._io_block

    @property
    def os_block(self) -> bytes:
        """The lz4 block of the Linux process's state (``rv_os_encode``)."""
        return self._os_block

    @property
    def chunks(self) -> tuple[Any, ...]:
        """The page blocks, lz4-compressed or stored raw, in table order (bytes-like)."""
        if self._chunks is None:
            self._chunks = tuple(_chunk_views(self._decoded))
        return self._chunks

    def with_header(self, header: Mapping[str, Any]) -> "Snapshot":
        """A new snapshot with ``header`` and this one's sections (SnapshotError
        if the format cannot hold the header)."""
        return Snapshot(header, self._data_pages, self._zero_pages, self._io_block, self.chunks,
                        self._os_block)

    @property
    def id(self) -> str:
        """Unique id of this snapshot; an incremental child names it as ``parent``."""
        return self._head[_ID].hex()

    @property
    def parent(self) -> Optional[str]:
        """The id of the snapshot this one is relative to, or None for a full snapshot."""
        head = self._head
        return head[_PARENT].hex() if int.from_bytes(head[_FLAGS], "little") & _HAS_PARENT else None

    @property
    def incremental(self) -> bool:
        return self.parent is not None

    @property
    def program_digest(self) -> str:
        """sha256 (hex) of the ELF file of the program this snapshot is of."""
        return self._head[_DIGEST].hex()

    @property
    def cycles(self) -> int:
        return self.header["state"]["cycles"]

    def io(self) -> tuple[bytes, bytes, Optional[bytes]]:
        """(stdout part, stderr part, stdin or None): the I/O this snapshot carries."""
        io = self.header["io"]
        return _open_io(self._io_block, io["stdout_part"], io["stderr_part"], io["stdin_len"],
                        self.incremental)

    def pages(self) -> Iterator[tuple[memoryview, Any]]:
        """Yield ``(page indices, decompressed bytes)`` for each page block, checked."""
        d = self.decoded()
        idx = memoryview(d.data_pages).cast("I")
        for start, count, plain in d.open_blocks():
            yield idx[start:start + count], plain

    def info(self) -> dict[str, Any]:
        """A summary: ids, sizes, page counts and compression ratio."""
        h = self.header
        n_data, n_zero = len(self._data_pages) // 4, len(self._zero_pages) // 4
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

    # -- encoding and decoding ----------------------------------------------------

    def _parts(self) -> list[bytes]:
        return [_PREFIX, self._head, self._data_pages, self._zero_pages, self._io_block, self._os_block]

    def to_bytes(self) -> bytes:
        """Encode the snapshot (see docs/snapshot-format.md)."""
        if self._data is not None:
            return self._data
        parts = self._parts()
        crc = 0
        for p in parts:
            crc = _crc32(p, crc)
        return b"".join(parts + list(self.chunks) + [struct.pack("<I", crc)])

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
            raise snapshot_decode_error(code, lay, n)
        view = memoryview(data)
        rec = ffi.addressof(lay, "rec")
        head = data[len(_PREFIX):lay.data_pages]
        data_pages, zero_pages = data[lay.data_pages:lay.zero_pages], data[lay.zero_pages:lay.io]
        io_block, os_block = data[lay.io:lay.os], data[lay.os:lay.blocks]
        decoded = DecodedSnapshot(lay, rec, _texts(data, lay.texts, rec), head, data_pages, zero_pages,
                                  io_block, os_block, view[lay.table:lay.data_pages].cast("I"),
                                  view[lay.blocks:lay.crc])
        return cls(_Encoded(head, data, decoded), data_pages, zero_pages, io_block, None, os_block)

    @classmethod
    def from_state(cls, rec: Any, texts: Sequence[Optional[str]], data_pages: bytes, zero_pages: bytes,
                   gather: Gather, stdout: bytes, stderr: bytes, stdin: Optional[bytes],
                   os_state: bytes) -> "Snapshot":
        """Encode a snapshot from its parts: ``rec`` an ``rv_snap_record *`` with
        the state filled in (``rv_snap_get_state``, ids, digest, output lengths),
        the four texts (ISA, program name, cost model, host error or None), the
        packed u32 page lists, ``gather`` for the data pages' contents, the
        I/O (``stdin`` None for an incremental snapshot) and the OS block
        uncompressed (``rv_os_encode``). Sets ``rec``'s counts, sizes and text
        flags."""
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
        os_block = lz4.block.compress(os_state, store_size=False)
        rec.os_len, rec.os_block = len(os_state), len(os_block)
        encoded = [None if t is None else t.encode()[:MAX_TEXT] for t in texts]
        rec.flags = (rec.flags & ~(_HAS_NAME | _HAS_HOST_ERROR)) | \
            (_HAS_NAME if encoded[1] is not None else 0) | (_HAS_HOST_ERROR if encoded[3] is not None else 0)
        head = _head(rec, encoded, struct.pack(f"<{len(table)}I", *table))
        return cls(_Encoded(head), data_pages, zero_pages, io_block, chunks, os_block)

    def decoded(self) -> "DecodedSnapshot":
        """The snapshot as the core checked it: what from_bytes checked, or,
        for a snapshot built from parts, its encoding checked now."""
        if self._decoded is not None:
            return self._decoded
        return Snapshot.from_bytes(self.to_bytes())._decoded

    # -- files ------------------------------------------------------------------

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

    # -- chains -------------------------------------------------------------------

    @staticmethod
    def compact(chain: Sequence["Snapshot"]) -> "Snapshot":
        """Merge a full snapshot and its increments into one full snapshot.

        The result has the id of the last snapshot of the chain, so that
        increments taken after it still name the right parent.
        """
        checked = [snap.decoded() for snap in chain]
        check_chain(checked)
        pages: dict[int, Optional[bytes]] = {}
        for d in checked:
            for z in memoryview(d.zero_pages).cast("I"):
                pages[z] = None
            idx = memoryview(d.data_pages).cast("I")
            for start, count, raw in d.open_blocks():
                for k in range(count):
                    pages[idx[start + k]] = raw[k * PAGE_SIZE:(k + 1) * PAGE_SIZE]
        stdout, stderr, stdin = join_io(checked)
        last = checked[-1]
        rec = ffi.new("rv_snap_record *")
        ffi.memmove(rec, last.head, _RECORD)
        rec.flags &= ~_HAS_PARENT
        ffi.memmove(rec.parent, bytes(16), 16)
        data = sorted(p for p, v in pages.items() if v is not None)
        zero = sorted(p for p, v in pages.items() if v is None)
        return Snapshot.from_state(rec, last.texts, struct.pack(f"<{len(data)}I", *data),
                                   struct.pack(f"<{len(zero)}I", *zero),
                                   lambda start, count: b"".join(pages[p] for p in data[start:start + count]),
                                   stdout, stderr, stdin, last.os_state())


def _frozen(chunk: Any) -> Any:
    """A page block as an object nobody can change (a copy only if it is not one)."""
    if type(chunk) is bytes or (isinstance(chunk, memoryview) and chunk.readonly):
        return chunk
    return bytes(chunk)


def _rebuild(head: bytes, data_pages: bytes, zero_pages: bytes, io_block: bytes,
             chunks: list[bytes], os_block: bytes) -> Snapshot:
    """Unpickle a snapshot that was built from parts."""
    return Snapshot(_Encoded(head), data_pages, zero_pages, io_block, chunks, os_block)


class DecodedSnapshot(NamedTuple):
    """A snapshot as the core checked it (``rv_snap_decode``): its layout (with an
    aligned copy of the record), texts and sections, the page blocks as one
    span. What :meth:`rvdist.Machine.restore` reads: treat it as read-only."""

    lay: Any                # rv_snap_layout *
    rec: Any                # rv_snap_record *, into lay
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

    @property
    def digest(self) -> bytes:
        """sha256 of the program's ELF file."""
        return self.head[_DIGEST]

    @property
    def incremental(self) -> bool:
        return bool(self.rec.flags & _HAS_PARENT)

    def io(self) -> tuple[bytes, bytes, Optional[bytes]]:
        """(stdout part, stderr part, stdin or None), checked."""
        rec = self.rec
        return _open_io(self.io_block, rec.stdout_part, rec.stderr_part, rec.stdin_len, self.incremental)

    def os_state(self) -> bytes:
        """The OS block decompressed (for ``rv_os_decode``, which checks its contents)."""
        n = self.rec.os_len
        try:
            plain = lz4.block.decompress(self.os_block, uncompressed_size=n)
        except lz4.block.LZ4BlockError as e:
            raise SnapshotError(f"corrupt OS block in snapshot {self.id}: {e}") from None
        if len(plain) != n:
            raise SnapshotError(f"corrupt OS block in snapshot {self.id}: wrong decompressed size")
        return plain

    def open_blocks(self, skip_raw: bool = False) -> Iterator[tuple[int, int, Any]]:
        """Yield (first data page, pages, checked contents) for each page block
        (but the raw ones, with ``skip_raw``)."""
        t = self.table
        start = at = 0
        for i in range(0, len(t), 4):
            count, size, crc, raw = t[i:i + 4]
            if not (raw and skip_raw):
                yield start, count, _open_block(self.blocks[at:at + size], count, crc, raw, start)
            start += count
            at += size

    def block_error(self, block: int) -> SnapshotError:
        """The error for page block ``block`` found corrupt (a block past the
        last: blocks that do not match the header)."""
        if block >= len(self.table) // 4:
            return SnapshotError(f"snapshot {self.id}: page blocks do not match its header")
        return _corrupt_block(sum(self.table[0:4 * block:4]))

    def unwritable_error(self) -> SnapshotError:
        return SnapshotError(f"snapshot {self.id} writes pages that are not writable in this program")


def check_chain(chain: Sequence[DecodedSnapshot]) -> None:
    """Raise SnapshotError unless ``chain`` is a full snapshot and its
    increments, oldest first, all of one program, core, ISA and configuration."""
    if not chain:
        raise SnapshotError("an empty list of snapshots")
    base = chain[0]
    if base.incremental:
        raise SnapshotError(f"snapshot chain starts with incremental snapshot {base.id} "
                            f"(parent {base.head[_PARENT].hex()}); it needs its full base first")
    for prev, d in zip(chain, chain[1:]):
        if not d.incremental or d.head[_PARENT] != prev.head[_ID]:
            parent = d.head[_PARENT].hex() if d.incremental else None
            raise SnapshotError(f"broken snapshot chain: {d.id} names parent {parent}, "
                                f"but follows {prev.id}")
        if d.digest != base.digest or d.texts[0] != base.texts[0] or \
                d.rec.core_version != base.rec.core_version:
            raise SnapshotError(f"snapshot {d.id} differs from its base {base.id} in program, "
                                f"core version or ISA")
        if d.rec.memory_size != base.rec.memory_size or d.head[_COSTS] != base.head[_COSTS]:
            raise SnapshotError(f"snapshot {d.id} has a different machine configuration "
                                f"from the base snapshot {base.id}")


def join_io(chain: Sequence[DecodedSnapshot]) -> tuple[bytes, bytes, bytes]:
    """The whole stdout, stderr and stdin a chain records, checked to continue
    from each snapshot to the next."""
    stdout, stderr, stdin = b"", b"", b""
    for d in chain:
        out, err, sin = d.io()
        rec = d.rec
        if len(stdout) + len(out) != rec.stdout_len or len(stderr) + len(err) != rec.stderr_len:
            raise SnapshotError(f"snapshot {d.id}: captured output does not continue its parent's")
        stdout += out
        stderr += err
        if sin is not None:
            stdin = sin
    return stdout, stderr, stdin


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


def _pack_fields(h: Mapping[str, Any]) -> bytes:
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


# -- sections ------------------------------------------------------------------

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


def _chunk_views(d: DecodedSnapshot) -> list[memoryview]:
    ends = list(accumulate(d.table[1::4], initial=0))
    return [d.blocks[a:b] for a, b in zip(ends, ends[1:])]


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


def _crc32(data: Any, crc: int = 0) -> int:
    """zlib.crc32, computed by the core when the CPU has CRC instructions (several times faster)."""
    if FAST_CORE_CRC:
        return lib.rv_crc32(crc, ffi.from_buffer(data), len(data))
    return zlib.crc32(data, crc)
