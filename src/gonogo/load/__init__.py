"""The load engine: open-model canaries on Locust, judged on HDR histograms.

    (the plan tables as an env file writes them live in gonogo/config/load.py, below
    this package: the env file is validated with them, and nothing there imports load/)
    plan.py      built-in plans and k6-style thresholds (validated before any load)
    schedule.py  when iterations are due (pure; no gevent)
    session.py   the pytest side without pytest: one Plan per (env, plan), run once
    stats.py     HDR series, merged losslessly across workers; threshold judgement
    engine.py    starts, bounds and stops the children
    child/       the Locust master and workers (child processes only: gevent): timer,
                 recorder, httpclient, shard, master, worker, __main__
    plots.py     latency over time and its distribution, as PNG

Importing this package (or any module but child/) never imports Locust.
"""
