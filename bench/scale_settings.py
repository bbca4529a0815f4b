"""The portal's settings; with BENCH_QUERY_COUNTS (a Redis URL) the processes count their SQL statements
and note when each task starts there (`bench.worker_probes`).

The scale benchmark starts its qcluster processes with these settings to count the statements per job.
"""

import os

from portal.settings import *  # noqa: F403

if os.environ.get("BENCH_QUERY_COUNTS"):
    from bench.worker_probes import install

    install(os.environ["BENCH_QUERY_COUNTS"])
