"""The load engine: open-model canaries on Locust, judged on HDR histograms.

    plan.py    scenarios and k6-style thresholds (validated before any load)
    stats.py   HDR series, merged losslessly across workers; threshold judgement
    engine.py  the pytest-side runner: starts, bounds and stops the children
    child.py   the Locust master and workers (child processes only: gevent)
    plots.py   latency over time and its distribution, as PNG

Importing this package (or any module but child.py) never imports Locust.
"""
