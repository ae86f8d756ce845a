"""Differential tests: rvdist against Unicorn (QEMU) on random instruction sequences.

The generator, the assembler, both runners and the pure-Python reference of
the bit-manipulation extensions live in :mod:`diffgen` (see its docstring for
what is compared and which differences are legitimate). A failure message
holds the case seed, the program listing and the differing registers and
memory, and a one-line reproduction.

The default suite runs a few thousand sequences; ``-m slow`` runs many more
(``RVDIST_DIFF_CASES``, default 50,000, and a tenth as many fault cases).
``python tests/diffgen.py --cases N --seed S`` does the same by hand.
"""

from __future__ import annotations

import os
import random
import shutil

import pytest

import unicorn  # noqa: E402,F401  (a test extra: missing is a failure, not a skip)

import diffgen  # noqa: E402
from diffgen import INT64_MAX, INT64_MIN, M64, ZB_REF  # noqa: E402

import rvdist  # noqa: E402
from support.elfgen import PF_R, PF_X, Seg, make_elf  # noqa: E402

DEFAULT_CASES = 3000
DEFAULT_FAULT_CASES = 800


def _check(n: int, failures: list[str], what: str) -> None:
    assert not failures, (f"{len(failures)} divergence(s) in the first {n} {what}:\n\n"
                          + "\n\n".join(failures))


def test_random_sequences_match_unicorn() -> None:
    n, failures = diffgen.run_many(DEFAULT_CASES, seed=1, stop_after=3)
    _check(n, failures, "random sequences")


def test_fault_cases_match_unicorn() -> None:
    n, failures = diffgen.run_faults(DEFAULT_FAULT_CASES, seed=1, stop_after=3)
    _check(n, failures, "fault cases")


@pytest.mark.parametrize("index", range(len(diffgen.RVDIST_ONLY_FAULTS)),
                         ids=[i.text.split(" (")[0] for i, _ in diffgen.RVDIST_ONLY_FAULTS])
def test_rvdist_only_faults(index: int) -> None:
    """CSR access, F/D, privileged and non-ratified ops: illegal in rvdist (Unicorn runs them)."""
    n = len(diffgen.RVDIST_ONLY_FAULTS)
    failures = []
    for k in range(5):
        case = diffgen.generate_rvdist_only(index + n * k)
        problems = diffgen.check_fault_case(case)
        if problems:
            failures.append(diffgen.report(case, problems))
    _check(5, failures, "cases")


@pytest.mark.parametrize("insn", diffgen.ILLEGAL_BOTH, ids=lambda i: i.text.split(" (")[0])
def test_illegal_encodings(insn: diffgen.Insn) -> None:
    """Each reserved encoding is an illegal instruction at its own pc, in both."""
    rng = random.Random(insn.word)
    g = diffgen._Gen(rng)
    sp = g.base[diffgen.SP]
    prefix = g.sequence(6)
    g.base[diffgen.SP] = sp
    case = diffgen.Case(insn.word, 6, prefix + [insn] + diffgen.TAIL, g.initial_regs(),
                        g.initial_data(diffgen.DATA_END - diffgen.DATA_START),
                        rng.randbytes(diffgen.RO_END - diffgen.RO_START), None,
                        expect="illegal_instruction", fault_index=len(prefix))
    problems = diffgen.check_fault_case(case)
    assert not problems, diffgen.report(case, problems)


def test_bitmanip_matches_reference() -> None:
    """Every Zba/Zbb/Zbc/Zbs op on edge and random operands against the Python reference."""
    problems = diffgen.bitmanip_batch(seed=1, per_op=80)
    assert not problems, "\n".join(problems[:40])


def test_unicorn_lacks_bitmanip() -> None:
    """Why the reference exists: Unicorn's riscv64 CPU rejects the Zb* ops.

    If this starts failing, Unicorn has learnt them and can check them directly.
    """
    import unicorn
    uc = unicorn.Uc(unicorn.UC_ARCH_RISCV, unicorn.UC_MODE_RISCV64)
    uc.mem_map(diffgen.TEXT, 0x1000)
    uc.mem_write(diffgen.TEXT, diffgen.code_bytes([diffgen.zb_op("sh1add", 10, 11, 12)]))
    with pytest.raises(unicorn.UcError):
        uc.emu_start(diffgen.TEXT, diffgen.TEXT + 4)


