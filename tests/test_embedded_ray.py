"""The private Ray that rvdist starts for a command on one machine."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytest.importorskip("ray")

# Runs a job on the embedded Ray and reports the niceness of its node agents.
SCRIPT = r"""
import json, os, sys
from rvdist.executor import Executor

def stat(pid):
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()

def ours(pid):      # started by this process's own Ray, not by another test's
    while pid > 1:
        pid = int(stat(pid)[1])
        if pid == os.getpid():
            return True
    return False

with Executor() as ex:
    r = ex.submit(sys.argv[1], args=["1000"]).result(timeout=120)
    nice = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if b"NodeAgent" in f.read() and ours(int(pid)):
                    nice.append(int(stat(pid)[16]))
        except OSError:
            pass
print(json.dumps({"status": r.status, "nice": nice}))
"""


@pytest.mark.parametrize("setting", [None, "7"])
def test_the_embedded_rays_agents_run_at_the_users_priority(setting):
    """Not Ray's default niceness of 15, under which slices yield to every
    other process on the machine; a RAY_worker_niceness the user set wins."""
    from support.guests import GUESTS

    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "RAY_worker_niceness")}
    if setting is not None:
        env["RAY_worker_niceness"] = setting
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(GUESTS / "c/intloop.elf")],
                          capture_output=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")[-3000:]
    out = json.loads(proc.stdout.decode().strip().splitlines()[-1])
    own = os.nice(0)        # workers' niceness adds to the driver's own
    assert out["status"] == "done" and out["nice"], out
    assert set(out["nice"]) == {own + int(setting or 0)}, out
