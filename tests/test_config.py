"""environments.toml: valid files load; every bad file gets one line naming cause and fix."""

from __future__ import annotations

import re
import typing
from pathlib import Path
from typing import Any

import pytest

from gonogo.config import DEFAULT_ENV_FILE, EnvSettings, load_env_file, resolve_env_file
from gonogo.errors import EnvFileError, MissingSecret, NotConfigured, UnknownEnvironment

REPO = Path(__file__).resolve().parents[1]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "environments.toml"
    path.write_text(text)
    return path


def test_shipped_file_defines_the_six_envs() -> None:
    envs = load_env_file(REPO / "environments.toml")
    assert envs.names == ["blue", "green", "local", "local-blue", "prod", "staging"]
    assert envs.get("local").sandbox and not envs.get("local").production
    assert envs.get("local-blue").slot == "blue" and envs.get("local-blue").sandbox
    green = envs.get("green")
    assert green.production and green.token_env == "GONOGO_GREEN_TOKEN"
    assert green.operations.health.id == "op:healthQuery:v1"
    assert green.operations.create_note.id == "op:CreateNote:v1"
    assert green.graph is not None and green.graph.password_env == "GONOGO_GREEN_NEO4J_PASSWORD"
    assert green.stream is not None and green.cluster is not None and green.prometheus is not None


def test_defaults_and_production_is_the_safe_default(tmp_path: Path) -> None:
    env = load_env_file(
        write(tmp_path, '[environments.x]\nbase_url = "https://x.example.com/"\n')
    ).get("x")
    assert env.production is True
    assert env.base_url == "https://x.example.com"
    assert (env.api_path, env.graphql_path, env.metrics_path) == ("/api", "/graphql", "/metrics")
    assert env.timeout_s == 10.0 and env.verify_tls is True
    assert env.slo.api_p95_ms == 150.0 and env.smoke.pings == 10


def test_malformed_toml_names_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, '[environments.green]\nbase_url = "https://g"\ntimeout_s = = 3\n')
    with pytest.raises(EnvFileError) as err:
        load_env_file(path)
    assert str(err.value).startswith(f"{path}:3:")
    assert "malformed TOML" in str(err.value) and "\n" not in str(err.value)


def test_missing_file_says_how_to_point_at_one(tmp_path: Path) -> None:
    with pytest.raises(
        EnvFileError, match=r"not found; pass --env-file PATH or set GONOGO_ENV_FILE"
    ):
        load_env_file(tmp_path / "nope.toml")


def test_unknown_key_is_refused_with_its_path(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[environments.green]\nbase_url = "https://g.example.com"\n[environments.green.graph]\nuri = "bolt://g"\npasword_env = "X"\n',
    )
    with pytest.raises(EnvFileError, match=r"environments\.green\.graph\.pasword_env: unknown key"):
        load_env_file(path)


def test_a_secret_in_the_file_is_refused_without_echoing_it(tmp_path: Path) -> None:
    secret = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"
    path = write(
        tmp_path, f'[environments.green]\nbase_url = "https://g.example.com"\ntoken = "{secret}"\n'
    )
    with pytest.raises(EnvFileError) as err:
        load_env_file(path)
    assert "secrets come only from environment variables" in str(err.value)
    assert secret not in str(err.value)


def test_token_env_holding_a_token_is_refused_without_echoing_it(tmp_path: Path) -> None:
    secret = "ghp_abc.def-123/xyz=="
    path = write(
        tmp_path,
        f'[environments.green]\nbase_url = "https://g.example.com"\ntoken_env = "{secret}"\n',
    )
    with pytest.raises(EnvFileError) as err:
        load_env_file(path)
    assert "must be the NAME of an environment variable" in str(err.value)
    assert secret not in str(err.value)


def test_base_url_is_required_unless_sandbox(tmp_path: Path) -> None:
    with pytest.raises(EnvFileError, match="base_url is required"):
        load_env_file(write(tmp_path, "[environments.green]\nproduction = false\n"))
    assert (
        load_env_file(write(tmp_path, "[environments.local]\nsandbox = true\n"))
        .get("local")
        .sandbox
    )


def test_a_slot_is_the_local_environments_only(tmp_path: Path) -> None:
    text = '[environments.blue]\nbase_url = "https://blue.example.com"\nslot = "blue"\n'
    with pytest.raises(EnvFileError) as err:
        load_env_file(write(tmp_path, text))
    assert "slot applies only to the local environment (sandbox = true); a real env says " in (
        str(err.value)
    )