# Known answers for the reference itself, worked out by hand from the spec.
REFERENCE_EXAMPLES = [
    ("clz", 0, 0, 64), ("clz", 1, 0, 63), ("clz", M64, 0, 0), ("clzw", 0xFFFFFFFF00000000, 0, 32),
    ("clzw", 0x8000, 0, 16), ("ctz", 0, 0, 64), ("ctz", INT64_MIN, 0, 63),
    ("ctzw", 0xFFFFFFFF00000000, 0, 32), ("ctzw", 0x100, 0, 8), ("cpop", M64, 0, 64),
    ("cpopw", M64, 0, 32), ("sext.b", 0x80, 0, 0xFFFFFFFFFFFFFF80), ("sext.h", 0x17FFF, 0, 0x7FFF),
    ("zext.h", M64, 0, 0xFFFF), ("orc.b", 0x0001000000000100, 0, 0x00FF00000000FF00),
    ("rev8", 0x0123456789ABCDEF, 0, 0xEFCDAB8967452301),
    ("rol", INT64_MIN | 1, 65, 3), ("ror", 3, 1, INT64_MIN | 1), ("rori", 1, 63, 2),
    ("rolw", 0x80000001, 1, 3), ("rorw", 1, 1, 0xFFFFFFFF80000000),
    ("roriw", 0xFFFFFFFF00000002, 1, 1), ("max", M64, 0, 0), ("maxu", M64, 0, M64),
    ("min", INT64_MIN, INT64_MAX, INT64_MIN), ("minu", INT64_MIN, INT64_MAX, INT64_MAX),
    ("andn", 0xFF, 0x0F, 0xF0), ("orn", 0, M64, 0), ("xnor", 5, 5, M64),
    ("add.uw", 0xFFFFFFFF00000001, 1, 2), ("sh1add", 1, 1, 3), ("sh2add", 1, 1, 5),
    ("sh3add", M64, 0, 0xFFFFFFFFFFFFFFF8), ("sh3add.uw", 0xFFFFFFFF00000001, 0, 8),
    ("slli.uw", 0xFFFFFFFF80000000, 1, 0x100000000), ("clmul", 3, 3, 5),
    ("clmul", INT64_MIN, 2, 0), ("clmulh", INT64_MIN, 2, 1), ("clmulh", M64, M64, 0x5555555555555555),
    ("clmulr", INT64_MIN, 2, 2), ("clmulr", 1, 1, 0), ("bclr", M64, 64 + 63, INT64_MAX),
    ("bext", 4, 2, 1), ("bexti", 4, 1, 0), ("binv", 0, 63, INT64_MIN), ("bset", 0, 3, 8),
    ("bseti", 1, 0, 1), ("bclri", 3, 1, 1), ("binvi", 1, 0, 0),
]


@pytest.mark.parametrize("name,a,b,want", REFERENCE_EXAMPLES)
def test_reference_known_answers(name: str, a: int, b: int, want: int) -> None:
    assert ZB_REF[name](a, b) == want


def test_reference_clmul_identities() -> None:
    """clmul, clmulh and clmulr are slices of the same 128-bit carry-less product."""
    rng = random.Random(5)
    for _ in range(300):
        a, b = rng.getrandbits(64), rng.getrandbits(64)
        full = (ZB_REF["clmulh"](a, b) << 64) | ZB_REF["clmul"](a, b)
        assert ZB_REF["clmulr"](a, b) == (full >> 63) & M64
        assert ZB_REF["clmul"](a, b) == ZB_REF["clmul"](b, a)


def test_encoder_matches_llvm_mc() -> None:
    """Our assembler agrees with llvm-mc on every instruction it generates."""
    llvm_mc = shutil.which("llvm-mc")
    if llvm_mc is None:
        pytest.skip("llvm-mc is not installed")
    insns = []
    for i in range(300):
        insns += diffgen.generate(diffgen.case_seed(9, i)).insns
        insns += diffgen.generate_fault(diffgen.case_seed(9, i)).insns
    insns += [i for i, _ in diffgen.RVDIST_ONLY_FAULTS]
    insns += diffgen.bitmanip_program(random.Random(9), 10)[0]
    for sh in range(64):
        insns += [diffgen.zb_op(n, 10, 11, sh) for n, spec in diffgen.ZB_I.items() if sh < 1 << spec[3]]
    problems = diffgen.llvm_check(insns, llvm_mc)
    assert not problems, "\n".join(problems[:40])


