"""Differential testing of rvdist's F and D against qemu-riscv64 (Debian's QEMU).

Random sequences of F/D instructions (every arithmetic op, fused multiply-add,
conversion, compare, classify, sign, min/max, move, load/store and the FP
CSR instructions) run on operands chosen to hit the edges: signed zeros,
infinities, quiet and signalling NaNs (with payloads, and singles that are
and are not properly NaN-boxed), subnormals, the smallest normal, the largest
finite value, halfway cases for rounding, and integers at the edges of every
conversion's range. Each instruction gets a random rounding mode: one of the
five static ones, or DYN with frm set to a random valid mode.

After every instruction the program stores all 32 FP registers, fflags and
the integer register the instruction may have written into a buffer
(then often clears fflags, so that each step's flags are compared on their
own), and at the end writes the buffer to stdout. One ELF holds many
sequences; the same ELF runs under qemu-riscv64 and in rvdist, and the two
outputs must be identical byte for byte: FP registers bit for bit, fflags,
and integer results, after every step.

Why QEMU rather than Unicorn here: Unicorn 2 is QEMU 5.0 based, older than
QEMU's RISC-V NaN-boxing checks (5.2) and its RISC-V 2.2 min/max semantics;
Debian's qemu-riscv64 (7.2) has both. Its results were checked against the
hand-written self-checks (tests/guests/isa/f*.S) and riscv-tests
rv64uf/rv64ud, which rvdist passes too.

Run by hand::

    python tests/fpdiff.py --cases 100000 --seed 1
"""

from __future__ import annotations

import argparse
import random
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

sys.path.insert(0, str(Path(__file__).resolve().parent))

from support.elfgen import EHDR_SIZE, EM_RISCV, ET_EXEC, PF_R, PF_W, PF_X, PHDR_SIZE, Seg  # noqa: E402
from support.rvasm import (  # noqa: E402
    OP_FP, OP_IMM, OP_LOAD, OP_LOAD_FP, OP_OP, OP_STORE, OP_STORE_FP, OP_SYSTEM, enc_i, enc_r, enc_s,
)
from support.rvasm import li as rvasm_li  # noqa: E402

TEXT, POOL, DATA = 0x10000, 0x400000, 0x500000
MEMORY_SIZE = 32 << 20
STEPS = 12                  # FP instructions per sequence
RECORD = 8 * 34             # f0..f31, fflags, the integer result
# s0: output pointer; s1: FP pool (255 values); s2: int pool below it (200 values
# at s2 - 2048), scratch for FSW/FSD above it (s2 .. s2 + 256); t6: scratch.
S0, S1, S2, T6 = 8, 9, 18, 31
INT_REGS = (10, 11, 12, 13, 14, 15, 5, 6, 7)    # a0..a5, t0..t2

M64 = (1 << 64) - 1


# ---- operand pools ---------------------------------------------------------

def _f64(x: float) -> int:
    return struct.unpack("<Q", struct.pack("<d", x))[0]


def _f32(x: float) -> int:
    return struct.unpack("<I", struct.pack("<f", x))[0]


def _edge_d() -> list[int]:
    v = [0, 1 << 63, 0x7FF0000000000000, 0xFFF0000000000000, 0x7FF8000000000000,
         0xFFF8000000000000, 0x7FF8000000000123, 0x7FF0000000000001, 0xFFF4000000000000,
         0x7FF4000000000abc, 1, 0x8000000000000001, 0x000FFFFFFFFFFFFF, 0x800FFFFFFFFFFFFF,
         0x0010000000000000, 0x8010000000000000, 0x0010000000000001, 0x001FFFFFFFFFFFFF,
         0x7FEFFFFFFFFFFFFF, 0xFFEFFFFFFFFFFFFF, 0x0008000000000000, 0x0000000000000002]
    for x in (1.0, -1.0, 0.5, -0.5, 1.5, 2.5, -2.5, 3.0, 0.1, -0.7, 1e300, -1e300, 1e-300,
              2.0 ** 31, -(2.0 ** 31), 2.0 ** 31 - 0.5, 2.0 ** 32, 2.0 ** 32 - 1, 2.0 ** 63,
              -(2.0 ** 63), 2.0 ** 64, 2.0 ** 52 + 0.5, 2.0 ** 53 + 2, 4294967295.5,
              -1.0000000000000002, 1.0000000000000002, 2.0 ** -1022 * 1.5, 2.0 ** -1074 * 3,
              3.4028234663852886e38, 3.4028235677973366e38, 1.1754943508222875e-38,
              1.1754942106924411e-38, 1.401298464324817e-45, 7.006492321624085e-46):
        v.append(_f64(x))
    return v