def test_bad_values_name_the_key(tmp_path: Path) -> None:
    path = write(tmp_path, '[environments.green]\nbase_url = "ftp://g"\ntimeout_s = -1\n')
    with pytest.raises(EnvFileError) as err:
        load_env_file(path)
    message = str(err.value)
    assert "environments.green.base_url: must be an http:// or https:// URL" in message
    assert "environments.green.timeout_s:" in message


def test_credentials_in_base_url_are_refused(tmp_path: Path) -> None:
    path = write(
        tmp_path, '[environments.green]\nbase_url = "https://user:hunter2pass@g.example.com"\n'
    )
    with pytest.raises(EnvFileError) as err:
        load_env_file(path)
    assert "must not carry credentials" in str(err.value) and "hunter2pass" not in str(err.value)


def test_unknown_env_suggests_the_nearest() -> None:
    envs = load_env_file(REPO / "environments.toml")
    with pytest.raises(UnknownEnvironment) as err:
        envs.get("gren")
    assert str(err.value) == (
        f"unknown env 'gren' in {REPO / 'environments.toml'}: did you mean 'green'? "
        "known envs: blue, green, local, local-blue, prod, staging"
    )


def test_env_file_resolution_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GONOGO_ENV_FILE", raising=False)
    assert resolve_env_file(None, tmp_path) == tmp_path / DEFAULT_ENV_FILE
    monkeypatch.setenv("GONOGO_ENV_FILE", "/etc/gonogo/envs.toml")
    assert resolve_env_file(None, tmp_path) == Path("/etc/gonogo/envs.toml")
    assert resolve_env_file("mine.toml", tmp_path) == Path("mine.toml")


def test_missing_token_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GONOGO_GREEN_TOKEN", raising=False)
    green = load_env_file(REPO / "environments.toml").get("green")
    with pytest.raises(MissingSecret) as err:
        green.token()
    assert "GONOGO_GREEN_TOKEN is not set" in str(err.value) and "token_env" in str(err.value)


def test_missing_table_names_it() -> None:
    prod = load_env_file(REPO / "environments.toml").get("prod")
    with pytest.raises(NotConfigured) as err:
        prod.require("graph", "the graph (Bolt)")
    assert str(err.value).startswith("env 'prod' has no [graph] table")


def test_public_settings_hold_variable_names_not_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GONOGO_GREEN_TOKEN", "tok-should-not-appear-123")
    green = load_env_file(REPO / "environments.toml").get("green")
    assert "tok-should-not-appear-123" not in repr(green.public())
    assert green.public()["token_env"] == "GONOGO_GREEN_TOKEN"


def test_a_password_in_the_database_dsn_is_refused_without_echoing_it(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[environments.green]\nbase_url = "https://g.example.com"\n'
        '[environments.green.database]\ndsn = "postgresql://ro:s3cretpw@db:5432/app"\n',
    )
    with pytest.raises(EnvFileError) as err:
        load_env_file(path)
    assert str(err.value) == (
        f"{path}: environments.green.database.dsn: must not carry a password; "
        "set password_env to its variable"
    )


def test_release_is_relative_to_the_env_file(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[environments.green]\nbase_url = "https://g.example.com"\nrelease = "releases/2.4.0"\n',
    )
    assert load_env_file(path).get("green").release == str(tmp_path / "releases" / "2.4.0")


@pytest.mark.parametrize(
    ("table", "says"),
    [
        ('base_url = "https://green.example.com/?access_token=sk-live-0123456789"', "environments.x.base_url: must not carry a query string"),
        ('[environments.x.prometheus]\nurl = "https://admin:hunter22@prom.example.com"', "environments.x.prometheus.url: must not carry credentials"),
        ('[environments.x.grafana]\nurl = "https://grafana.example.com/?auth=abcdef"', "environments.x.grafana.url: must not carry a query string"),
        ('[environments.x.security]\nregistry = "https://u:p@ghcr.example.com"', "environments.x.security.registry: must not carry credentials"),
        ('[environments.x.security]\nrole_tokens = {admin = "sk-live-0123456789-abcdef"}', "environments.x.security.role_tokens: Value error, must be the NAME of an environment variable"),
        ('[environments.x.stream]\nbootstrap = "k:9093"\nclient = {"sasl.password" = "hunter2hunter2"}', "'sasl.password' holds a secret in the file"),
        ('[environments.x.stream]\nbootstrap = "k:9093"\nclient = {"ssl.key.password" = "hunter2hunter2"}', "'ssl.key.password' holds a secret in the file"),
    ],
)  # fmt: skip
def test_secrets_in_nested_tables_and_urls_are_refused(
    tmp_path: Path, table: str, says: str
) -> None:
    path = tmp_path / "envs.toml"
    base = "" if table.startswith("base_url") else 'base_url = "https://green.example.com"\n'
    path.write_text(f"[environments.x]\n{base}{table}\n")
    with pytest.raises(EnvFileError) as caught:
        load_env_file(path)
    message = str(caught.value)
    assert says.replace("Value error, ", "") in message, message
    assert "sk-live" not in message and "hunter2" not in message and "\n" not in message


