"""F, D and Zicsr in the core: what the self-check guests (isa/f*.S) cannot
show from inside: exact counters, illegal rounding modes and CSR writes,
the cost classes, and FP state across slices and snapshots.
"""

from __future__ import annotations

import random
import struct
import sys
from pathlib import Path

import pytest

import rvdist
from rvdist import IllegalInstruction, cost
from support.elfgen import asm_elf
from support.guests import final_state
from support.rvasm import (
    OP_FP, OP_MADD, OP_STORE_FP, OP_SYSTEM, addi, bne, enc_i, enc_r, enc_s, exit_with, li, word,
)

sys.path.insert(0, str(Path(__file__).resolve().parent))
import fpdiff  # noqa: E402

CYCLE, TIME, INSTRET = 0xC00, 0xC01, 0xC02


def csrrs(rd: int, csr: int, rs1: int = 0) -> bytes:
    return word(enc_i(csr, rs1, 2, rd, OP_SYSTEM))


def csrrwi(rd: int, csr: int, uimm: int) -> bytes:
    return word(enc_i(csr, uimm, 5, rd, OP_SYSTEM))


def fadd_d(rd: int, rs1: int, rs2: int, rm: int) -> int:
    return enc_r(0x01, rs2, rs1, rm, rd, OP_FP)


def counters_elf(n_alu: int) -> bytes:
    """a0 = 0 and n_alu ALU instructions, then cycle into a3, instret into a4, time into a5."""
    return asm_elf(addi("a0", 0, 0) + b"".join(addi("a0", "a0", 1) for _ in range(n_alu))
                   + csrrs(13, CYCLE) + csrrs(14, INSTRET) + csrrs(15, TIME) + exit_with("a0"))


@pytest.mark.parametrize("model", ["unit", "ckb", {"alu": 7, "csr": 3}])
@pytest.mark.parametrize("extra", [None, 0, 1, 13])
def test_counters_are_the_cycles_charged_before_the_reading_instruction(model, extra) -> None:
    _, costs = cost.resolve(model)
    # Slices of at least the dearest instruction's cost, so every slice progresses.
    budget = None if extra is None else max(costs) + extra
    alu, csr = costs[cost.CLASSES.index("alu")], costs[cost.CLASSES.index("csr")]
    n = 250
    m = rvdist.Machine(counters_elf(n), cost_model=model)
    while not (r := m.run(budget)).done:
        pass
    assert r.exit_code == n
    regs = m.registers
    assert regs["a3"] == (n + 1) * alu
    assert regs["a4"] == (n + 1) * alu + csr
    assert regs["a5"] == ((n + 1) * alu + 2 * csr) // rvdist._core.lib.RV_CYCLES_PER_TICK


def test_time_is_cycles_over_100_in_a_long_run() -> None:
    # A loop of 3 instructions run 100000 times, then the three counters.
    code = (li("t0", 100000) + addi("t0", "t0", -1)
            + bne("t0", 0, -4) + csrrs(13, CYCLE) + csrrs(15, TIME) + exit_with("a0"))
    m = rvdist.Machine(asm_elf(code), max_cycles=10 ** 6)
    m.run()
    assert m.registers["a3"] > 200000
    assert m.registers["a5"] == (m.registers["a3"] + 1) // 100


@pytest.mark.parametrize("bits, what", [
    (0xC0051073, "csrw cycle, a0"),
    (0xC025A573, "csrrs a0, instret, a1"),
    (0xC010E573, "csrrsi a0, time, 1"),
    (0xC0205073, "csrrwi zero, instret, 0"),
    (0xC8002573, "csrr a0, cycleh"),
    (0x00402573, "csrr a0, 0x004"),
    (0x30002573, "csrr a0, mstatus"),
    (fadd_d(10, 10, 11, 5), "fadd.d rm=5"),
    (fadd_d(10, 10, 11, 6), "fadd.d rm=6"),
    (0x0605F553, "fadd.h (no Zfh)"),
    (0x5805F553 | 1 << 20, "fsqrt.s with rs2 != 0"),
])
def test_illegal_at_decode(bits: int, what: str) -> None:
    m = rvdist.Machine(asm_elf(addi("a0", 0, 1) + word(bits) + exit_with("a0")))
    r = m.run()
    assert isinstance(r.error, IllegalInstruction), what
    assert r.error.bits == bits and m.cycles == 1      # an illegal instruction costs nothing


@pytest.mark.parametrize("frm", [5, 6, 7])
@pytest.mark.parametrize("budget", [None, 500])
def test_dynamic_rounding_with_an_invalid_frm_is_illegal(frm: int, budget) -> None:
    bits = fadd_d(10, 10, 11, 7)
    code = csrrwi(0, 2, frm) + addi("a0", 0, 1) + word(bits) + exit_with("a0")
    m = rvdist.Machine(asm_elf(code), cost_model="ckb")
    while not (r := m.run(budget)).done:
        pass
    assert isinstance(r.error, IllegalInstruction)
    assert r.error.bits == bits and r.error.pc == 0x10000 + 8
    assert m.cycles == 4 + 1        # the CSR write and the addi; the fadd costs nothing
    assert m.fcsr == frm << 5


