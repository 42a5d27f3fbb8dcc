"""The Kubernetes API, with the official client, for the env's namespace.

Every call passes `_request_timeout`; a kubeconfig or context that does not
exist is a one-line configuration error naming it.
"""

from __future__ import annotations

from typing import Any

from gonogo.config import ClusterSettings
from gonogo.errors import ConfigError, TargetError, Unreachable


class ClusterClient:
    def __init__(self, settings: ClusterSettings, timeout_s: float, env: str) -> None:
        self.settings = settings
        self.timeout_s = timeout_s
        self.env = env
        self._api: Any = None

    @property
    def core(self) -> Any:
        if self._api is None:
            from kubernetes import client, config
            from kubernetes.config.config_exception import ConfigException

            try:
                api_client = config.new_client_from_config(  # type: ignore[no-untyped-call]
                    config_file=self.settings.kubeconfig, context=self.settings.context
                )
            except (ConfigException, FileNotFoundError) as exc:
                raise ConfigError(
                    f"env '{self.env}': cannot load kubeconfig "
                    f"{self.settings.kubeconfig or '~/.kube/config'} "
                    f"context {self.settings.context or '(current)'}: {exc}; "
                    "check [cluster] kubeconfig and context"
                ) from None
            self._api = client.CoreV1Api(api_client)
        return self._api

    def pods(self) -> list[Any]:
        from urllib3.exceptions import HTTPError

        try:
            listing = self.core.list_namespaced_pod(
                self.settings.namespace, _request_timeout=self.timeout_s
            )
        except HTTPError as exc:
            host = self.core.api_client.configuration.host
            raise Unreachable(host, self.timeout_s, exc) from None
        except ValueError as exc:  # the client's models refuse a malformed object
            host = self.core.api_client.configuration.host
            first = str(exc).strip().splitlines()
            raise TargetError(
                f"{host}: the pod list of {self.settings.namespace} does not read as Kubernetes "
                f"objects ({first[0] if first else type(exc).__name__})"
            ) from None
        return list(listing.items)