PLAN = (
    '[environments.x.load.plans.p]\nthresholds = {{ http_req_failed = ["rate<0.01"] }}\n'
    'scenarios.s = {{ {scenario}, requests = [{{ name = "a", path = "/a" }}] }}'
)


@pytest.mark.parametrize(
    ("table", "says"),
    [
        ('production = "no"', "environments.x.production: must be true or false (a TOML boolean, without quotes)"),
        ("production = 0", "environments.x.production: must be true or false"),
        ('verify_tls = "missing-ca.pem"', "environments.x.verify_tls: no CA bundle file at {dir}/missing-ca.pem; give the path of a PEM file (relative to the env file), or true / false"),
        ('verify_tls = "."', "environments.x.verify_tls: no CA bundle file at {dir};"),
        ('verify_tls = "false"', "environments.x.verify_tls: write false without quotes"),
        (PLAN.format(scenario='rate = 5, time_unit = "0s", duration = "1s"'), "scenarios.s: time_unit '0s' must be longer than 0 s"),
        (PLAN.format(scenario='rate = 1e9, duration = "1s"'), "scenarios.s: rate 1e+09 per 1s is over the bound of 50000 iterations/s per scenario"),
        (PLAN.format(scenario='rate = inf, duration = "1s"'), "scenarios.s: rate inf per 1s is over the bound of 50000"),
        (PLAN.format(scenario='rate = 5, duration = "1000000h"'), "over the bound of 6 h for one plan"),
        (PLAN.format(scenario='executor = "ramping-arrival-rate", stages = [{ duration = "7h", target = 5 }]'), "runs 7 h (graceful_stop 10s), over the bound of 6 h"),
        ('[environments.x.slo]\nsubscription_document = "subscription { a { id } b { id } }"', "environments.x.slo.subscription_document: must be one operation selecting one root field"),
        ('[environments.x.slo]\nsubscription_document = "subscription {"', "environments.x.slo.subscription_document: is not a GraphQL document (Syntax Error"),
        ("[environments.x.smoke]\nhealth_ok = []", 'environments.x.smoke.health_ok: must list the words that mean healthy, like ["ok", "pass"]'),
        ("[environments.x.load]\nmax_requests = 1000000000000", "environments.x.load.max_requests: Input should be less than or equal to 100000000"),
    ],
)  # fmt: skip
def test_odd_values_are_one_line_naming_the_bound(tmp_path: Path, table: str, says: str) -> None:
    path = tmp_path / "envs.toml"
    path.write_text(f'[environments.x]\nbase_url = "https://green.example.com"\n{table}\n')
    with pytest.raises(EnvFileError) as caught:
        load_env_file(path)
    message = str(caught.value)
    assert says.format(dir=tmp_path) in message, message
    assert "\n" not in message and "Traceback" not in message


def test_a_url_that_does_not_parse_is_refused_in_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, '[environments.x]\nbase_url = "http://[::1"\n')
    with pytest.raises(EnvFileError, match=r"base_url: is not a valid URL \(Invalid IPv6 URL\)"):
        load_env_file(path)
    path = write(tmp_path, '[environments.x]\nbase_url = "https://x.example.com:99999"\n')
    with pytest.raises(EnvFileError, match=r"base_url: is not a valid URL \(Port out of range"):
        load_env_file(path)


def test_a_byte_order_mark_is_read_as_utf8(tmp_path: Path) -> None:
    path = tmp_path / "envs.toml"
    path.write_bytes(b'\xef\xbb\xbf[environments.x]\nbase_url = "https://x.example.com"\n')
    assert load_env_file(path).get("x").base_url == "https://x.example.com"


