"""rvdist on a cluster: node-local slicing under a control plane that places jobs.

::

    driver process                                      each Ray node
    +-------------------------------------------+       +---------------------------+
    | Executor (executor.py): public API        |       | NodeAgent (agent.py)      |
    |   submit / migrate / preempt_node / ...   |       |  resident machines        |
    |                                           |assign |  one thread per slot:     |
    | Controller (control.py): the loop         |evict->|  priority, round-robin,   |
    |   reports in -> Placement -> commands out |drop   |  slice by slice           |
    |                                           |<-poll-|  batched reports          |
    | Placement (policy.py): who lives where,   |       |  writer thread: checkpoints|
    |   fair shares, drains, losses (no Ray)    |       +-------------+-------------+
    |                                           |                     | increments, full
    | RayTransport (transport.py) | SimCluster  |                     v snapshots (never
    |   agents, polls, membership | (sim.py)    |       +---------------------------+ via
    +-------------------------------------------+       | store.py: Keeper actor on | the
                                                        | the driver's node (own    | driver)
     Job / JobResult / JobState (jobs.py)               | dir or checkpoint_dir),   |
                                                        | or an fsspec URL          |
                                                        +---------------------------+

Nodes run their jobs slice by slice without asking the driver; the driver
only decides what is global (placement, moves, priority across nodes,
checkpoint intervals). A move is a checkpoint into the store on one node and
a restore from it on another.
"""

from rvdist.cluster.jobs import Job, JobResult, JobSpec, JobState

__all__ = ["Job", "JobResult", "JobSpec", "JobState"]
