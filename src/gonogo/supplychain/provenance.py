"""SLSA provenance checked the way slsa-verifier checks it: who built it, from what, for what.

A provenance whose subjects cover the image proves nothing on its own: anyone can
write one. What makes it worth having is that a trusted builder says it built this
digest from the expected repository at the expected ref. slsa-verifier's flags are
the model: `--builder-id`, `--source-uri`, `--source-tag` / `--source-branch`.

Both predicate shapes are read:

- v0.2: `predicate.builder.id`; the source in `predicate.invocation.configSource`
  (`uri` "git+https://github.com/o/r@refs/tags/v1", `digest.sha1`), else the first
  of `predicate.materials`;
- v1: `predicate.runDetails.builder.id`; the source in
  `predicate.buildDefinition.externalParameters.workflow` (`repository`, `ref`),
  else the first of `resolvedDependencies` (`uri`, `digest.gitCommit`).

A builder may be a reusable workflow in another repository than the source (the
bcr-rules_lint vector): the builder is trusted by its id, never by being in the
source repository.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

SLSA_PROVENANCE = {
    "https://slsa.dev/provenance/v0.2": "v0.2",
    "https://slsa.dev/provenance/v1": "v1",
}


@dataclass(frozen=True)
class Provenance:
    """The facts of one provenance statement that a release gate judges."""

    version: str  # "v0.2" or "v1"
    builder_id: str | None
    source_uri: str | None  # normalised: github.com/owner/repo
    source_ref: str | None  # refs/tags/v1.2.3, refs/heads/main
    source_scheme: str | None  # "git+https"; anything else is refused as a source
    source_commit: str | None
    subjects: frozenset[str] = field(default_factory=frozenset)  # "sha256:..."

    def as_capture(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "builder_id": self.builder_id,
            "source_uri": self.source_uri,
            "source_ref": self.source_ref,
            "source_scheme": self.source_scheme,
            "source_commit": self.source_commit,
            "subjects": sorted(self.subjects),
        }


def normalise_uri(uri: str | None) -> str | None:
    """ "git+https://github.com/o/r.git@refs/x" -> "github.com/o/r" (slsa-verifier's form)."""
    if not uri:
        return None
    text = uri.removeprefix("git+")
    text = text.split("://", 1)[1] if "://" in text else text  # the scheme is judged apart
    text = text.removeprefix("git@").split("@", 1)[0]  # an scp-style user, then the ref
    host, colon, path = text.partition(":")
    text = f"{host}/{path}" if colon and "/" not in host else text  # git@github.com:o/r
    return text.removesuffix("/").removesuffix(".git")


def git_uri(uri: str) -> str:
    """slsa-verifier's NormalizeGitURI: "github.com/o/r" -> "git+https://github.com/o/r",
    "https://..." -> "git+https://..."; a git+ URI as it is."""
    if uri.startswith("git+"):
        return uri
    return f"git+{uri}" if "://" in uri else f"git+https://{uri}"


def split_ref(uri: str | None) -> tuple[str | None, str | None]:
    """(URI, ref) as slsa-verifier's ParseGitURIAndRef: split at the FIRST "@", so
    ".../r@refs/heads/evil@refs/heads/main" has the ref "refs/heads/evil@refs/heads/main",
    never "refs/heads/main"."""
    if not uri:
        return None, None
    head, at, ref = git_uri(uri).partition("@")
    return head, (ref or None) if at else None


def scheme(uri: str | None) -> str | None:
    """The source's scheme once normalised: only "git+https" is a source slsa-verifier takes."""
    head, _ = split_ref(uri)
    return head.split("://", 1)[0] if head and "://" in head else None


def parse_builder_id(builder_id: str) -> tuple[str, str] | None:
    """(name, version) as slsa-verifier's ParseBuilderID: at most one "@", and a version
    after it when there is one; None for any other form (never trusted)."""
    parts = builder_id.split("@")
    if len(parts) == 1:
        return parts[0], ""
    if len(parts) == 2 and parts[1]:
        return parts[0], parts[1]
    return None


def read(statement: dict[str, Any]) -> Provenance:
    """The facts, from a v0.2 or v1 SLSA provenance statement; ValueError if it is neither."""
    kind = statement.get("predicateType")
    version = SLSA_PROVENANCE.get(str(kind))
    if version is None:
        raise ValueError(
            f"predicateType {kind!r} is not SLSA provenance (v0.2 or v1: "
            f"{', '.join(SLSA_PROVENANCE)})"
        )
    predicate = statement.get("predicate")
    predicate = predicate if isinstance(predicate, dict) else {}
    subjects = frozenset(
        f"sha256:{s['digest']['sha256']}"
        for s in statement.get("subject") or []
        if isinstance(s, dict) and isinstance(s.get("digest"), dict) and "sha256" in s["digest"]
    )
    if version == "v0.2":
        builder = _get(predicate, "builder", "id")
        config = _get(predicate, "invocation", "configSource")
        materials = predicate.get("materials") or [{}]
        source = config if isinstance(config, dict) and config.get("uri") else materials[0]
        uri = source.get("uri") if isinstance(source, dict) else None
        digest = source.get("digest") if isinstance(source, dict) else None
        commit = digest.get("sha1") if isinstance(digest, dict) else None
        uri = _str(uri)
        return Provenance(
            version,
            _str(builder),
            normalise_uri(uri),
            split_ref(uri)[1],
            scheme(uri),
            _str(commit),
            subjects,
        )
    builder = _get(predicate, "runDetails", "builder", "id")
    workflow = _get(predicate, "buildDefinition", "externalParameters", "workflow")
    dependencies = _get(predicate, "buildDefinition", "resolvedDependencies") or [{}]
    first = dependencies[0] if isinstance(dependencies, list) and dependencies else {}
    first = first if isinstance(first, dict) else {}
    dep_uri = _str(first.get("uri"))
    dep_digest = first.get("digest")
    dep_digest = dep_digest if isinstance(dep_digest, dict) else {}
    if isinstance(workflow, dict) and workflow.get("repository"):
        uri, ref = _str(workflow.get("repository")), _str(workflow.get("ref"))
    else:
        uri, ref = dep_uri, split_ref(dep_uri)[1]
    commit = _str(dep_digest.get("gitCommit") or dep_digest.get("sha1"))
    return Provenance(
        version, _str(builder), normalise_uri(uri), ref, scheme(uri), commit, subjects
    )


def problems(
    provenance: Provenance,
    *,
    digest: str | None,
    builder_ids: list[str],
    source_uri: str | None,
    source_ref: str | None = None,
    source_tag: str | None = None,
    source_branch: str | None = None,
) -> list[str]:
    """What does not hold, each naming the field, what was expected and what is there."""
    out: list[str] = []
    if digest is not None and digest not in provenance.subjects:
        out.append(f"subject: no sha256 {digest.removeprefix('sha256:')[:12]}... among "
                   f"{len(provenance.subjects)} subject(s)")  # fmt: skip
    if builder_ids and not any(_builder_matches(provenance.builder_id, b) for b in builder_ids):
        out.append(
            f"builder.id: {provenance.builder_id!r} is not a trusted builder "
            f"({', '.join(builder_ids)})"
        )
    if source_uri is not None and provenance.source_uri != normalise_uri(source_uri):
        out.append(f"source: {provenance.source_uri!r}, expected {normalise_uri(source_uri)!r}")
    elif source_uri is not None and provenance.source_scheme != "git+https":
        out.append(
            f"source: scheme {provenance.source_scheme!r} for {provenance.source_uri!r}, "
            "expected 'git+https' (slsa-verifier takes no other source)"
        )
    wanted = source_ref or (
        f"refs/tags/{source_tag}" if source_tag else
        f"refs/heads/{source_branch}" if source_branch else None
    )  # fmt: skip
    if wanted is not None and provenance.source_ref != wanted:
        out.append(f"source ref: {provenance.source_ref!r}, expected {wanted!r}")
    return out


def _builder_matches(found: str | None, trusted: str) -> bool:
    """slsa-verifier's rule: a trusted id with "@ref" must match exactly; without, any ref
    of that workflow. An id of any other form (two "@", an empty ref) matches nothing."""
    parsed = parse_builder_id(found) if found is not None else None
    wanted = parse_builder_id(trusted)
    if parsed is None or wanted is None:
        return False
    if wanted[1]:
        return parsed == wanted
    return parsed[0] == wanted[0]


def _get(data: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
