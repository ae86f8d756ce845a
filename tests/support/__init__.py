"""Helpers the tests share (pytest puts tests/ on sys.path, so ``from support.X import ...``).

- :mod:`support.rvasm`: the one RISC-V instruction encoder, and a tiny assembler on it;
- :mod:`support.elfgen`: ELF64 executables built in memory, one defect at a time;
- :mod:`support.elfcheck`: what the loader must make of an ELF file, worked out independently;
- :mod:`support.guests`: the committed guest programs, running them in slices, comparing runs;
- :mod:`support.cluster`: the shape of the tests' local Ray cluster.

Fixtures (the Ray cluster) stay in tests/conftest.py.
"""
