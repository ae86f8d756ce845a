"""Runs a guest program under qemu-riscv64, the independent reference.

``run()`` returns the exit status and stdout, and optionally (trace=True)
the number of instructions executed and the pc of the last one.  Counting
uses qemu's own logging: with ``-singlestep`` every translation block is a
single instruction and ``-d exec,nochain`` logs one "Trace" line per block
executed, so the count includes every ecall, the final exit ecall too.
The last logged pc is the instruction that was executing when a signal hit.

Programs run with an empty environment and with argv[0] = the path as given
(relative to tests/guests/), from the tests/guests/ directory.
"""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import threading
from dataclasses import dataclass
from typing import Optional

HERE = os.path.dirname(os.path.abspath(__file__))
QEMU = os.environ.get("QEMU_RISCV64", "qemu-riscv64")


@dataclass
class Result:
    returncode: int           # exit code, or -signal number
    stdout: bytes
    timed_out: bool = False
    instructions: Optional[int] = None
    last_pc: Optional[int] = None


def available() -> bool:
    return shutil.which(QEMU) is not None


def _no_core() -> None:
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def run(program: str, args=(), stdin: bytes = b"", timeout: float = 60,
        trace: bool = False, stdout_limit: int = 1 << 20) -> Result:
    cmd = [QEMU]
    if trace:
        cmd += ["-singlestep", "-d", "exec,nochain"]
    cmd += [program, *args]
    proc = subprocess.Popen(cmd, cwd=HERE, env={}, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            preexec_fn=_no_core)
    out = bytearray()

    def pump_stdout() -> None:
        while True:
            chunk = proc.stdout.read(65536)
            if not chunk:
                break
            if len(out) < stdout_limit:
                out.extend(chunk[:stdout_limit - len(out)])
            else:
                # endless writers (faults/write_forever): stop once we have enough
                proc.kill()

    def feed_stdin() -> None:
        try:
            proc.stdin.write(stdin)
            proc.stdin.close()
        except BrokenPipeError:
            pass

    threads = [threading.Thread(target=pump_stdout), threading.Thread(target=feed_stdin)]
    for t in threads:
        t.start()
    count = 0
    last_line = b""
    timer = threading.Timer(timeout, proc.kill)
    timer.start()
    try:
        # qemu logs to stderr when no -D file is given; the guests never
        # write to stderr themselves.
        for line in proc.stderr:
            if line.startswith(b"Trace "):
                count += 1
                last_line = line
        proc.wait()
    finally:
        timed_out = not timer.is_alive() and proc.returncode == -9
        timer.cancel()
    for t in threads:
        t.join()
    res = Result(proc.returncode, bytes(out), timed_out=timed_out)
    if trace:
        res.instructions = count
        if last_line:
            # "Trace 0: 0xHOST [xxxxxxxxxxxxxxxx/PC/flags/cflags] name"
            res.last_pc = int(last_line.split(b"[", 1)[1].split(b"/")[1], 16)
    return res
