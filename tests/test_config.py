"""environments.toml: valid files load; every bad file gets one line naming cause and fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from gonogo.config import DEFAULT_ENV_FILE, load_env_file, resolve_env_file
from gonogo.errors import EnvFileError, MissingSecret, NotConfigured, UnknownEnvironment

REPO = Path(__file__).resolve().parents[1]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "environments.toml"
    path.write_text(text)
    return path


def test_shipped_file_defines_the_five_envs() -> None:
    envs = load_env_file(REPO / "environments.toml")
    assert envs.names == ["blue", "green", "local", "prod", "staging"]
    assert envs.get("local").sandbox and not envs.get("local").production
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
        "known envs: blue, green, local, prod, staging"
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
