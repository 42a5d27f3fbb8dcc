"""Opt-in drills: they change the environment, so they run only with --drill NAME."""

from __future__ import annotations

import uuid

import pytest

from gonogo.checks import says, short, write_freeze, write_refused
from gonogo.env import Environment
from gonogo.evidence import Captures


@pytest.mark.drill("write-freeze")
def test_write_freeze_drill(env: Environment, evidence: Captures) -> None:
    """Rule: with the write freeze on ([smoke] write_freeze_path, POST ?enable=true), CreateNote
    is refused; once lifted, writes work again. The freeze is always lifted, even when the
    drill fails.

    Fault: write-freeze-ignored
    """
    create = env.settings.operations.create_note
    code = write_freeze(env, True)
    try:
        assert code == 200, says("200 from enabling the write freeze", str(code), None)
        note = {create.var("text"): f"drill {uuid.uuid4()}"}
        frozen = env.graphql.persisted(create, note, write=True)
        path = evidence.save("drill_frozen.json", frozen.as_capture())
        assert write_refused(frozen, create), says(
            "CreateNote refused while writes are frozen", short(str(frozen.body)), path
        )
    finally:
        lifted = write_freeze(env, False)
        evidence.step(f"write freeze lifted: HTTP {lifted}")
    note = {create.var("text"): f"drill {uuid.uuid4()}"}
    after = env.graphql.persisted(create, note, write=True)
    path = evidence.save("drill_after.json", after.as_capture())
    assert lifted == 200 and after.ok, says(
        "the freeze lifted (200) and CreateNote working again",
        f"{lifted}; {short(str(after.body))}",
        path,
    )
