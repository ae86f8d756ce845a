"""Run many RISC-V jobs on a Ray cluster (see :mod:`rvdist.cluster`).

::

    import rvdist
    with rvdist.Executor() as ex:                 # a local Ray, or address="auto"
        jobs = [ex.submit("prog.elf", args=[str(i)]) for i in range(10)]
        for job in ex.as_completed(jobs):
            print(job.name, job.result().exit_code)

This module keeps the executor's import path; the parts live in
:mod:`rvdist.cluster`.
"""

from rvdist.cluster.executor import DEFAULT_CHECKPOINT_CYCLES, Executor
from rvdist.cluster.jobs import Job, JobResult, is_preemption

__all__ = ["Executor", "Job", "JobResult", "DEFAULT_CHECKPOINT_CYCLES", "is_preemption"]
