"""ABAC from the deployment's own policy: OPA/Rego, gonogo's JSON, or explicit cases.

The local gateway enforces a Rego policy it evaluates itself, so the OPA path is proven end
to end by the security pack's matrix (red under abac-fail-open there); here the other two
sources run against the same gateway, and each bad input is one line.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from gonogo import abac
from gonogo.errors import ConfigError
from gonogo.sandbox.app.security import AUTHZ_POLICY, AUTHZ_QUERY, AUTHZ_RESOURCES, POLICY_FILE
from gonogo.sandbox.tokens import ROLES
from tests.conftest import refused_table
from tests.packs import REPO, outcomes, run_pack

CLAIMS = {**ROLES, "cleared-admin": {"roles": ["admin"], "clearance": "ts-sci"}}


def test_the_gateways_rego_and_json_policies_decide_alike() -> None:
    rego = abac.RegoPolicy(AUTHZ_POLICY, AUTHZ_QUERY)
    rules = abac.load(POLICY_FILE)
    assert sorted(rules["resources"]) == sorted(AUTHZ_RESOURCES)
    for role, claims in CLAIMS.items():
        for resource in [*AUTHZ_RESOURCES, "unknown"]:
            allowed = rego.allows(abac.rego_input(claims, resource, "GET", f"/x/{resource}"))
            assert bool(allowed) == abac.decide(rules, resource, claims), (role, resource)


def test_a_rego_policy_that_does_not_compile_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "authz.rego").write_text(
        "package intelgraph.authz\n\nallow if {\n  input.x ==\n}\n"
    )
    with pytest.raises(ConfigError) as caught:
        abac.RegoPolicy(tmp_path, AUTHZ_QUERY)
    message = str(caught.value)
    assert message.startswith(f"{tmp_path / 'authz.rego'}:") and "does not compile" in message
    assert "\n" not in message
    with pytest.raises(ConfigError, match=r"no Rego policy in .*; set \[security.abac\] rego"):
        abac.RegoPolicy(tmp_path / "nowhere", AUTHZ_QUERY)


@pytest.mark.parametrize(
    ("table", "says"),
    [
        ('rego = "policy"', 'rego needs resources = ["...", ...]'),
        ('path = "/api/secure"', "must be a path with {resource} in it"),
        ('cases = [{role = "analyst", path = "api/ping", status = 200}]', "must start with '/'"),
        ('cases = [{role = "analyst", path = "/api/ping", status = 999}]', "less than or equal to 599"),
    ],
)  # fmt: skip
def test_bad_abac_tables_are_one_line(tmp_path: Path, table: str, says: str) -> None:
    assert says in refused_table(tmp_path, "security.abac", table)


def sandbox_env(tmp_path: Path, security: str) -> Path:
    """The repo's env file plus a sandbox env `abac` whose [security] is `security`."""
    path = tmp_path / "envs.toml"
    path.write_text(
        (REPO / "environments.toml").read_text()
        + f"\n[environments.abac]\nsandbox = true\nproduction = false\n{security}\n"
    )
    return path


ABAC = ("-k", "abac_matrix")
SOURCES = {
    "json": f'[environments.abac.security]\nabac_policy = "{POLICY_FILE}"',
    "cases": (
        "[environments.abac.security.abac]\ncases = [\n"
        '  {role = "analyst", path = "/api/secure/allowed", status = 200},\n'
        '  {role = "analyst", path = "/api/secure/denied", status = 403},\n'
        '  {role = "norole", path = "/api/secure/allowed", status = 403},\n]'
    ),
}


@pytest.mark.stack
@pytest.mark.parametrize("source", sorted(SOURCES))
def test_each_policy_source_is_green_then_red_when_the_gateway_fails_open(
    tmp_path: Path, source: str
) -> None:
    env_file = f"--env-file={sandbox_env(tmp_path, SOURCES[source])}"
    done, manifest = run_pack(tmp_path / "ok", "security", env_file, *ABAC, env="abac")
    result = outcomes(manifest)["test_abac_matrix_matches_the_policy"]
    assert result["outcome"] == "passed", done.stdout[-3000:]
    done, manifest = run_pack(
        tmp_path / "bad", "security", env_file, *ABAC, "--fault", "abac-fail-open", env="abac"
    )
    result = outcomes(manifest)["test_abac_matrix_matches_the_policy"]
    assert result["outcome"] == "failed" and "expected 403, got [200, 200]" in result["message"]


@pytest.mark.stack
def test_a_rego_query_undefined_everywhere_is_one_line(tmp_path: Path) -> None:
    security = (
        f'[environments.abac.security.abac]\nrego = "{AUTHZ_POLICY}"\n'
        'query = "data.intelgraph.authz.alow"\nresources = ["allowed"]'
    )
    env_file = f"--env-file={sandbox_env(tmp_path, security)}"
    _, manifest = run_pack(tmp_path, "security", env_file, *ABAC, env="abac")
    result = outcomes(manifest)["test_abac_matrix_matches_the_policy"]
    assert result["outcome"] == "failed"
    assert result["message"] == (
        f"env 'abac': Rego query data.intelgraph.authz.alow is undefined for every input in "
        f"{AUTHZ_POLICY}; check [security.abac] query against the policy's package and rule"
    )


@pytest.mark.stack
def test_the_smoke_abac_spot_check_reads_the_envs_paths(tmp_path: Path) -> None:
    """[smoke] denied_path is what the spot check asks: pointed at a resource the token may
    use, the check is red naming that path (so a deployment's own path is what is read)."""
    path = tmp_path / "envs.toml"
    path.write_text(
        (REPO / "environments.toml").read_text()
        + "\n[environments.paths]\nsandbox = true\nproduction = false\n"
        '[environments.paths.smoke]\ndenied_path = "/secure/notes:write"\n'
    )
    _, manifest = run_pack(
        tmp_path, "smoke", f"--env-file={path}", "-k", "abac_allowed", env="paths"
    )
    result = outcomes(manifest)["test_abac_allowed_and_denied"]
    assert result["outcome"] == "failed"
    assert "expected 403 from /api/secure/notes:write; got 200" in result["message"]