def _edge_s() -> list[int]:
    v = [0, 0x80000000, 0x7F800000, 0xFF800000, 0x7FC00000, 0xFFC00000, 0x7FC00123,
         0x7F800001, 0x7FA00000, 0xFFA00abc, 1, 0x80000001, 0x007FFFFF, 0x807FFFFF,
         0x00800000, 0x80800000, 0x00800001, 0x00FFFFFF, 0x7F7FFFFF, 0xFF7FFFFF, 0x00400000]
    for x in (1.0, -1.0, 0.5, 1.5, 2.5, -2.5, 3.0, 0.1, -0.7, 1e30, -1e30, 1e-30, 2.0 ** 31,
              -(2.0 ** 31), 2.0 ** 32, 2.0 ** 63, -(2.0 ** 63), 2.0 ** 64, 2.0 ** 23 + 0.5,
              16777217.0, 4294967040.0, 2.0 ** -126 * 1.5, 2.0 ** -149 * 3):
        v.append(_f32(x))
    return v


def _random_bits(rng: random.Random, exp_bits: int, frac_bits: int, spread: int, tail: int,
                 low_bits: int) -> int:
    """A random value of an IEEE format with these field widths, weighted to the edges:
    exponents at both ends of the range and about the fraction's width (where sums
    and conversions lose bits), or within ``spread`` of the bias; fractions random,
    cut short, all ones but under ``tail`` low bits, or only ``low_bits`` wide."""
    top = (1 << exp_bits) - 1
    r = rng.random()
    sign = rng.getrandbits(1) << (exp_bits + frac_bits)
    if r < 0.3:
        exp = rng.choice([0, 1, 2, 3, *range(frac_bits - 2, frac_bits + 3), *range(top - 3, top + 1)])
    elif r < 0.7:
        exp = (top >> 1) + rng.randint(-spread, spread)
    else:
        exp = rng.randrange(top + 1)
    frac = rng.choice([rng.getrandbits(frac_bits),
                       rng.getrandbits(frac_bits) & ~((1 << rng.randrange(frac_bits + 1)) - 1),
                       (1 << frac_bits) - 1 - rng.getrandbits(rng.randrange(1, tail)),
                       rng.getrandbits(low_bits)])
    return sign | exp << frac_bits | frac


def _random_d(rng: random.Random) -> int:
    return _random_bits(rng, 11, 52, spread=70, tail=10, low_bits=8)


def _random_s(rng: random.Random) -> int:
    return _random_bits(rng, 8, 23, spread=40, tail=8, low_bits=6)


def make_pool(rng: random.Random) -> list[int]:
    """255 FP register values: doubles, boxed singles and a few unboxed ones."""
    out = []
    edge_d, edge_s = _edge_d(), _edge_s()
    while len(out) < 255:
        r = rng.random()
        if r < 0.2:
            out.append(rng.choice(edge_d))
        elif r < 0.45:
            out.append(_random_d(rng))
        elif r < 0.6:
            out.append(0xFFFFFFFF00000000 | rng.choice(edge_s))
        elif r < 0.9:
            out.append(0xFFFFFFFF00000000 | _random_s(rng))
        else:
            # Not properly NaN-boxed: reads as the canonical NaN in a single op.
            out.append(rng.choice([0, 0x7FFFFFFF00000000, 0xFFFFFFFE00000000]) | _random_s(rng))
    return out


