"""Record what qemu-riscv64 gives for every case of cases.py (make expected).

Each case runs in a fresh temporary directory holding its declared files at
their relative paths; that directory is qemu's working directory, and a
case's guest working directory in rvdist. The guest gets exactly the
case's environment (env -i) and argv[0] (qemu -0). Declared files are
read-only and owned by root, and the guest runs as an ordinary user, as
in rvdist (as root, qemu drops to uid 65534 with setpriv). Files that are
in the directory afterwards and were not declared are what the program
wrote.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from cases import CASES

HERE = Path(__file__).resolve().parent
NOBODY = 65534


def run(case) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for guest, host in case.files.items():
            (root / guest).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(HERE / host, root / guest)
            os.chmod(root / guest, 0o444)
        drop = []
        if os.geteuid() == 0:
            for path in [root, *root.rglob("*")]:
                if path.is_dir():
                    os.chown(path, NOBODY, NOBODY)
            drop = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
        env = [f"{k}={v}" for k, v in case.env.items()]
        cmd = [*drop, "env", "-i", *env, "qemu-riscv64", "-0", case.program, str(HERE / case.program),
               *case.args]
        p = subprocess.run(cmd, input=case.stdin, capture_output=True, cwd=root, timeout=600)
        written = {}
        for path in sorted(root.rglob("*")):
            rel = path.relative_to(root).as_posix()
            if path.is_file() and rel not in case.files:
                written[rel] = base64.b64encode(path.read_bytes()).decode()
    code = p.returncode if p.returncode >= 0 else 128 - p.returncode
    return {"exit_code": code, "stdout": base64.b64encode(p.stdout).decode(),
            "stderr": base64.b64encode(p.stderr).decode(), "files": written}


def main() -> None:
    out = {}
    for case in CASES:
        out[case.name] = run(case)
        print(f"{case.name}: exit {out[case.name]['exit_code']}, "
              f"{len(base64.b64decode(out[case.name]['stdout']))} bytes of stdout, "
              f"{len(out[case.name]['files'])} files")
    (HERE / "expected.json").write_text(json.dumps(out, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    os.chdir(HERE)
    main()
