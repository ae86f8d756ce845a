"""Build rvdist._core: the C interpreter in csrc/, bound with cffi in API mode.

csrc/rvcore.h is the one source of truth for the declarations: C includes
it and cffi reads the same text here, minus the preprocessor lines it
cannot parse (include guards and includes; integer #defines are kept).

RVDIST_SANITIZE=address,undefined builds with those sanitizers, for tests
(.ci/sanitize). Every check aborts on its first report, except those named
in RVDIST_SANITIZE_RECOVER (comma-separated), which report and go on, so
that a UBSan suppressions file can silence a known, reported issue.
"""

import os
import re
from pathlib import Path

from cffi import FFI

HERE = Path(__file__).resolve().parent
CSRC = HERE / "csrc"


def cdef_from_header(path: Path) -> str:
    """The header text cffi can parse: keeps `#define NAME <integer>` lines."""
    keep = []
    for line in path.read_text().splitlines():
        if line.startswith("#"):
            if re.match(r"#define\s+RV_\w+\s+(0x[0-9a-fA-F]+|\d+)\s*$", line):
                keep.append(line)
            continue
        keep.append(line)
    return "\n".join(keep)


def compile_args() -> tuple[list[str], list[str]]:
    # -fwrapv: the decoder sign-extends immediates with left shifts of negative
    # values; say so here rather than rely on Python's own CFLAGS carrying it.
    # The FP flags: no contraction of a*b+c into an FMA (gnu11 allows it),
    # no folding or moving FP operations as if the rounding mode and the
    # exception flags did not exist, sqrt as the bare instruction (no errno
    # call). docs/floating-point.md says why each matters.
    cflags = ["-O2", "-std=gnu11", "-fno-gcse", "-fwrapv", "-Wall", "-Wextra",
              "-Wno-unused-parameter", "-ffp-contract=off", "-frounding-math",
              "-fsignaling-nans", "-fno-math-errno"]
    if os.environ.get("RVDIST_FP_SOFT", "").strip() not in ("", "0"):
        # Every FP operation in integer code (fp.c), as on a host whose FPU
        # is not trusted: for tests that the two paths agree.
        cflags.append("-DRV_FP_SOFT")
    ldflags: list[str] = []
    sanitize = os.environ.get("RVDIST_SANITIZE", "").strip()
    if sanitize:
        flag = f"-fsanitize={sanitize}"
        cflags += [flag, "-fno-omit-frame-pointer", "-fno-sanitize-recover=all", "-g"]
        recover = os.environ.get("RVDIST_SANITIZE_RECOVER", "").strip()
        if recover:
            cflags.append(f"-fsanitize-recover={recover}")
        ldflags += [flag]
    return cflags, ldflags


ffibuilder = FFI()
ffibuilder.cdef(cdef_from_header(CSRC / "rvcore.h"))
_cflags, _ldflags = compile_args()
ffibuilder.set_source(
    "rvdist._core",
    '#include "rvcore.h"',
    sources=[str(p.relative_to(HERE)) for p in sorted(CSRC.glob("*.c"))],
    include_dirs=[str(CSRC.relative_to(HERE))],
    depends=[str(p.relative_to(HERE)) for p in sorted(CSRC.glob("*.h"))],
    libraries=["m"],          # fenv (fegetenv, fetestexcept) and fma
    extra_compile_args=_cflags,
    extra_link_args=_ldflags,
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