def make_int_pool(rng: random.Random) -> list[int]:
    edge = [0, 1, M64, 2, 3, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF80000000, 0xFFFFFFFF,
            0x7FFFFFFFFFFFFFFF, 0x8000000000000000, 1 << 53, (1 << 53) + 1, (1 << 24) + 1,
            0x100000001, 0xFFFFFFFFFFFFFFFE, 0x0000000100000000, 16777217, 0x7FFFFFFFFFFFFC00]
    out = []
    while len(out) < 200:
        r = rng.random()
        if r < 0.4:
            out.append(rng.choice(edge))
        elif r < 0.7:
            out.append(rng.getrandbits(rng.choice([8, 24, 25, 31, 32, 53, 54, 63, 64])))
        else:
            out.append(-rng.getrandbits(rng.choice([8, 24, 31, 32, 53, 63])) & M64)
    return out


# ---- encoding (on the tests' one encoder, support.rvasm) -------------------------

def fp_op(f7: int, rs2: int, rs1: int, f3: int, rd: int) -> int:
    return enc_r(f7, rs2, rs1, f3, rd, OP_FP)


def csr(op_f3: int, rd: int, rs1: int, num: int) -> int:
    return enc_i(num, rs1, op_f3, rd, OP_SYSTEM)


def li(rd: int, v: int) -> list[int]:
    """Load a 32-bit signed constant: the instruction words."""
    return list(memoryview(rvasm_li(rd, v)).cast("I"))


RM_NAMES = ["rne", "rtz", "rdn", "rup", "rmm", "?", "?", "dyn"]


@dataclass
class Step:
    word: int
    text: str
    int_rd: int = 0         # integer register the step writes (0: none)


@dataclass
class Sequence:
    fcsr: int
    fregs: list[int]        # pool indices
    iregs: list[int]        # int pool index per INT_REGS entry
    steps: list[Step] = field(default_factory=list)


# (mnemonic, funct7 base (fmt added), kind)
_ARITH = [("fadd", 0x00), ("fsub", 0x04), ("fmul", 0x08), ("fdiv", 0x0C)]
_FMA = [("fmadd", 0x43), ("fmsub", 0x47), ("fnmsub", 0x4B), ("fnmadd", 0x4F)]
_CVT_INT = ["w", "wu", "l", "lu"]


