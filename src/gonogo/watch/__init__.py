"""The rollback-trigger watch (`gonogo watch`): the cutover's rollback triggers,
evaluated, and fired honestly.

A trigger is a signal (a number computed from the app's metrics), a
comparison with a threshold, and a window: it fires only when the condition
has held at every evaluation for the whole window, as a Prometheus alert with
`for:` does. One definition serves both ways of watching:

- with Prometheus, each signal is a PromQL expression (`rules()` exports the
  very same expressions as alerting rules, so the watch and the pager agree);
- without it, the watch scrapes /metrics itself and computes the same signal
  from the counters' change over the window, in the same units.

No data is a state of its own (`no-data`): a trigger says per definition
whether no data counts as failing (`no_data = "fail"`: it can fire) or is
only reported (`"report"`), never a silent "ok". Time comes from a clock
object, so the tests drive windows of ten minutes in ten ticks.

The parts: `triggers` (the signals and triggers, and their alerting rules), `evaluate` (the
windows, no data, the sources of values, the injected clock), `run` (one `gonogo watch`
against an env, with its evidence and comms).
"""
