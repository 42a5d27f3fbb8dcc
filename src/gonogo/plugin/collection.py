"""Collection: packs as markers, drills left out unless asked for, and what -m/-k
deselected kept for the verdict's "required but not run"."""

from __future__ import annotations

import pytest

from gonogo.layout import pack_of
from gonogo.plugin import load
from gonogo.plugin.options import needs_env
from gonogo.plugin.state import ENV_PARAM, RUN, explicit_gate, item_env
from gonogo.run import Run
from gonogo.run.verdict import validate
from gonogo.times import utcnow
from gonogo.vocabulary import PACK_GATES, PACKS


def pytest_deselected(items: list[pytest.Item]) -> None:
    if not items:
        return
    run = items[0].config.stash.get(RUN, None)
    if run is not None and run.envs.all:
        # Only checks of an env count for the verdict, not other tests in the tree,
        # and not opt-in drills, which are left out by design.
        checks = [i for i in items if item_env(i) is not None and not i.get_closest_marker("drill")]
        run.outcomes.deselected_items += checks


def _note_deselected(run: Run) -> None:
    """What -m/-k dropped, for the verdict's "required but not run"."""
    run.outcomes.note_deselected(
        run.bundle,
        [
            {
                "nodeid": item.nodeid,
                "env": item_env(item),
                "markers": sorted(m.name for m in item.iter_markers() if m.name in PACK_GATES),
                "gate": explicit_gate(item),
            }
            for item in run.outcomes.deselected_items
        ],
    )


def _pack_marker(item: pytest.Item) -> str | None:
    packs = item.config.stash[RUN].outcomes.packs
    pack = pack_of(item.path, packs) if packs is not None else None
    return PACKS[pack][0] if pack else None


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark pack checks before -m deselects anything; drop drills nobody asked for."""
    chosen = set(config.getoption("gonogo_drills") or [])
    kept: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    for item in items:
        marker = _pack_marker(item)
        if marker and not item.get_closest_marker(marker):
            item.add_marker(marker)
        drill = item.get_closest_marker("drill")
        (dropped if drill is not None and drill.args[0] not in chosen else kept).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session: pytest.Session) -> None:
    """After -m/-k deselection, a selected check that needs an env when none is given
    is a usage error: one line, before anything runs."""
    run = session.config.stash[RUN]
    if run.envs.all:
        for item in session.items:
            env = item_env(item)
            if env:
                item.user_properties.append(("env", env))
            gate = explicit_gate(item)
            if gate is not None:
                item.user_properties.append(("gate", gate))
        nodeids = [i.nodeid for i in (*session.items, *run.outcomes.deselected_items)]
        validate(run.outcomes.exceptions, run.outcomes.known_checks(nodeids), utcnow().date())
        _note_deselected(run)
        if not run.is_worker and not hasattr(session.config, "workerinput") and session.items:
            load.announce(
                session.config,
                [i.nodeid for i in session.items],
                can_stop=True,
                probes=load.probes(session.items),
            )
        return
    needing = [
        item.nodeid for item in session.items if ENV_PARAM in getattr(item, "fixturenames", ())
    ]
    if not needing or run.is_worker or hasattr(session.config, "workerinput"):
        # On an xdist worker a UsageError would read as a crash; the `env`
        # fixture fails each such check with the same one-line cause instead.
        return
    raise pytest.UsageError(needs_env(session.config, needing))