def test_page_crossing_sequences() -> None:
    """Sequences laid across the page boundary at 0x11000, splitting 32-bit instructions."""
    failures = []
    for i in range(300):
        case = diffgen.generate(diffgen.case_seed(4, i), cross_page=True)
        problems = diffgen.check_case(case, sliced=i % 2 == 0, budget_probe=i % 2 == 1)
        if problems:
            failures.append(diffgen.report(case, problems))
            if len(failures) >= 3:
                break
    _check(300, failures, "page-crossing sequences")


def test_harness_catches_a_wrong_result(monkeypatch: pytest.MonkeyPatch) -> None:
    """The comparison is not vacuous: a deliberately wrong reference is noticed."""
    right = ZB_REF["sh1add"]
    monkeypatch.setitem(ZB_REF, "sh1add", lambda a, b: right(a, b) ^ 1)
    insns = [diffgen.zb_op("sh1add", 10, 11, 12)] + diffgen.TAIL
    case = diffgen.Case(0, 1, insns, [0] * 10 + [0, 5, 7] + [0] * 19, bytes(0x10000),
                        bytes(0x2000), 2)
    problems = diffgen.check_case(case)
    assert problems and "x10/a0" in problems[0]
    # And a case that agrees reports nothing.
    monkeypatch.setitem(ZB_REF, "sh1add", right)
    assert diffgen.check_case(case) == []


# -- regressions: rvdist bugs found by this harness ------------------------------


def test_unsupported_syscall_is_an_error_result() -> None:
    """Machine.run() once returned RunResult(state='host_call', error=None) for an
    ecall whose a7 has no handler, while the machine itself was in state 'error'."""
    code = diffgen.code_bytes([diffgen.i_op("addi", diffgen.A7, 0, 198), diffgen.ECALL])   # socket
    m = rvdist.Machine(make_elf([Seg(0x10000, code, flags=PF_R | PF_X)], 0x10000))
    r = m.run()
    assert r.state == "error", r
    assert r.error is not None and r.error.kind == "unsupported_syscall" and r.error.pc == 0x10004
    # The differential fault cases of this kind then agree with Unicorn too.
    n, failures = diffgen.run_faults(100, seed=2, kinds=("unsupported_syscall",),
                                     rvdist_only=False, stop_after=1)
    _check(n, failures, "unsupported-syscall cases")


# -- the long run -----------------------------------------------------------------


@pytest.mark.slow
def test_many_random_sequences() -> None:
    cases = int(os.environ.get("RVDIST_DIFF_CASES", "50000"))
    seed = int(os.environ.get("RVDIST_DIFF_SEED", "1000"))
    n, failures = diffgen.run_many(cases, seed=seed, stop_after=5)
    _check(n, failures, "random sequences")
    n, failures = diffgen.run_many(max(1, cases // 20), seed=seed + 1, length=150, stop_after=5)
    _check(n, failures, "long random sequences")
    n, failures = diffgen.run_faults(max(1, cases // 10), seed=seed, stop_after=5)
    _check(n, failures, "fault cases")
    for k in range(5):
        problems = diffgen.bitmanip_batch(seed=seed + k, per_op=200)
        assert not problems, "\n".join(problems[:40])


# ---- F and D against qemu-riscv64 (see fpdiff) ------------------------------

import fpdiff  # noqa: E402

FP_DEFAULT_CASES = 1500

needs_qemu = pytest.mark.skipif(not fpdiff.available(), reason="qemu-riscv64 not installed")


@needs_qemu
def test_fp_sequences_match_qemu() -> None:
    n, failures = fpdiff.run_many(FP_DEFAULT_CASES, seed=1, stop_after=2)
    _check(n, failures, "FP sequences")


@needs_qemu
def test_fp_sequences_match_qemu_in_slices() -> None:
    """The same comparison with the program run in short slices (flags are
    folded from the host FPU at every slice end)."""
    n, failures = fpdiff.run_many(300, seed=2, stop_after=2, budgets=[1, 7, 2, 1000, 3])
    _check(n, failures, "FP sequences in slices")


@needs_qemu
@pytest.mark.slow
def test_fp_sequences_match_qemu_many() -> None:
    cases = int(os.environ.get("RVDIST_DIFF_CASES", "50000"))
    seed = int(os.environ.get("RVDIST_DIFF_SEED", "1000"))
    n, failures = fpdiff.run_many(cases, seed=seed, stop_after=3)
    _check(n, failures, f"FP sequences (seed {seed})")
