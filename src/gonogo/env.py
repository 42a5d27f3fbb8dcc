"""An environment under test: its settings and its clients, created on first use.

A check asks for what it needs (`env.http`, `env.graph`, ...). A client for
a component the env does not describe raises NotConfigured, which the
plugin reports as a skip naming the missing table; a secret that is not set
raises MissingSecret, naming the variable. Nothing connects until used, so
a smoke run that never touches Kafka never needs its credentials.

`Environment.open` is the one way an env is opened: by the plugin's `env`
fixture (through `Run.open`), by `gonogo watch` and by `gonogo sandbox up`
(through `gonogo.run.opened`). The sandbox's addresses are filled into an
env's settings in one place, `filled()`.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from gonogo.clients.graphql import GraphQLClient
from gonogo.clients.http import HttpClient, RequestSink
from gonogo.clients.metrics import MetricsClient
from gonogo.config import EnvSettings
from gonogo.release import Release
from gonogo.signals import Signals

if TYPE_CHECKING:  # imported when first used: neo4j, confluent-kafka and kubernetes are
    # heavy, and the plugin loads into every pytest run of the venv
    from gonogo.clients.cluster import ClusterClient
    from gonogo.clients.database import DatabaseClient
    from gonogo.clients.graph import GraphClient
    from gonogo.clients.stream import StreamClient


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme, parts.netloc


def filled(settings: EnvSettings, sandbox: Any = None) -> EnvSettings:
    """An env's settings as its checks see them: a running sandbox's addresses filled in."""
    if sandbox is None:
        return settings
    result: EnvSettings = sandbox.env_settings(settings)
    return result


class Environment:
    @classmethod
    def open(
        cls,
        settings: EnvSettings,
        sandbox: Any = None,
        on_request: RequestSink | None = None,
    ) -> Environment:
        """The env as a check uses it. A sandbox (gonogo.sandbox.info.StackInfo) fills in its
        addresses and mints the analyst's token; a real env's missing token is named here,
        once, as the configuration error it is."""
        token = None
        if sandbox is not None:
            minted = sandbox.token("analyst")
            token = lambda: minted  # noqa: E731
        elif settings.token_env:
            settings.token()
        return cls(filled(settings, sandbox), token=token, on_request=on_request, sandbox=sandbox)

    def __init__(
        self,
        settings: EnvSettings,
        *,
        token: Callable[[], str] | None = None,
        on_request: RequestSink | None = None,
        sandbox: Any = None,
    ) -> None:
        self.settings = settings
        # The local stack's description (gonogo.sandbox.info.StackInfo) when this env is
        # the sandbox: checks can mint tokens for other roles and switch faults with it.
        self.sandbox = sandbox
        self.name = settings.name
        # A sandbox mints its own tokens; a real env reads token_env.
        self._token = token or (settings.token if settings.token_env else None)
        # Where every request's record goes (the bundle's requests.jsonl); any client made for
        # this env, including the registry's and the webhook's, passes it on.
        self.on_request = on_request
        self._closers: list[Callable[[], None]] = []

    def __repr__(self) -> str:
        return f"<Environment {self.name} {self.settings.base_url}>"

    @property
    def base_url(self) -> str:
        if self.settings.base_url is None:
            raise RuntimeError(f"env '{self.name}' has no base_url yet (sandbox not started)")
        return self.settings.base_url

    @property
    def production(self) -> bool:
        return self.settings.production

    def token(self) -> str:
        if self._token is None:
            return self.settings.token()  # raises MissingSecret naming token_env
        return self._token()

    def admin_token(self) -> str:
        """An admin bearer token: minted by the sandbox, else read from admin_token_env."""
        if self.sandbox is not None:
            token: str = self.sandbox.token("admin")
            return token
        return self.settings.read_secret(
            self.settings.admin_token_env, "admin token", "admin_token_env"
        )

    def statuspage_key(self) -> str:
        """Statuspage's API key: the sandbox's recorded API takes one it minted; a real env
        reads [statuspage] token_env."""
        if self.sandbox is not None:
            key: str = self.sandbox.token("analyst")
            return key
        table = self.settings.require("statuspage", "the status page")
        return self.settings.read_secret(
            table.token_env, "Statuspage API key", "statuspage.token_env"
        )

    def client(
        self, url: str, token: Callable[[], str] | None = None, auth_scheme: str = "Bearer"
    ) -> HttpClient:
        """An HTTP client for another of the env's endpoints (Prometheus, Grafana): the env's
        timeout and TLS settings, and its requests recorded; closed with the env."""
        client = HttpClient(
            url,
            timeout_s=self.settings.timeout_s,
            token=token,
            auth_scheme=auth_scheme,
            verify=self.settings.verify_tls,
            on_request=self.on_request,
            max_body_mb=self.settings.limits.max_body_mb,
            proxy=self.settings.proxy.url if self.settings.proxy else None,
            no_proxy=self.settings.proxy.no_proxy if self.settings.proxy else (),
        )
        self._closers.append(client.close)
        return client

    @cached_property
    def http(self) -> HttpClient:
        return self.client(self.base_url, self.token)

    @cached_property
    def graphql(self) -> GraphQLClient:
        graphql = self.settings.graphql
        return GraphQLClient(
            self.http, self.settings.graphql_path, graphql.persisted, graphql.method
        )

    @cached_property
    def graph(self) -> GraphClient:
        from gonogo.clients.graph import GraphClient

        table = self.settings.require("graph", "the graph (Bolt)")
        password = (
            self.settings.read_secret(table.password_env, "graph password", "graph.password_env")
            if table.password_env
            else ""
        )
        http = self.client(table.uri) if table.over_http else None
        client = GraphClient(table, password, self.settings.timeout_s, self.name, http)
        self._closers.append(client.close)
        return client

    @cached_property
    def stream(self) -> StreamClient:
        from gonogo.clients.stream import StreamClient

        table = self.settings.require("stream", "the Kafka stream")
        password = (
            self.settings.read_secret(
                table.sasl_password_env, "Kafka SASL password", "stream.sasl_password_env"
            )
            if table.sasl_password_env
            else None
        )
        return StreamClient(table, password, self.settings.timeout_s)

    @cached_property
    def database(self) -> DatabaseClient:
        from gonogo.clients.database import DatabaseClient

        table = self.settings.require("database", "the PostgreSQL database")

        def secret(variable: str | None, key: str) -> str | None:
            if not variable:
                return None
            return self.settings.read_secret(variable, "database password", key)

        return DatabaseClient(
            table,
            secret(table.password_env, "database.password_env"),
            self.settings.timeout_s,
            self.name,
            scratch_password=secret(table.scratch_password_env, "database.scratch_password_env"),
            sync_password=secret(table.sync_password_env, "database.sync_password_env"),
        )

    @cached_property
    def release(self) -> Release:
        """The release's own files (migrations, schema, evidence), from `release` or --release."""
        return Release.of(self.name, self.settings.release)

    @cached_property
    def cluster(self) -> ClusterClient:
        from gonogo.clients.cluster import ClusterClient

        table = self.settings.require("cluster", "the Kubernetes cluster")
        return ClusterClient(table, self.settings.timeout_s, self.name)

    @cached_property
    def metrics(self) -> MetricsClient:
        prometheus = self.settings.prometheus

        def promql_http() -> HttpClient:
            assert prometheus is not None
            token = None
            if prometheus.token_env:
                variable = prometheus.token_env

                def token() -> str:
                    return self.settings.read_secret(
                        variable, "Prometheus token", "prometheus.token_env"
                    )

            return self.client(prometheus.url, token)

        metrics_url = self.settings.metrics_url
        own_origin = metrics_url is not None and _origin(metrics_url) != _origin(self.base_url)
        return MetricsClient(
            # An exporter on another origin gets no bearer token: it is not the gateway's.
            self.client(metrics_url) if metrics_url and own_origin else self.http,
            metrics_url or self.settings.metrics_path,
            prometheus,
            promql_http if prometheus else None,
        )

    @cached_property
    def signals(self) -> Signals:
        """The signals the packs and the watch read, where this deployment keeps them."""
        return Signals(self.settings, self.metrics)

    def close(self) -> None:
        while self._closers:
            self._closers.pop()()
