"""The audit chain in the deployment's own layout ([security.audit]): gonogo.audit against
logs written by the local gateway's own AuditChain, in its two layouts."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from gonogo import audit
from gonogo.config import AuditSettings
from gonogo.sandbox.app.security import AuditChain

JWK = AuditSettings(
    key="publicKeyJwk",
    key_format="jwk",
    previous="prevHash",
    signature="signature",
    signed="digest-text",
)


def chain(*, jwk: bool = False, unsigned_at: int | None = None) -> dict[str, Any]:
    log = AuditChain(jwk=jwk)
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
