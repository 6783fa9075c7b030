"""The garbage collector, tuned for a server process: what start-up made is never scanned again,
and the requests in flight do not set off collections that find nothing to free.

    settle_after_start_up()     once the app is made: app/main.py, and gunicorn.conf.py before
                                each fork

Where it applies: under Gunicorn (Render, the Docker image) in the master, which imports the app
once (preload_app) and forks workers that inherit both settings; under plain uvicorn, and on
Vercel and Lambda, when the server imports `app.main:app` (api/index.py does). Without a fork
only the faster collections remain; on Lambda, which sends one request at a time, few objects
are ever in flight, so that is the part that matters there.

A request in flight holds a hundred or more objects the collector tracks (coroutines, frames,
dicts, SQLAlchemy's greenlets). At CPython's default young-generation threshold of 700, a few
dozen concurrent requests start a collection every few requests, and each one walks every
in-flight request only to find it alive: on item reads, about 170 young and 15 middle
collections per 1,000 requests, well over a tenth of a worker's time (BENCHMARKS.md). With the
threshold below, collections come only when objects actually pile up.

Freezing moves every object alive at that moment (modules, the app, its routes and models) to a
generation the collector never scans: full collections get cheaper, and in Gunicorn's forked
workers the collector no longer writes to those objects, which would copy the master's memory
pages into every worker (gc.freeze() in the Python documentation).
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 10_000


def settle_after_start_up() -> None:
    """Freeze the objects alive now, and collect the young generation less often."""
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)
