"""Cost models: what each instruction costs, in cycles.

Every instruction belongs to one cost class; a cost model prices each class.
``"unit"`` charges one cycle for everything, so cycles equal instructions
retired. ``"ckb"`` is the table CKB-VM uses, with prices of rvdist's own
for the classes CKB-VM lacks (floating point and CSRs). A mapping from
class names to costs is a user table; classes it leaves out cost 1.
"""

from __future__ import annotations

from typing import Mapping, Union

from rvdist._core import lib

#: The cost classes, in the order the C core indexes them (RV_CLASS_*, checked below).
CLASSES: tuple[str, ...] = (
    "alu",       # everything not listed below
    "jump",      # JAL, JALR and branches
    "mem64",     # LD, SD
    "mem",       # other loads and stores
    "mul",       # MUL*
    "div",       # DIV*, REM*
    "system",    # ECALL, EBREAK
    "atomic_w",  # LR.W, SC.W, AMO*.W
    "atomic_d",  # LR.D, SC.D, AMO*.D
    "fp",        # other F/D: add, sub, mul, sign, min/max, compare, classify, convert, move
    "fp_fma",    # FMADD, FMSUB, FNMSUB, FNMADD (.S and .D)
    "fp_div",    # FDIV, FSQRT (.S and .D)
    "fp_mem",    # FLW, FLD, FSW, FSD (and their compressed forms)
    "csr",       # CSR instructions: fflags, frm, fcsr, cycle, time, instret
)

if tuple(getattr(lib, f"RV_CLASS_{c.upper()}", None) for c in CLASSES) != tuple(range(lib.RV_NCLASSES)):
    raise ImportError("rvdist.cost.CLASSES does not list the core's cost classes (RV_CLASS_* in "
                      "csrc/rvcore.h) in their order")

MAX_COST = lib.RV_MAX_COST

MODELS: dict[str, dict[str, int]] = {
    "unit": {c: 1 for c in CLASSES},
    "ckb": {"alu": 1, "jump": 3, "mem64": 2, "mem": 3, "mul": 5, "div": 32,
            "system": 500, "atomic_w": 4, "atomic_d": 3,
            # CKB-VM has no F, D or Zicsr: these prices are rvdist's, set by
            # analogy with its table (docs/cost-model.md says why).
            "fp": 4, "fp_fma": 5, "fp_div": 32, "fp_mem": 3, "csr": 4},
}

CostModel = Union[str, Mapping[str, int]]


def resolve(model: CostModel) -> tuple[str, tuple[int, ...]]:
    """Return ``(name, costs)`` for a model name or a class-to-cost mapping.

    Raises ValueError for an unknown name, an unknown class or a cost outside
    1..MAX_COST (a zero cost could let a guest loop forever inside one slice).
    """
    if isinstance(model, str):
        if model not in MODELS:
            raise ValueError(f"unknown cost model {model!r}: choose one of {', '.join(MODELS)} "
                             f"or pass a mapping of {', '.join(CLASSES)} to cycles")
        table, name = MODELS[model], model
    else:
        unknown = set(model) - set(CLASSES)
        if unknown:
            raise ValueError(f"unknown cost class(es) {', '.join(sorted(unknown))}: "
                             f"classes are {', '.join(CLASSES)}")
        table, name = dict(model), "custom"
    costs = []
    for c in CLASSES:
        v = table.get(c, 1)
        if not isinstance(v, int) or isinstance(v, bool) or not 1 <= v <= MAX_COST:
            raise ValueError(f"cost of class {c!r} must be an integer in 1..{MAX_COST}, got {v!r}")
        costs.append(v)
    return name, tuple(costs)
