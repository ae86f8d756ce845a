"""Writing the files a guest created (``Machine.files()``, ``JobResult.files``)
into a host directory: guest path ``/a/b`` becomes ``DIR/a/b``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping, Union

from rvdist.errors import ConfigError

__all__ = ["write_out_dir"]


def write_out_dir(out_dir: Union[str, os.PathLike], files: Mapping[str, bytes]) -> None:
    """Write ``files`` (guest path -> bytes) under ``out_dir``; ConfigError
    names the file that cannot be written."""
    root = Path(out_dir)
    for guest, data in files.items():
        parts = [p for p in guest.split("/") if p not in ("", ".")]
        if not parts or ".." in parts:
            # The core hands out normalised absolute paths only; never write outside root.
            raise ConfigError(f"guest file {guest!r} has no place under {root}")
        target = root.joinpath(*parts)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        except OSError as e:
            raise ConfigError(f"cannot write {target}: {e.strerror or e}") from None
