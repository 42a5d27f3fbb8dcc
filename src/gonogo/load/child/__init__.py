"""The Locust side of the load engine: run only as a child process.

    python -m gonogo.load.child master --plan PLAN.json --out DIR --port P --workers N
    python -m gonogo.load.child worker --master-host HOST --master-port P

Importing Locust monkey-patches the whole process with gevent (sockets,
threads, ssl), which breaks pytest, xdist and asyncio clients; so Locust
lives only here, in processes gonogo starts and stops (gonogo.load.engine).

Locust is used for what it does well: a master and workers on any number
of machines (its own ZeroMQ protocol), fast HTTP (geventhttpclient), its
event hooks and its HTML report. What it does not do is replaced:

- the open model: Locust users wait for a response before the next
  request, so a slow server receives fewer requests and looks faster than it
  is (coordinated omission). Each worker's one `Shard` user instead starts
  iterations on a schedule (k6's constant- and ramping-arrival-rate),
  each in its own greenlet, up to max_concurrency; an iteration due when
  all slots are busy is dropped and counted, never silently delayed;
- latency from the scheduled start as well as from the send;
- HDR histograms (gonogo.load.stats) instead of Locust's rounded buckets,
  sent to the master on Locust's `report_to_master` event and merged there
  on `worker_report`, so the statistics are fed only by events.

A worker on another machine runs the same module (`gonogo load-worker
--master-host HOST`, see docs/load.md); the plan comes from the master with
the spawn message, the secrets from the worker's own environment.

The parts, each a module of this package: `timer` (the precise wake), `recorder` (request
events into HDR series and per-second windows, the worker's health), `httpclient` (the
open model's HTTP/1.1 connections over geventhttpclient's pieces), `shard` (one worker's
share of the schedule), `master` and `worker` (the two Locust roles), `__main__` (their
command line). Why each is built as it is, with the measurements, is in docs/load.md.

This package's __init__ patches the process with gevent before any of them is imported,
so a part is never imported unpatched; nothing outside it imports it.
"""

from gevent import monkey

monkey.patch_all()