def test_dynamic_rounding_with_a_valid_frm_runs() -> None:
    code = csrrwi(0, 2, 4) + word(fadd_d(10, 10, 11, 7)) + exit_with("a0")
    r = rvdist.Machine(asm_elf(code)).run()
    assert r.error is None and r.exit_code == 0     # a0 = 0 at start (Linux ABI), untouched


def test_fp_cost_classes_are_charged() -> None:
    # fadd.d, fmadd.d, fdiv.d, fsd, csrr fflags: one of each FP class.
    fmadd = enc_r(12 << 2 | 1, 11, 10, 0, 10, OP_MADD)     # fmadd.d fa0, fa0, fa1, fa2
    fdiv = enc_r(0x0D, 11, 10, 0, 10, OP_FP)               # fdiv.d fa0, fa0, fa1, rne
    fsd = enc_s(0, 10, 2, 3, OP_STORE_FP)                  # fsd fa0, 0(sp)
    code = (addi("sp", "sp", -16) + word(fadd_d(10, 10, 11, 0)) + word(fmadd) + word(fdiv) + word(fsd)
            + csrrs(10, 1) + exit_with("a0"))
    model = {"fp": 11, "fp_fma": 13, "fp_div": 17, "fp_mem": 19, "csr": 23}
    m = rvdist.Machine(asm_elf(code), cost_model=model)
    r = m.run()
    assert r.exit_code == 16        # fflags: NV from fdiv's 0 / 0
    # addi sp, the five FP instructions, li a7 (ALU) and the ecall (system), 1 each.
    assert m.cycles == 1 + 11 + 13 + 17 + 19 + 23 + 1 + 1


def test_cost_classes_match_the_core() -> None:
    lib = rvdist._core.lib
    assert len(cost.CLASSES) == lib.RV_NCLASSES
    for name in ("fp", "fp_fma", "fp_div", "fp_mem", "csr"):
        assert cost.CLASSES.index(name) == getattr(lib, f"RV_CLASS_{name.upper()}")
    assert all(cost.MODELS["ckb"][c] >= 1 for c in cost.CLASSES)


def _fp_program(seed: int, n: int = 2) -> bytes:
    return fpdiff.gen_batch(seed, n).elf()


def _run(m: rvdist.Machine, budget=None) -> dict:
    while not (r := m.run(budget)).done:
        pass
    return final_state(m, r)


def test_fp_state_survives_a_snapshot_at_every_instruction() -> None:
    """Snapshot between any two instructions of an FP program (every rounding
    mode, NaN, flags), restore from the bytes, finish: identical to one run."""
    elf = _fp_program(11, 1)
    kw = dict(memory_size=8 << 20, output_limit=1 << 20)
    want = _run(rvdist.Machine(rvdist.Program(elf), **kw))
    m = rvdist.Machine(rvdist.Program(elf), **kw)
    steps = 0
    while not m.run(1).done:
        steps += 1
        snap = rvdist.Snapshot.from_bytes(m.snapshot().to_bytes())
        back = rvdist.Machine.restore(rvdist.Program(elf), snap)
        assert (back.fp_registers, back.fcsr, back.pc) == (m.fp_registers, m.fcsr, m.pc)
        if steps % 37 == 0:
            assert _run(back) == want, f"restored after {steps} instructions"
    assert steps > 400
    assert _run(m) == want


@pytest.mark.parametrize("seed", [1, 2])
def test_fp_programs_in_random_slices_with_snapshot_chains(seed: int) -> None:
    elf = _fp_program(100 + seed, 20)
    kw = dict(memory_size=8 << 20, output_limit=1 << 22)
    want = _run(rvdist.Machine(rvdist.Program(elf), **kw))
    rng = random.Random(seed)
    m = rvdist.Machine(rvdist.Program(elf), **kw)
    chain = []
    while not m.run(rng.choice([1, 2, 3, 50, 777, 5000])).done:
        if rng.random() < 0.2:
            chain.append(m.snapshot(incremental=bool(chain)))
            if rng.random() < 0.5:
                m = rvdist.Machine.restore(rvdist.Program(elf), chain)
    assert final_state(m, m.run()) == want


def test_fflags_read_mid_run_sees_host_flags() -> None:
    """fdiv by zero then csrr fflags in the same block: the flag raised on the
    host FPU must be visible to the read, and to Python after the run."""
    fdiv = enc_r(0x0D, 11, 10, 0, 12, OP_FP)               # fdiv.d fa2, fa0, fa1, rne
    fcvt_d_w = enc_r(0x69, 0, 5, 0, 10, OP_FP)             # fa0 = (double)t0
    code = li("t0", 1) + word(fcvt_d_w) + word(fdiv) + csrrs(10, 1) + exit_with("a0")
    m = rvdist.Machine(asm_elf(code))
    r = m.run()
    assert r.exit_code == 8 and m.fcsr == 8     # DZ
    assert struct.pack("<Q", m.fp_registers[12]) == struct.pack("<d", float("inf"))


def test_version_is_3() -> None:
    assert rvdist.snapshot.FORMAT_VERSION == 3
