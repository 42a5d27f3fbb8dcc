"""Long probes say where they stand, as load plans do: the stream end to end and the
subscription fan-out report their own counts through the same live line."""

from __future__ import annotations

from typing import Any

from gonogo import slo
from gonogo.config import EnvSettings
from gonogo.load.engine import Progress


def test_a_terminal_line_is_rewritten_at_most_once_a_second() -> None:
    written: list[str] = []
    shown = Progress(written.append, tty=True)
    shown._last -= 1.0
    shown.line("one")
    shown.line("two")  # too soon: dropped
    shown._last -= 1.0
    shown.line("three")
    shown.done()
    assert written == ["\rone\x1b[K", "\rthree\x1b[K", "\n"]


def test_the_probes_report_their_counts(stack: Any) -> None:
    from gonogo.env import Environment

    local = EnvSettings(name="local", sandbox=True, production=False)
    env = Environment.open(local, stack.info)
    lines: list[str] = []
    try:
        stream = slo.stream_e2e(env, 10, 20.0, settle_s=5.0, progress=lines.append)
        fanout = slo.subscription_fanout(env, 5, 2, wait_s=10.0, progress=lines.append)
    finally:
        env.close()
    assert not stream.problems and not stream.send_failures
    sent = [line for line in lines if line.startswith("gonogo stream e2e: ")]
    assert sent[0].startswith("gonogo stream e2e: 1/10 sent, ")
    assert any(line.startswith("gonogo stream e2e: 10/10 sent, ") for line in sent), sent
    assert sent[-1].endswith(" failed") or "waiting" in sent[-1]
    fan = [line for line in lines if line.startswith("gonogo fan-out: ")]
    assert fan and fan[0].endswith(" refused") and "subscribed" in fan[0], fan
    assert fanout.missing == 0 and not fanout.refused
