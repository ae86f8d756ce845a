"""The shape of the tests' local Ray cluster (built by the ``cluster`` fixture in conftest)."""

#: Object store of each node of the test cluster: Ray's default is 30% of RAM.
OBJECT_STORE = 100 * 1024 * 1024
