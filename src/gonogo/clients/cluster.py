"""The Kubernetes API, with the official client, for the env's namespace.

Every call passes `_request_timeout`; a kubeconfig or context that does not
exist is a one-line configuration error naming it. The client is the `[cluster]` extra
(~126 MB with its dependencies, for a handful of calls): without it a check that needs the
cluster says so in one line, and nothing else changes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gonogo.config.day import ClusterSettings
from gonogo.errors import ConfigError, TargetError, Unreachable


class ClusterClient:
    def __init__(self, settings: ClusterSettings, timeout_s: float, env: str) -> None:
        self.settings = settings
        self.timeout_s = timeout_s
        self.env = env
        self._api: Any = None

    def verify(self) -> None:
        """Before a check uses the cluster: the `[cluster]` extra is installed."""
        try:
            import kubernetes  # noqa: F401 - the client the checks use next
        except ImportError:
            raise ConfigError(
                f"env '{self.env}' configures [cluster], and the Kubernetes client is not "
                "installed: pip install 'gonogo[cluster]'"
            ) from None

    @property
    def api_client(self) -> Any:
        if self._api is None:
            self.verify()
            from kubernetes import config
            from kubernetes.config.config_exception import ConfigException

            try:
                self._api = config.new_client_from_config(  # type: ignore[no-untyped-call]
                    config_file=self.settings.kubeconfig, context=self.settings.context
                )
            except (ConfigException, FileNotFoundError) as exc:
                raise ConfigError(
                    f"env '{self.env}': cannot load kubeconfig "
                    f"{self.settings.kubeconfig or '~/.kube/config'} "
                    f"context {self.settings.context or '(current)'}: {exc}; "
                    "check [cluster] kubeconfig and context"
                ) from None
        return self._api

    @property
    def core(self) -> Any:
        from kubernetes import client

        return client.CoreV1Api(self.api_client)

    def _call(self, what: str, call: Callable[[], Any]) -> Any:
        """One API call: unreachable and refused answers become one line naming `what`."""
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        host = self.api_client.configuration.host
        try:
            return call()
        except HTTPError as exc:
            raise Unreachable(host, self.timeout_s, exc) from None
        except ApiException as exc:
            reason = f"{exc.status} {exc.reason}".strip()
            raise TargetError(
                f"{host}: {what} answered {reason}; check the name, the namespace and that "
                "the context may read (and, to change weights, patch) it"
            ) from None
        except ValueError as exc:  # the client's models refuse a malformed object
            first = str(exc).strip().splitlines()
            raise TargetError(
                f"{host}: {what} does not read as a Kubernetes object "
                f"({first[0] if first else type(exc).__name__})"
            ) from None

    def ingress(self, name: str, namespace: str | None = None) -> dict[str, Any]:
        """An Ingress as the API server returns it (a plain dict, as kubectl -o json shows)."""
        from kubernetes import client

        api = client.NetworkingV1Api(self.api_client)
        ns = namespace or self.settings.namespace
        found = self._call(
            f"ingress {ns}/{name}",
            lambda: api.read_namespaced_ingress(name, ns, _request_timeout=self.timeout_s),
        )
        result: dict[str, Any] = self.api_client.sanitize_for_serialization(found)
        return result

    def patch_ingress(self, name: str, patch: dict[str, Any], namespace: str | None = None) -> None:
        from kubernetes import client

        api = client.NetworkingV1Api(self.api_client)
        ns = namespace or self.settings.namespace
        self._call(
            f"patching ingress {ns}/{name}",
            lambda: api.patch_namespaced_ingress(
                name,
                ns,
                patch,
                _request_timeout=self.timeout_s,
                _content_type="application/merge-patch+json",
            ),
        )

    def custom(
        self, group: str, plural: str, name: str, namespace: str | None = None
    ) -> dict[str, Any]:
        """A namespaced custom object (a TraefikService), version v1alpha1."""
        from kubernetes import client

        api = client.CustomObjectsApi(self.api_client)
        ns = namespace or self.settings.namespace
        found = self._call(
            f"{plural}.{group} {ns}/{name}",
            lambda: api.get_namespaced_custom_object(
                group, "v1alpha1", ns, plural, name, _request_timeout=self.timeout_s
            ),
        )
        if not isinstance(found, dict):
            raise TargetError(f"{plural}.{group} {ns}/{name}: not a JSON object")
        return found

    def patch_custom(
        self, group: str, plural: str, name: str, patch: dict[str, Any], namespace: str | None
    ) -> None:
        from kubernetes import client

        api = client.CustomObjectsApi(self.api_client)
        ns = namespace or self.settings.namespace
        self._call(
            f"patching {plural}.{group} {ns}/{name}",
            lambda: api.patch_namespaced_custom_object(
                group,
                "v1alpha1",
                ns,
                plural,
                name,
                patch,
                _request_timeout=self.timeout_s,
                _content_type="application/merge-patch+json",
            ),
        )

    def pods(self) -> list[Any]:
        listing = self._call(
            f"the pod list of {self.settings.namespace}",
            lambda: self.core.list_namespaced_pod(
                self.settings.namespace, _request_timeout=self.timeout_s
            ),
        )
        return list(listing.items)

    def deployments(self, namespace: str | None = None) -> list[dict[str, Any]]:
        """The namespace's Deployments, as `kubectl get deploy -o json` lists them."""
        return self._apps("Deployment", "list_namespaced_deployment", namespace)

    def replica_sets(self, namespace: str | None = None) -> list[dict[str, Any]]:
        return self._apps("ReplicaSet", "list_namespaced_replica_set", namespace)

    def stateful_sets(self, namespace: str | None = None) -> list[dict[str, Any]]:
        return self._apps("StatefulSet", "list_namespaced_stateful_set", namespace)

    def daemon_sets(self, namespace: str | None = None) -> list[dict[str, Any]]:
        return self._apps("DaemonSet", "list_namespaced_daemon_set", namespace)

    def _apps(self, kind: str, method: str, namespace: str | None) -> list[dict[str, Any]]:
        """An apps/v1 list, each object a plain dict as kubectl -o json shows it."""
        from kubernetes import client

        api = client.AppsV1Api(self.api_client)
        ns = namespace or self.settings.namespace
        listing = self._call(
            f"the {kind} list of {ns}",
            lambda: getattr(api, method)(ns, _request_timeout=self.timeout_s),
        )
        return [self.api_client.sanitize_for_serialization(d) for d in listing.items]

    def autoscalers(self) -> list[dict[str, Any]]:
        """The namespace's HorizontalPodAutoscalers (autoscaling/v2)."""
        from kubernetes import client

        api = client.AutoscalingV2Api(self.api_client)
        ns = self.settings.namespace
        listing = self._call(
            f"the HorizontalPodAutoscaler list of {ns}",
            lambda: api.list_namespaced_horizontal_pod_autoscaler(
                ns, _request_timeout=self.timeout_s
            ),
        )
        return [self.api_client.sanitize_for_serialization(h) for h in listing.items]
