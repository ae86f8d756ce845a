"""Parsing of human-friendly sizes and counts (``64MiB``, ``10M``)."""

from __future__ import annotations

import re

_SIZE_UNITS = {
    "": 1, "b": 1,
    "k": 1000, "kb": 1000, "m": 1000**2, "mb": 1000**2, "g": 1000**3, "gb": 1000**3,
    "ki": 1024, "kib": 1024, "mi": 1024**2, "mib": 1024**2, "gi": 1024**3, "gib": 1024**3,
}
_COUNT_UNITS = {"": 1, "k": 1000, "m": 1000**2, "g": 1000**3, "t": 1000**4}


def _parse(text: str, units: dict[str, int], what: str) -> int:
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*", text.replace("_", ""))
    if not m or m.group(2).lower() not in units:
        raise ValueError(f"invalid {what} {text!r}: use a number with an optional unit "
                         f"({', '.join(u for u in units if u)})")
    value = float(m.group(1)) * units[m.group(2).lower()]
    if value != int(value):
        raise ValueError(f"invalid {what} {text!r}: not a whole number")
    return int(value)


def parse_size(text: str | int) -> int:
    """Bytes from ``4096``, ``64MiB``, ``4GiB``, ``1.5MB`` (binary and decimal units)."""
    if isinstance(text, int):
        return text
    return _parse(text, _SIZE_UNITS, "size")


def parse_count(text: str | int) -> int:
    """A count from ``1000000``, ``10M``, ``1_000k`` or ``2G`` (decimal units)."""
    if isinstance(text, int):
        return text
    return _parse(text, _COUNT_UNITS, "count")
