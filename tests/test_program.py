"""Tests of the ELF program loader, :mod:`rvdist.program`."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rvdist.errors import ProgramError
from rvdist.program import PAGE_SIZE, STATIC_PIE_BASE, Program, Segment
from support.elfcheck import assert_loads_as_judged, verdict
from support.elfgen import (
    ELFCLASS32,
    ELFDATA2MSB,
    EM_X86_64,
    ET_CORE,
    ET_DYN,
    ET_EXEC,
    ET_REL,
    PF_R,
    PF_W,
    PF_X,
    PT_GNU_STACK,
    PT_INTERP,
    PT_NOTE,
    Seg,
    make_elf,
    sample_elf,
    sample_segments,
)

GUESTS = Path(__file__).parent / "guests"
CODE = bytes(16)
RX, RW = PF_R | PF_X, PF_R | PF_W


def rejected(data: bytes, *fragments: str) -> ProgramError:
    """Assert ``Program(data)`` raises ProgramError whose message holds every fragment."""
    with pytest.raises(ProgramError) as info:
        Program(data)
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    return info.value


# --- valid programs -----------------------------------------------------------


def test_valid_program_parses() -> None:
    data = sample_elf()
    program = Program(data, name="sample")
    assert program.name == "sample"
    assert program.data == data
    assert program.entry == 0x10000
    assert program.digest == hashlib.sha256(data).hexdigest()
    assert [s.vaddr for s in program.segments] == [0x10000, 0x11000, 0x12000]
    code, rodata, rwdata = program.segments
    assert (code.readable, code.writable, code.executable) == (True, False, True)
    assert (rodata.readable, rodata.writable, rodata.executable) == (True, False, False)
    assert (rwdata.readable, rwdata.writable, rwdata.executable) == (True, True, False)
    assert code.data == sample_segments()[0].data
    # The data segment's tail beyond its file bytes is bss, zero-filled at load.
    assert rwdata.data == b"\x01\x02\x03\x04" and rwdata.memsz == 0x2010
    assert rwdata.end == 0x14010
    assert program.image_end == 0x15000
    assert "sample" in repr(program) and "0x10000" in repr(program)


def test_segments_are_sorted_by_vaddr_and_image_end_is_page_aligned() -> None:
    segs = [Seg(0x20000, b"x" * 10, flags=RW), Seg(0x10000, CODE, flags=RX)]
    program = Program(make_elf(segs, entry=0x10004))
    assert [s.vaddr for s in program.segments] == [0x10000, 0x20000]
    assert program.image_end == 0x21000
    exact = Program(make_elf([Seg(0x10000, CODE, memsz=PAGE_SIZE, flags=RX)], entry=0x10000))
    assert exact.image_end == 0x11000


def test_only_pt_load_segments_are_loaded() -> None:
    segs = [
        Seg(0, b"note", flags=PF_R | PF_W | PF_X, type=PT_NOTE),
        Seg(0x10000, CODE, flags=RX),
        Seg(0, flags=PF_W | PF_X, type=PT_GNU_STACK),
    ]
    program = Program(make_elf(segs, entry=0x10000))
    assert program.segments == (Segment(0x10000, CODE, len(CODE), True, False, True),)


def test_empty_pt_load_is_ignored() -> None:
    segs = [Seg(0x10000, CODE, flags=RX), Seg(0x10010, flags=RW)]
    assert len(Program(make_elf(segs, entry=0x10000)).segments) == 1


def test_same_permission_segments_may_share_a_page() -> None:
    segs = [Seg(0x10000, CODE, flags=RX), Seg(0x10800, CODE, flags=RX)]
    assert len(Program(make_elf(segs, entry=0x10800)).segments) == 2


def test_from_file(tmp_path: Path) -> None:
    path = tmp_path / "hello.elf"
    path.write_bytes(sample_elf())
    program = Program.from_file(path)
    assert program.name == "hello.elf"
    assert program.digest == hashlib.sha256(path.read_bytes()).hexdigest()
    assert Program.from_file(str(path), name="other").name == "other"


def test_from_file_missing(tmp_path: Path) -> None:
    path = tmp_path / "missing.elf"
    with pytest.raises(ProgramError, match="missing.elf"):
        Program.from_file(path)


def test_from_file_on_directory(tmp_path: Path) -> None:
    with pytest.raises(ProgramError, match=str(tmp_path.name)):
        Program.from_file(tmp_path)


# --- one test per rejection rule ----------------------------------------------


@pytest.mark.parametrize("data", [b"", b"hello world", b"\x7fEL", b"MZ" + bytes(100)])
def test_not_an_elf(data: bytes) -> None:
    error = rejected(data, "not an ELF file")
    assert error.offset == 0


@pytest.mark.parametrize("length", [4, 5, 16, 40, 63])
def test_truncated_elf_header(length: int) -> None:
    rejected(sample_elf(truncate=length), "truncated ELF header")


def test_truncated_program_headers() -> None:
    rejected(sample_elf(truncate=64 + 56 + 10), "truncated program header table", "0x40")
    rejected(sample_elf(e_phnum=200), "truncated program header table", "200 entries")
    rejected(sample_elf(e_phoff=2**63), "truncated program header table")


def test_truncated_segment_data() -> None:
    data = sample_elf()
    error = rejected(data[:-2], "segment 2", "vaddr 0x12000", "beyond the end of the file")
    assert error.offset is not None and error.offset < len(data)


def test_segment_offset_beyond_file() -> None:
    segs = [Seg(0x10000, CODE, flags=RX, offset=0x100000)]
    rejected(make_elf(segs, entry=0x10000), "segment 0", "0x100000", "beyond the end of the file")


def test_huge_filesz_is_rejected_without_allocating() -> None:
    segs = [Seg(0x10000, CODE, flags=RX, filesz=2**62, memsz=2**62)]
    rejected(make_elf(segs, entry=0x10000), "segment 0")


@pytest.mark.parametrize(
    ("ei_class", "what"), [(ELFCLASS32, "ELF32"), (0, "invalid class 0"), (7, "invalid class 7")]
)
def test_not_elf64(ei_class: int, what: str) -> None:
    rejected(sample_elf(ei_class=ei_class), "not an ELF64 file", what)


@pytest.mark.parametrize(
    ("ei_data", "what"), [(ELFDATA2MSB, "big-endian"), (0, "invalid encoding 0")]
)
def test_not_little_endian(ei_data: int, what: str) -> None:
    rejected(sample_elf(ei_data=ei_data), "not a little-endian", what)


@pytest.mark.parametrize(
    ("machine", "what"), [(EM_X86_64, "EM_X86_64"), (0, "EM_NONE"), (0x7777, "30583")]
)
def test_wrong_machine(machine: int, what: str) -> None:
    rejected(sample_elf(e_machine=machine), "e_machine", what, "EM_RISCV")


@pytest.mark.parametrize(
    ("e_type", "what"),
    [(ET_REL, "ET_REL"), (ET_CORE, "ET_CORE"), (0, "ET_NONE")],
)
def test_not_an_executable(e_type: int, what: str) -> None:
    rejected(sample_elf(e_type=e_type), "e_type", what, "ET_EXEC")


def test_static_pie_loads_at_the_fixed_base() -> None:
    """ET_DYN without PT_INTERP is static PIE: address 0 of it goes to STATIC_PIE_BASE."""
    segs = [Seg(0, CODE, flags=RX), Seg(0x1000, b"data", memsz=0x20, flags=RW)]
    program = Program(make_elf(segs, entry=8, e_type=ET_DYN))
    assert STATIC_PIE_BASE == 0x10000
    assert program.entry == STATIC_PIE_BASE + 8
    assert [s.vaddr for s in program.segments] == [STATIC_PIE_BASE, STATIC_PIE_BASE + 0x1000]
    assert program.headers.base == STATIC_PIE_BASE
    assert program.image_end == STATIC_PIE_BASE + 0x2000


@pytest.mark.parametrize("e_type", [ET_EXEC, ET_DYN])
def test_a_program_with_an_interpreter_is_refused(e_type: int) -> None:
    """PT_INTERP: the program needs a dynamic loader, which rvdist does not provide."""
    segs = [Seg(0x200, b"/lib/ld-linux-riscv64-lp64d.so.1\0", flags=PF_R, type=PT_INTERP),
            Seg(0x10000, CODE, flags=RX)]
    rejected(make_elf(segs, entry=0x10000, e_type=e_type), "dynamically linked",
             "/lib/ld-linux-riscv64-lp64d.so.1", "-static")


def test_program_headers_for_the_auxv() -> None:
    """AT_PHDR: PT_PHDR when there is one, else where a PT_LOAD maps the table."""
    data = make_elf([Seg(0x10000, CODE, flags=RX)], entry=0x10000)
    program = Program(data)
    assert program.headers.phnum == 1 and program.headers.phent == 56
    # make_elf's segment data starts after the headers: no PT_LOAD covers them.
    assert program.headers.phdr is None and len(program.headers.table) == 56


@pytest.mark.parametrize(
    "segments",
    [[], [Seg(0x10000, CODE, flags=RX, type=PT_NOTE)], [Seg(0x10000, flags=RX)]],
    ids=["no-program-headers", "only-note", "only-empty-load"],
)
def test_no_load_segment(segments: list[Seg]) -> None:
    rejected(make_elf(segments, entry=0x10000), "no PT_LOAD segment")


def test_wrong_phentsize() -> None:
    rejected(sample_elf(e_phentsize=32), "e_phentsize", "32")


def test_memsz_smaller_than_filesz() -> None:
    segs = [Seg(0x10000, CODE, flags=RX), Seg(0x11000, b"abcdef", memsz=3, flags=RW)]
    data = make_elf(segs, entry=0x10000)
    rejected(data, "segment 1", "vaddr 0x11000", "p_memsz 0x3", "p_filesz 0x6")


@pytest.mark.parametrize("flags", [PF_X, PF_W, 0])
def test_segment_not_readable(flags: int) -> None:
    segs = [Seg(0x10000, CODE, flags=RX), Seg(0x11000, CODE, flags=flags)]
    rejected(make_elf(segs, entry=0x10000), "segment 1", "vaddr 0x11000", "not readable")


def test_writable_and_executable_segment() -> None:
    segs = [Seg(0x10000, CODE, flags=PF_R | PF_W | PF_X)]
    rejected(make_elf(segs, entry=0x10000), "segment 0", "vaddr 0x10000", "writable and executable")


@pytest.mark.parametrize(
    "second",
    [Seg(0x10008, CODE, flags=RX), Seg(0x0FFF8, CODE, flags=RX), Seg(0x10000, CODE, flags=RX)],
    ids=["tail", "head", "same-start"],
)
def test_overlapping_segments(second: Seg) -> None:
    segs = [Seg(0x10000, CODE, flags=RX), second]
    rejected(make_elf(segs, entry=0x10000), "overlap", "segment 0", "segment 1")


def test_different_permissions_sharing_a_page() -> None:
    segs = [Seg(0x10000, CODE, flags=RX), Seg(0x10800, CODE, memsz=0x1000, flags=RW)]
    rejected(make_elf(segs, entry=0x10000), "share the page at 0x10000", "r-x", "rw-", "segment 1")
    # The page shared is the one where the lower segment ends, not where it starts.
    segs = [Seg(0x10000, CODE, memsz=0x1800, flags=RX), Seg(0x11c00, CODE, flags=PF_R)]
    rejected(make_elf(segs, entry=0x10000), "share the page at 0x11000")


def test_address_overflow() -> None:
    segs = [Seg(0x10000, CODE, flags=RX), Seg(2**64 - 0x10, CODE, memsz=0x100, flags=RW)]
    rejected(make_elf(segs, entry=0x10000), "segment 1", "overflows the 64-bit address space")


def test_absurd_memsz() -> None:
    segs = [Seg(0x10000, CODE, flags=RX), Seg(0x20000, CODE, memsz=2**32 + 1, flags=RW)]
    data = make_elf(segs, entry=0x10000)
    rejected(data, "segment 1", "p_memsz 0x100000001", "larger than any rvdist memory")


@pytest.mark.parametrize(
    "entry", [0x12000, 0x1000C, 0x0, 0x20000], ids=["in-data", "past-code", "zero", "unmapped"]
)
def test_entry_not_in_executable_segment(entry: int) -> None:
    rejected(sample_elf(entry=entry), "entry point", hex(entry), "not inside an executable segment")


# --- check_fits ------------------------------------------------------------------


def test_check_fits() -> None:
    program = Program(sample_elf())
    program.check_fits(0x14010)
    program.check_fits(1 << 20)
    with pytest.raises(ProgramError, match=r"segment 2 \[0x12000, 0x14010\).*0x14000 bytes"):
        program.check_fits(0x14000)


def test_check_fits_segment_ending_at_memory_end() -> None:
    program = Program(make_elf([Seg(0x10000, CODE, flags=RX)], entry=0x1000c))
    program.check_fits(0x10010)
    with pytest.raises(ProgramError, match=r"segment 0 .*does not fit.*0x1000f bytes"):
        program.check_fits(0x1000F)


def test_check_fits_entry_outside() -> None:
    program = Program(make_elf([Seg(0x10000, CODE, flags=RX)], entry=0x1000F))
    program.check_fits(0x10010)
    # A valid ELF always has its entry inside a segment, so only a changed
    # attribute can put it outside memory while every segment fits.
    program.entry = 0x20000
    with pytest.raises(ProgramError, match=r"entry point 0x20000 .*0x10010 bytes"):
        program.check_fits(0x10010)


# --- robustness against malformed input ----------------------------------------


def test_the_reference_judges_known_files() -> None:
    """support.elfcheck, which the tests below hold the loader to, knows right from wrong."""
    ok = verdict(sample_elf())
    assert not ok.refusals and ok.entry == 0x10000
    assert [(s.vaddr, s.perms) for s in ok.segments] == [(0x10000, "r-x"), (0x11000, "r--"), (0x12000, "rw-")]
    for data, fragment in (
        (sample_elf()[:40], "truncated ELF header"),
        (sample_elf(e_machine=EM_X86_64), "e_machine is"),
        (make_elf([Seg(0x10000, CODE, flags=RX | PF_W)], entry=0x10000), "segment 0 (vaddr 0x10000): "
                                                                         "segment is both writable"),
        (make_elf([Seg(0x10000, CODE, flags=RX), Seg(0x10008, CODE, flags=RX)], entry=0x10000),
         "segments overlap: segment 0 [0x10000, 0x10010) r-x and segment 1"),
        (sample_elf(entry=0x11000), "entry point 0x11000 is not inside an executable segment"),
    ):
        (refusal,) = verdict(data).refusals
        assert refusal.startswith(fragment), (refusal, fragment)


def test_every_truncation() -> None:
    data = sample_elf()
    for length in range(len(data)):
        assert assert_loads_as_judged(data[:length]) is not None, length


def test_every_header_byte_set_to_extremes() -> None:
    """Each byte of the ELF and program headers at 0x00, 0x7f, 0x80 and 0xff: the
    program loads exactly as the reference says, or is refused for what is wrong."""
    data = sample_elf()
    outcomes = {"loads": 0, "refused": 0}
    for position in range(64 + 56 * 3):
        for value in (0x00, 0x7F, 0x80, 0xFF):
            error = assert_loads_as_judged(data[:position] + bytes([value]) + data[position + 1 :])
            outcomes["loads" if error is None else "refused"] += 1
    assert outcomes["loads"] > 100 and outcomes["refused"] > 300, outcomes


_mutation = st.one_of(
    st.tuples(st.just("flip"), st.integers(0, 400), st.integers(0, 7)),
    st.tuples(st.just("truncate"), st.integers(0, 400), st.just(0)),
    st.tuples(st.just("insert"), st.integers(0, 400), st.integers(0, 255)),
    st.tuples(st.just("word"), st.integers(0, 400), st.integers(0, 2**64 - 1)),
)


def _mutate(data: bytes, mutations: list[tuple[str, int, int]]) -> bytes:
    buf = bytearray(data)
    for kind, position, value in mutations:
        position = position % (len(buf) + 1)
        if kind == "flip" and position < len(buf):
            buf[position] ^= 1 << value
        elif kind == "truncate":
            del buf[position:]
        elif kind == "insert":
            buf[position:position] = bytes([value])
        elif kind == "word":
            # Whole 64-bit fields reach size/offset checks that single bit flips rarely do.
            buf[position : position + 8] = value.to_bytes(8, "little")
    return bytes(buf)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_mutation, min_size=1, max_size=6))
def test_mutated_elf_loads_or_is_refused_for_what_is_wrong(mutations: list[tuple[str, int, int]]) -> None:
    assert_loads_as_judged(_mutate(sample_elf(), mutations))


# --- real guest programs ---------------------------------------------------------


def test_guest_elfs_parse() -> None:
    # linux/dynamic.elf is there to be refused (test_linux.py).
    paths = sorted(p for p in GUESTS.glob("**/*.elf") if p.name != "dynamic.elf")
    if not paths:
        pytest.skip("no guest ELFs under tests/guests yet")
    for path in paths:
        program = Program.from_file(path)
        assert any(
            s.executable and s.vaddr <= program.entry < s.end for s in program.segments
        ), f"{path}: entry {program.entry:#x} not in an executable segment"


# --- regressions kept from input fuzzing (tests/fuzz_inputs.py, tests/corpus/elf) ----


def test_pn_xnum_count_from_section_zero_is_checked() -> None:
    """e_phnum = PN_XNUM (0xffff) takes the real count from section 0's sh_info: a
    huge count there must be refused by the size check, before any table is read."""
    import struct

    data = bytearray(make_elf([Seg(0x10000, CODE, flags=RX)], entry=0x10000))
    shoff = len(data)
    data += struct.pack("<IIQQQQIIQQ", 0, 0, 0, 0, 0, 0, 0, 0xFFFFFFF0, 0, 64)
    struct.pack_into("<Q", data, 40, shoff)
    struct.pack_into("<HHHH", data, 56, 0xFFFF, 64, 1, 0)
    rejected(bytes(data), "truncated program header table", "4294967280 entries")


def test_thousand_program_headers() -> None:
    segs = [Seg(0, b"", type=PT_NOTE)] * 1000 + [Seg(0x10000, CODE, flags=RX)]
    program = Program(make_elf(segs, entry=0x10000))
    assert len(program.segments) == 1


@pytest.mark.parametrize("relpath", sorted(p.name for p in (GUESTS.parent / "corpus" / "elf").glob("*.elf")))
def test_corpus_elfs_load_or_are_refused_for_what_is_wrong(relpath: str) -> None:
    error = assert_loads_as_judged((GUESTS.parent / "corpus" / "elf" / relpath).read_bytes())
    assert (error is None) == (relpath != "pn-xnum-huge.elf"), error
