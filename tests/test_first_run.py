"""First contact: the README's first command from a fresh clone, and what a
host actor imports when another rvdist lies in the driver's working directory.

Ray's workers put the driver's working directory first on ``sys.path``, so a
checkout there (without its compiled core), or another rvdist, would shadow
the package the driver runs. Hosts must step past a core-less checkout, and
refuse to serve with other rvdist code, naming the cause in one line.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rvdist.demo import JOBS
from support.guests import GUESTS

ROOT = Path(__file__).resolve().parent.parent
HELLO = str(GUESTS / "c/hello.elf")


def launcher(tmp_path: Path) -> Path:
    """A script outside the working directory that runs the CLI: unlike
    ``python -m``, it does not put the working directory on the driver's path."""
    d = tmp_path / "launch"
    d.mkdir()
    script = d / "rvdist_cli.py"
    script.write_text("import sys\nfrom rvdist.cli import main\nsys.exit(main())\n")
    return script


def run_from(cwd: Path, script: Path, *args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, str(script), *args], cwd=cwd, env=env,
                          capture_output=True, timeout=timeout)


def one_clean_line(stderr: bytes) -> str:
    text = stderr.decode(errors="replace")
    assert "Traceback" not in text, text
    lines = [ln for ln in text.splitlines() if ln.startswith("rvdist: error:")]
    assert len(lines) == 1, text
    return lines[0]


def test_a_broken_rvdist_in_the_working_directory_is_named_in_one_line(cluster, tmp_path):
    fake = tmp_path / "cwd" / "rvdist"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text('raise ImportError("this rvdist is broken on purpose")\n')
    proc = run_from(fake.parent, launcher(tmp_path), "run", "--address", cluster.address, HELLO)
    assert proc.returncode == 69, proc.stderr.decode(errors="replace")
    line = one_clean_line(proc.stderr)
    assert "no rvdist host could be started" in line
    assert "ImportError: this rvdist is broken on purpose" in line, line


def test_other_rvdist_code_in_the_working_directory_is_refused(cluster, tmp_path):
    # A built copy (it has its core) whose code differs from the driver's.
    other = tmp_path / "cwd" / "rvdist"
    shutil.copytree(ROOT / "rvdist", other, ignore=shutil.ignore_patterns("__pycache__", "*.o"))
    with open(other / "units.py", "a") as f:
        f.write("\n# an edit the driver does not have\n")
    proc = run_from(other.parent, launcher(tmp_path), "run", "--address", cluster.address, HELLO)
    assert proc.returncode == 69, proc.stderr.decode(errors="replace")
    line = one_clean_line(proc.stderr)
    assert f"imported rvdist from {other}" in line and "differs from this driver's" in line, line


def test_a_checkout_without_its_core_is_stepped_past(cluster, tmp_path):
    # The source tree as a fresh clone has it: no compiled _core. The driver
    # imports the built package (PYTHONPATH); the hosts must do the same.
    tree = tmp_path / "cwd" / "rvdist"
    shutil.copytree(ROOT / "rvdist", tree,
                    ignore=shutil.ignore_patterns("__pycache__", "*.o", "*.so", "_core.c"))
    proc = run_from(tree.parent, launcher(tmp_path), "run", "--address", cluster.address,
                    HELLO, "x")
    assert (proc.returncode, proc.stdout) == (2, b"hello from rvdist\nx\n"), proc.stderr
    # ... while a driver started there is refused with a message that says what to do
    direct = subprocess.run([sys.executable, "-c", "import rvdist"], cwd=tree.parent,
                            capture_output=True, timeout=60, env=dict(os.environ, PYTHONPATH=""))
    assert direct.returncode != 0
    assert b"source tree without its compiled core" in direct.stderr or \
        b"compiled core (_core) is missing" in direct.stderr, direct.stderr


@pytest.mark.slow
@pytest.mark.install
def test_readme_first_command_in_a_fresh_clone(tmp_path):
    """`pip install . && rvdist demo` in the root of a fresh clone, in a fresh venv."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True,
                          text=True, check=True).stdout.strip()
    clone, venv = tmp_path / "clone", tmp_path / "venv"
    subprocess.run(["git", "clone", "--quiet", "--no-checkout", str(ROOT), str(clone)], check=True,
                   timeout=120)
    subprocess.run(["git", "-C", str(clone), "checkout", "--quiet", head], check=True, timeout=120)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    # the README's command, as written, from the clone's root
    t0 = time.monotonic()
    proc = subprocess.run(["bash", "-c", "pip install -q . && rvdist demo"], cwd=clone, env=env,
                          capture_output=True, timeout=1200)
    out, err = proc.stdout.decode(errors="replace"), proc.stderr.decode(errors="replace")
    assert proc.returncode == 0, f"{out}\n{err[-3000:]}"
    assert "Traceback" not in err, err[-3000:]
    installed = subprocess.run([str(venv / "bin" / "python"), "-c",
                                "import rvdist.hosts, sys; sys.stdout.write(rvdist.hosts.__file__)"],
                               cwd=tmp_path, env=env, capture_output=True, text=True, check=True)
    assert "site-packages" in installed.stdout, "the install was not a regular (non-editable) one"
    # Every demo program ships as a file (the tree holds links), stats.elf (glibc) too.
    shipped = Path(installed.stdout).parent / "programs"
    assert sorted(p.name for p in shipped.iterdir() if p.is_file() and not p.is_symlink()) == \
        sorted({job.program for job in JOBS}), list(shipped.iterdir())
    n = len(JOBS)
    lines = out.splitlines()
    assert lines[-1].startswith(f"ray: {2 * n} jobs") and lines[-1].endswith("every result matched"), out
    assert sum(ln.startswith("ok   ray ") for ln in lines) == 2 * n, out
    assert all(ln.startswith(("ok ", f"{n}/{n} programs", "ray: ")) for ln in lines), \
        f"stdout holds more than the demo's report: {out}"
    print(f"install and demo took {time.monotonic() - t0:.1f} s")
