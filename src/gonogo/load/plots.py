"""The two pictures a person reads faster than a table of percentiles.

- latency.png: each scenario's p95 (and p50, thinner) per second over the
  run, with every percentile threshold drawn as a line at its limit, so
  "when did it go over, and by how much" is one glance;
- distribution.png: the whole latency distribution per scenario on a
  percentile axis (HdrHistogram's classic plot: 50 %, 90 %, 99 %, 99.9 %),
  where a long tail shows as a rise on the right;
- rate.png: requests per second achieved against the schedule's target, per
  scenario, so a generator that fell behind (or a bound that cut the run
  short) is seen before any latency is believed.

matplotlib with the Agg backend: no display needed, nothing started. It is the `[plots]`
extra (~125 MB with numpy): without it the plans run and are judged the same, and the run
says once per plan that the pictures were not drawn.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gonogo.load.engine import LoadResult

TREND_TIMELINE = ("http_req_duration", "graph_query_duration")


PLOTS_MISSING = "matplotlib is not installed, so no latency plots (pip install 'gonogo[plots]')"


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError:
        raise ImportError(PLOTS_MISSING) from None

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def write_plots(result: LoadResult) -> list[Path]:
    """latency.png, distribution.png and rate.png in the run's folder (what there is data
    for)."""
    written = []
    for make in (_latency, _distribution, _rate):
        path = make(result)
        if path is not None:
            written.append(path)
    return written


def _limits(result: LoadResult) -> list[tuple[str, float]]:
    return [
        (t.id, t.limit)
        for t in result.plan.thresholds
        if t.metric in TREND_TIMELINE and t.aggregation in ("p", "med", "avg", "max")
    ]


def _latency(result: LoadResult) -> Path | None:
    rows = [r for r in result.summary.get("timeline", []) if r["metric"] in TREND_TIMELINE]
    if not rows:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(9, 4.2), dpi=100)
    scenarios = sorted({r["scenario"] for r in rows})
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, scenario in enumerate(scenarios):
        mine = sorted((r for r in rows if r["scenario"] == scenario), key=lambda r: r["t"])
        color = colors[i % len(colors)]
        xs = [r["t"] for r in mine]
        ax.plot(xs, [r["p95"] for r in mine], color=color, lw=2, label=f"{scenario} p95")
        ax.plot(xs, [r["p50"] for r in mine], color=color, lw=1, ls=":", label=f"{scenario} p50")
        failed = [(r["t"], r["p95"]) for r in mine if r.get("failed")]
        if failed:
            ax.scatter(*zip(*failed, strict=True), color="red", marker="x", zorder=3)
    busy = [int(s["t"]) for s in (result.summary.get("saturation") or {}).get("seconds", [])]
    for i, second in enumerate(busy):  # the generator, not the service, set these seconds
        ax.axvspan(second, second + 1, color="orange", alpha=0.25, lw=0,
                   label="generator saturated" if i == 0 else None)  # fmt: skip
    ax.set_xlabel("seconds into the run (by scheduled start); x: seconds with failures")
    ax.set_ylabel("latency from scheduled start (ms)")
    return _finish(plt, fig, ax, result, "latency over time", "latency.png")


def _distribution(result: LoadResult) -> Path | None:
    series = []
    for scenario in result.plan.scenarios:
        for metric in TREND_TIMELINE:
            agg = result.store.aggregate(metric, (("scenario", scenario),))
            if agg.histogram is not None and agg.histogram.get_total_count():
                series.append((scenario, agg))
    if not series:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(9, 4.2), dpi=100)
    nines = [0, 50, 75, 90, 95, 99, 99.9, 99.99]
    xs = [1 / (1 - q / 100) for q in nines]
    for scenario, agg in series:
        ys = [agg.percentile_ms(q) for q in nines]
        ax.plot(xs, ys, marker="o", ms=3, label=f"{scenario} ({agg.count} samples)")
    ax.set_xscale("log")
    ax.set_xticks(xs, [f"{q:g}%" for q in nines])
    ax.set_xlabel("percentile")
    ax.set_ylabel("latency (ms)")
    return _finish(
        plt, fig, ax, result, "latency distribution (HDR, whole run)", "distribution.png"
    )


def _rate(result: LoadResult) -> Path | None:
    from gonogo.load.schedule import arrivals

    rows = [r for r in result.summary.get("timeline", []) if r["metric"] in TREND_TIMELINE]
    if not rows:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(9, 3.2), dpi=100)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, (name, scenario) in enumerate(sorted(result.plan.scenarios.items())):
        color = colors[i % len(colors)]
        target: dict[int, int] = {}
        for due in arrivals(scenario, 0, 1):
            target[int(due)] = target.get(int(due), 0) + len(scenario.requests)
        achieved: dict[int, int] = {}
        for r in rows:
            if r["scenario"] == name:
                achieved[int(r["t"])] = achieved.get(int(r["t"]), 0) + int(r["count"])
        seconds = sorted(set(target) | set(achieved))
        ax.step(seconds, [target.get(t, 0) for t in seconds], where="post", color=color,
                lw=1, ls="--", label=f"{name} target")  # fmt: skip
        ax.step(seconds, [achieved.get(t, 0) for t in seconds], where="post", color=color,
                lw=2, label=f"{name} achieved")  # fmt: skip
    ax.set_xlabel("seconds into the run (by scheduled start)")
    ax.set_ylabel("requests per second")
    ax.set_title(f"load plan '{result.plan.name}': achieved rate against the target")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    path = result.folder / "rate.png"
    fig.savefig(path)
    plt.close(fig)
    return path


def _finish(plt: Any, fig: Any, ax: Any, result: LoadResult, title: str, name: str) -> Path:
    """The threshold lines, the frame, the file."""
    for label, limit in _limits(result):
        ax.axhline(limit, color="crimson", lw=1, ls="--")
        ax.annotate(
            label,
            xy=(0.995, limit),
            xycoords=("axes fraction", "data"),
            ha="right",
            va="bottom",
            fontsize=7,
            color="crimson",
        )
    ax.set_title(f"load plan '{result.plan.name}': {title}")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="center left")
    fig.tight_layout()
    path = result.folder / name
    fig.savefig(path)
    plt.close(fig)
    return path