def gen_step(rng: random.Random) -> Step:
    fmt = rng.getrandbits(1)                # 0 single, 1 double
    sfx = ".d" if fmt else ".s"
    rd, rs1, rs2, rs3 = (rng.randrange(32) for _ in range(4))
    rm = rng.choice([0, 1, 2, 3, 4, 7, 7, 7])
    rmn = RM_NAMES[rm]
    ird = rng.choice(INT_REGS)
    irs = rng.choice(INT_REGS)
    k = rng.randrange(100)
    if k < 22:
        name, f7 = rng.choice(_ARITH)
        return Step(fp_op(f7 | fmt, rs2, rs1, rm, rd), f"{name}{sfx} f{rd}, f{rs1}, f{rs2}, {rmn}")
    if k < 32:
        name, op = rng.choice(_FMA)
        w = rs3 << 27 | fmt << 25 | rs2 << 20 | rs1 << 15 | rm << 12 | rd << 7 | op
        return Step(w, f"{name}{sfx} f{rd}, f{rs1}, f{rs2}, f{rs3}, {rmn}")
    if k < 37:
        return Step(fp_op(0x2C | fmt, 0, rs1, rm, rd), f"fsqrt{sfx} f{rd}, f{rs1}, {rmn}")
    if k < 42:
        f3 = rng.randrange(3)
        return Step(fp_op(0x10 | fmt, rs2, rs1, f3, rd),
                    f"{['fsgnj', 'fsgnjn', 'fsgnjx'][f3]}{sfx} f{rd}, f{rs1}, f{rs2}")
    if k < 48:
        f3 = rng.randrange(2)
        return Step(fp_op(0x14 | fmt, rs2, rs1, f3, rd), f"{['fmin', 'fmax'][f3]}{sfx} f{rd}, f{rs1}, f{rs2}")
    if k < 54:
        f3 = rng.randrange(3)
        return Step(fp_op(0x50 | fmt, rs2, rs1, f3, ird),
                    f"{['fle', 'flt', 'feq'][f3]}{sfx} x{ird}, f{rs1}, f{rs2}", ird)
    if k < 58:
        return Step(fp_op(0x70 | fmt, 0, rs1, 1, ird), f"fclass{sfx} x{ird}, f{rs1}", ird)
    if k < 64:
        if fmt:
            return Step(fp_op(0x21, 0, rs1, rm, rd), f"fcvt.d.s f{rd}, f{rs1}, {rmn}")
        return Step(fp_op(0x20, 1, rs1, rm, rd), f"fcvt.s.d f{rd}, f{rs1}, {rmn}")
    if k < 76:
        t = rng.randrange(4)
        return Step(fp_op(0x60 | fmt, t, rs1, rm, ird), f"fcvt.{_CVT_INT[t]}{sfx} x{ird}, f{rs1}, {rmn}", ird)
    if k < 86:
        t = rng.randrange(4)
        return Step(fp_op(0x68 | fmt, t, irs, rm, rd), f"fcvt{sfx}.{_CVT_INT[t]} f{rd}, x{irs}, {rmn}")
    if k < 90:
        if rng.getrandbits(1):
            return Step(fp_op(0x70 | fmt, 0, rs1, 0, ird), f"fmv.x.{'d' if fmt else 'w'} x{ird}, f{rs1}", ird)
        return Step(fp_op(0x78 | fmt, 0, irs, 0, rd), f"fmv.{'d' if fmt else 'w'}.x f{rd}, x{irs}")
    if k < 95:
        # Stores and loads through the scratch area (aligned or not).
        off = rng.randrange(0, 62) * 4
        if rng.getrandbits(1):
            return Step(enc_s(off, rs2, S2, 2 + fmt, OP_STORE_FP), f"fs{'d' if fmt else 'w'} f{rs2}, {off}(s2)")
        return Step(enc_i(off, S2, 2 + fmt, rd, OP_LOAD_FP), f"fl{'d' if fmt else 'w'} f{rd}, {off}(s2)")
    # CSR instructions on fflags (1), frm (2), fcsr (3): writes keep frm valid.
    num = rng.choice([1, 2, 3])
    f3 = rng.choice([1, 2, 3, 5, 6, 7])
    if f3 >= 5:
        uimm = rng.randrange(32)
        if num == 2 and f3 == 5:
            uimm = rng.randrange(5)     # frm stays a valid mode
        if num == 2 and f3 == 6:
            uimm = 0                    # setting bits could make it 5..7
        if num == 3 and f3 != 7:
            uimm &= 0x1F    # frm untouched by a 5-bit uimm
        return Step(csr(f3, ird, uimm, num), f"csrr{['', 'w', 's', 'c'][f3 & 3]}i x{ird}, {num}, {uimm}", ird)
    # Register forms: only csrrc (clearing bits keeps frm valid) with a random register
    # value; csrrw/csrrs with x0 (read, or write zero).
    if f3 == 3:
        return Step(csr(3, ird, irs, num), f"csrrc x{ird}, {num}, x{irs}", ird)
    return Step(csr(f3, ird, 0, num), f"csrr{['', 'w', 's'][f3]} x{ird}, {num}, x0", ird)


def gen_sequence(rng: random.Random) -> Sequence:
    fcsr = rng.randrange(5) << 5 | rng.randrange(32)
    return Sequence(fcsr, [rng.randrange(255) for _ in range(32)],
                    [rng.randrange(200) for _ in INT_REGS],
                    [gen_step(rng) for _ in range(STEPS)])


def _dump(ird: int) -> list[int]:
    out = [enc_s(8 * r, r, S0, 3, OP_STORE_FP) for r in range(32)]      # fsd fr, 8r(s0)
    out.append(csr(2, T6, 0, 1))                                   # frflags t6
    out.append(enc_s(256, T6, S0, 3, OP_STORE))                       # sd t6, 256(s0)
    out.append(enc_s(264, ird, S0, 3, OP_STORE))                      # sd xird, 264(s0)
    out.append(enc_i(RECORD, S0, 0, S0, OP_IMM))                    # addi s0, s0, RECORD
    return out


