"""The hooks and fixtures of a gonogo run, registered by the entry point (gonogo.plugin) only
when a run asks for gonogo: wiring only, one module per hook phase.

    session.py     options read into a Run: the packs collected, the bundle, sandboxes,
                   xdist hand-over
    options.py     the usage errors about options that pytest cannot raise
    collection.py  pack markers, drills, deselections
    load.py        load plans: threshold items, the announcement, load_result / load_slot
    fixtures.py    --env as every check's parameter; env (through RunEnvs.open), its clients,
                   evidence, release, expected_weights, expected_shadow,
                   expected_operational, freeze_since
    reporting.py   one-line outcomes, waivers, redaction, attachments, the sealing Controller
    state.py       the StashKeys and xdist keys they share

The machinery they wire lives below (gonogo.run, gonogo.env, gonogo.load.session,
gonogo.run.verdict, gonogo.evidence) and imports no pytest, so the CLI reuses it.
Hooks and fixtures are re-exported here because the entry point registers this module.
"""

from gonogo.plugin.collection import (
    pytest_collection_finish,
    pytest_collection_modifyitems,
    pytest_deselected,
)
from gonogo.plugin.fixtures import (
    _gonogo_env_name,
    cluster,
    database,
    env,
    env_evidence,
    evidence,
    expected_operational,
    expected_shadow,
    expected_weights,
    freeze_since,
    graph,
    graphql,
    http,
    metrics,
    policy_exceptions,
    pytest_generate_tests,
    release,
    stream,
)
from gonogo.plugin.load import (
    load_result,
    load_slot,
    progress,
    pytest_xdist_node_collection_finished,
)
from gonogo.plugin.reporting import (
    pytest_html_report_title,
    pytest_html_results_summary,
    pytest_html_results_table_header,
    pytest_html_results_table_html,
    pytest_html_results_table_row,
    pytest_runtest_makereport,
    pytest_runtest_protocol,
    pytest_terminal_summary,
    pytest_unconfigure,
)
from gonogo.plugin.session import (
    pytest_configure,
    pytest_configure_node,
    pytest_report_header,
    pytest_sessionstart,
)

__all__ = [
    "_gonogo_env_name",
    "cluster",
    "database",
    "env",
    "env_evidence",
    "evidence",
    "expected_operational",
    "expected_shadow",
    "expected_weights",
    "freeze_since",
    "graph",
    "graphql",
    "http",
    "load_result",
    "load_slot",
    "metrics",
    "policy_exceptions",
    "progress",
    "pytest_collection_finish",
    "pytest_collection_modifyitems",
    "pytest_configure",
    "pytest_configure_node",
    "pytest_deselected",
    "pytest_generate_tests",
    "pytest_html_report_title",
    "pytest_html_results_summary",
    "pytest_html_results_table_header",
    "pytest_html_results_table_html",
    "pytest_html_results_table_row",
    "pytest_report_header",
    "pytest_runtest_makereport",
    "pytest_runtest_protocol",
    "pytest_sessionstart",
    "pytest_terminal_summary",
    "pytest_unconfigure",
    "pytest_xdist_node_collection_finished",
    "release",
    "stream",
]