def test_a_ca_bundle_is_relative_to_the_env_file(tmp_path: Path) -> None:
    (tmp_path / "ca.pem").write_text("-----BEGIN CERTIFICATE-----\n")
    path = write(
        tmp_path, '[environments.x]\nbase_url = "https://x.example.com"\nverify_tls = "ca.pem"\n'
    )
    assert load_env_file(path).get("x").verify_tls == str(tmp_path / "ca.pem")


def test_env_file_variable_pointing_nowhere_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    nowhere = tmp_path / "nowhere.toml"
    monkeypatch.setenv("GONOGO_ENV_FILE", str(nowhere))
    with pytest.raises(EnvFileError) as caught:
        load_env_file(resolve_env_file(None, tmp_path))
    assert str(caught.value) == (
        f"env file {nowhere} not found (named by GONOGO_ENV_FILE); fix or unset "
        "GONOGO_ENV_FILE, or pass --env-file PATH"
    )
    with pytest.raises(EnvFileError, match="is a folder; pass the file"):
        load_env_file(tmp_path)


def test_a_missing_token_env_says_what_to_add(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = EnvSettings(name="x", base_url="https://x.example.com")
    with pytest.raises(MissingSecret) as caught:
        settings.token()
    assert str(caught.value) == (
        "env 'x' names no variable for the bearer token; add token_env = \"NAME\" to "
        "[environments.x] and export NAME=... before the run"
    )


def _header_blocks(text: str) -> dict[str, str]:
    """environments.toml's header comment, by table: "" for the top-level keys."""
    header = []
    for line in text.splitlines():
        if not line.startswith("#"):
            break
        header.append(line.lstrip("#"))
    listing = "\n".join(header).split("Every key, with its default:", 1)[1]
    blocks: dict[str, str] = {"": ""}
    current = ""
    for line in listing.splitlines():
        found = re.match(r"^\s*\[(\w+)\]\s*(.*)$", line)
        if found:
            current = found.group(1)
            blocks[current] = found.group(2)
        else:
            blocks[current] += "\n" + line
    return blocks


def _fields(model: Any) -> set[str]:
    """A table's keys and, recursively, its inner tables' keys."""
    names: set[str] = set()
    for name, field in model.model_fields.items():
        names.add(name)
        for inner in _tables_in(field.annotation):
            names |= _fields(inner)
    return names


def _tables_in(annotation: Any) -> list[Any]:
    from gonogo.table import Table

    if isinstance(annotation, type) and issubclass(annotation, Table):
        return [annotation]
    return [t for arg in typing.get_args(annotation) for t in _tables_in(arg)]


# Keys of the header's examples that are the deployment's own names, not gonogo's keys.
FREE_KEYS = {
    "operations": {"limit", "text"},  # variables = {gonogo's name = the deployment's}
    "edge": {"blue", "green"},  # services = {slot = its Service}
    "smoke": {"enable"},  # the drill's query string, ?enable=true|false
}


def test_the_env_files_header_lists_every_table_and_key_and_nothing_else() -> None:
    """The header of environments.toml is what an operator reads to write theirs: every table
    and key EnvSettings takes is named there, and every `key =` there is one it takes."""
    from gonogo.config import EnvSettings

    blocks = _header_blocks((REPO / "environments.toml").read_text())
    tables = {
        name: _tables_in(field.annotation)[0]
        for name, field in EnvSettings.model_fields.items()
        if _tables_in(field.annotation)
    }
    top = set(EnvSettings.model_fields) - set(tables) - {"name"}
    assert sorted(set(blocks) - {""}) == sorted(tables), "tables in the header vs EnvSettings"
    problems = []
    for table, text in blocks.items():
        known = top if table == "" else _fields(tables[table])
        words = set(re.findall(r"\b[a-z_][a-z0-9_]*\b", text))
        problems += [f"[{table}] {k}: not in the header" for k in sorted(known - words)]
        unquoted = re.sub(r"'[^']*'|\"[^\"]*\"", "", text)  # a selector's label="v"
        written = set(re.findall(r"\b([a-z_][a-z0-9_]*)\s*=", unquoted))
        written -= FREE_KEYS.get(table, set())
        problems += [f"[{table}] {k} =: no such key" for k in sorted(written - known)]
    assert not problems, "\n".join(problems)