@dataclass
class Batch:
    """Many sequences in one program, and what it prints: their records."""

    seed: int
    pool: list[int]
    ints: list[int]
    seqs: list[Sequence]

    def elf(self) -> bytes:
        words: list[int] = []
        words += li(S0, DATA)
        words += li(S1, POOL)
        words += li(S2, POOL + 4096)
        for seq in self.seqs:
            words += li(T6, seq.fcsr)
            words.append(csr(1, 0, T6, 3))                         # fscsr t6
            for r, idx in enumerate(seq.fregs):
                words.append(enc_i(8 * idx, S1, 3, r, OP_LOAD_FP))      # fld fr, 8idx(s1)
            for r, idx in zip(INT_REGS, seq.iregs):
                words.append(enc_i(8 * idx - 2048, S2, 3, r, OP_LOAD))   # ld r, (int pool)
            for i, st in enumerate(seq.steps):
                words.append(st.word)
                words += _dump(st.int_rd)
                if st.word & 0x7F != 0x73 and (st.word + i) % 4:
                    words.append(csr(1, 0, 0, 1))                  # fsflags x0 (most steps)
        words.append(enc_i(1, 0, 0, 10, OP_IMM))                    # a0 = 1 (stdout)
        words += li(11, DATA)
        words.append(enc_r(0x20, 11, S0, 0, 12, OP_OP))            # a2 = s0 - a1
        words += [enc_i(64, 0, 0, 17, OP_IMM), OP_SYSTEM]                # write
        words += [enc_i(0, 0, 0, 10, OP_IMM), enc_i(93, 0, 0, 17, OP_IMM), OP_SYSTEM]   # exit(0)
        code = struct.pack(f"<{len(words)}I", *words)
        pool = bytearray(8192)
        struct.pack_into("<255Q", pool, 0, *self.pool)
        struct.pack_into(f"<{len(self.ints)}Q", pool, 4096 - 2048, *self.ints)
        out_size = RECORD * sum(len(s.steps) for s in self.seqs)
        return paged_elf([Seg(TEXT, code, flags=PF_R | PF_X),
                          Seg(POOL, bytes(pool), flags=PF_R | PF_W),
                          Seg(DATA, b"", memsz=(out_size + 4095) // 4096 * 4096, flags=PF_R | PF_W)],
                         entry=TEXT)

    def expected_len(self) -> int:
        return RECORD * sum(len(s.steps) for s in self.seqs)


def paged_elf(segments: list[Seg], entry: int) -> bytes:
    """An ELF whose segments sit at page-aligned file offsets, as Linux (and
    so qemu-riscv64) wants; elfgen.make_elf packs them tighter."""
    phdrs, body = b"", bytearray()
    at = 4096
    for seg in segments:
        phdrs += struct.pack("<IIQQQQQQ", 1, seg.flags, at, seg.vaddr, seg.vaddr, len(seg.data),
                             len(seg.data) if seg.memsz is None else seg.memsz, 4096)
        body += seg.data + bytes(-len(seg.data) % 4096)
        at += (len(seg.data) + 4095) // 4096 * 4096
    ident = b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8)
    header = struct.pack("<16sHHIQQQIHHHHHH", ident, ET_EXEC, EM_RISCV, 1, entry, EHDR_SIZE, 0,
                         0x5, EHDR_SIZE, PHDR_SIZE, len(segments), 64, 0, 0)   # RVC, double ABI
    head = header + phdrs
    return head + bytes(4096 - len(head)) + bytes(body)


def gen_batch(seed: int, n: int) -> Batch:
    rng = random.Random(seed)
    return Batch(seed, make_pool(rng), make_int_pool(rng), [gen_sequence(rng) for _ in range(n)])


def run_qemu(elf: bytes) -> bytes:
    with tempfile.NamedTemporaryFile(suffix=".elf", delete=False) as f:
        f.write(elf)
        path = f.name
    try:
        Path(path).chmod(0o755)
        p = subprocess.run(["qemu-riscv64", path], capture_output=True, timeout=300)
    finally:
        Path(path).unlink()
    if p.returncode != 0:
        raise RuntimeError(f"qemu-riscv64 exited {p.returncode}: {p.stderr[:500]!r}")
    return p.stdout


def run_rvdist(elf: bytes, out_len: int, budgets: Optional[list[int]] = None) -> bytes:
    """The program's stdout in rvdist; with budgets, run in those slices (cycled)."""
    import rvdist
    m = rvdist.Machine(rvdist.Program(elf), memory_size=MEMORY_SIZE,
                       output_limit=max(out_len + 4096, 1 << 20))
    if budgets:
        i = 0
        while not (r := m.run(budgets[i % len(budgets)])).done:
            i += 1
    else:
        r = m.run()
    if r.error is not None or r.exit_code != 0:
        raise RuntimeError(f"rvdist: {r.error!r} exit {r.exit_code}")
    return m.stdout


def _hex(v: int) -> str:
    return f"0x{v:016x}"


def explain(batch: Batch, want: bytes, got: bytes) -> str:
    """The first differing step: its sequence's listing and the differing fields."""
    n = min(len(want), len(got))
    at = next((i for i in range(n) if want[i] != got[i]), n)
    rec = at // RECORD
    seq_i, step_i = divmod(rec, STEPS)
    if seq_i >= len(batch.seqs):
        return f"output lengths differ: qemu {len(want)}, rvdist {len(got)} bytes"
    seq = batch.seqs[seq_i]
    w = struct.unpack_from("<34Q", want, rec * RECORD) if len(want) >= (rec + 1) * RECORD else None
    g = struct.unpack_from("<34Q", got, rec * RECORD) if len(got) >= (rec + 1) * RECORD else None
    lines = [f"batch seed {batch.seed}, sequence {seq_i}, step {step_i}: {seq.steps[step_i].text}",
             f"initial fcsr=0x{seq.fcsr:02x}; f registers:"]
    lines += [f"  f{r} = {_hex(batch.pool[i])}" for r, i in enumerate(seq.fregs)]
    lines += [f"  x{r} = {_hex(batch.ints[i])}" for r, i in zip(INT_REGS, seq.iregs)]
    lines.append("steps:")
    lines += [f"  {'>' if k == step_i else ' '} {st.text}  (0x{st.word:08x})" for k, st in enumerate(seq.steps)]
    if w and g:
        names = [f"f{r}" for r in range(32)] + ["fflags", "x result"]
        lines += [f"  {names[k]}: qemu {_hex(w[k])}  rvdist {_hex(g[k])}"
                  for k in range(34) if w[k] != g[k]]
    return "\n".join(lines)


def check_batch(seed: int, n: int, budgets: Optional[list[int]] = None) -> Optional[str]:
    """None if rvdist and qemu agree on batch ``seed`` of n sequences, else a report."""
    batch = gen_batch(seed, n)
    elf = batch.elf()
    want = run_qemu(elf)
    got = run_rvdist(elf, batch.expected_len(), budgets)
    if len(want) != batch.expected_len():
        return f"qemu printed {len(want)} bytes, expected {batch.expected_len()}"
    return None if want == got else explain(batch, want, got)


def available() -> bool:
    return shutil.which("qemu-riscv64") is not None


def run_many(cases: int, seed: int = 1, per_batch: int = 500, stop_after: int = 3,
             budgets: Optional[list[int]] = None) -> tuple[int, list[str]]:
    """Check ``cases`` sequences in batches; (sequences checked, failure reports)."""
    failures: list[str] = []
    done = 0
    b = 0
    while done < cases and len(failures) < stop_after:
        n = min(per_batch, cases - done)
        problem = check_batch(seed * 1_000_003 + b, n, budgets)
        if problem:
            failures.append(problem)
        done += n
        b += 1
    return done, failures


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cases", type=int, default=10000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--per-batch", type=int, default=500)
    a = ap.parse_args()
    t = time.time()
    n, failures = run_many(a.cases, a.seed, a.per_batch)
    for f in failures:
        print(f, end="\n\n")
    print(f"{n} sequences ({n * STEPS} FP instructions), {len(failures)} failing batch(es), "
          f"{time.time() - t:.0f} s")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
