"""The audit chain in the deployment's own layout ([security.audit]): gonogo.supplychain.audit against
logs written by the local gateway's own AuditChain, in its two layouts."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from gonogo.config.security import AuditSettings
from gonogo.sandbox.app.security import AuditChain
from gonogo.supplychain import audit

JWK = AuditSettings(
    key="publicKeyJwk",
    key_format="jwk",
    previous="prevHash",
    signature="signature",
    signed="digest-text",
    canonical="jcs",
)


def chain(*, jwk: bool = False, unsigned_at: int | None = None) -> dict[str, Any]:
    log = AuditChain(jwk=jwk, jcs=jwk)
    for n in range(1, 5):
        log.append("gonogo", f"action-{n}", {"n": n}, sign=n != unsigned_at)
    return log.log()


def test_both_layouts_verify_when_the_env_describes_them() -> None:
    assert audit.problems(chain(), AuditSettings()) == []
    assert audit.problems(chain(jwk=True), JWK) == []


def test_a_layout_the_env_does_not_describe_names_the_missing_field() -> None:
    with pytest.raises(audit.LayoutError) as caught:
        audit.problems(chain(jwk=True), AuditSettings())
    assert (
        str(caught.value) == "the log's 'public_key' field (the public key; [security.audit] key)"
    )
    log = chain(jwk=True)
    del log["entries"][2]["prevHash"]
    assert audit.problems(log, JWK) == ["entry 3: no 'prevHash' field"]
    with pytest.raises(audit.LayoutError, match="a list of entries in 'records'"):
        audit.problems(chain(), AuditSettings(entries="records"))


def test_breaks_are_found_in_either_layout() -> None:
    for layout, jwk in ((AuditSettings(), False), (JWK, True)):
        tampered = copy.deepcopy(chain(jwk=jwk))
        tampered["entries"][1]["detail"] = {"n": 99}
        assert audit.problems(tampered, layout)[0] == "entry 2: hash chain broken"
        assert audit.problems(chain(jwk=jwk, unsigned_at=3), layout) == [
            "entry 3 (action-3): unsigned"
        ]
    wrong_mode = JWK.model_copy(update={"signed": "digest"})
    assert audit.problems(chain(jwk=True), wrong_mode)[0] == "entry 1: signature does not verify"


def test_a_jcs_signed_log_with_non_ascii_names_verifies_as_jcs_and_only_so() -> None:
    """A Node gateway canonicalizes with RFC 8785: "José" as UTF-8, 1.0 as 1. Read as Python's
    json.dumps writes it, its first such entry would read as a broken chain: a false NO-GO."""
    log = AuditChain(jwk=True, jcs=True)
    log.append("José Müller", "login", {"weight": 1.0, "city": "Zürich"}, sign=True)
    log.append("gonogo", "read", {"n": 2}, sign=True)
    assert audit.problems(log.log(), JWK) == []
    as_json = JWK.model_copy(update={"canonical": "json"})
    assert audit.problems(log.log(), as_json)[0] == "entry 1: hash chain broken"
    # And the other way round: a json.dumps-signed log is not JCS.
    plain = AuditChain()
    plain.append("José", "login", {"weight": 1.0}, sign=True)
    assert audit.problems(plain.log(), AuditSettings()) == []
    assert audit.problems(plain.log(), AuditSettings(canonical="jcs"))[0] == (
        "entry 1: hash chain broken"
    )


def test_a_number_jcs_cannot_write_is_a_finding_not_a_crash() -> None:
    log = AuditChain(jwk=True, jcs=True)
    log.append("gonogo", "read", {"n": 1}, sign=True)
    tampered = log.log()
    tampered["entries"][0]["detail"] = {"n": 2**60}
    (found,) = audit.problems(tampered, JWK)
    assert found.startswith("entry 1: cannot be canonicalized as RFC 8785 (JCS) JSON")
