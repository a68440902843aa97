"""The query log keeps no presigned URL that could still be called with."""

from __future__ import annotations

import pytest

from shipyard.gateway.recording import recorded_target


@pytest.mark.parametrize(("target", "kept"), [
    (b"/predict", "/predict"),
    (b"/predict?a=1&b=%20", "/predict?a=1&b=%20"),
    (b"/p?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AK%2F20261205%2Fus%2Fs%2Faws4_request"
     b"&X-Amz-Signature=abc123&X-Amz-Security-Token=tok&x=1",
     "/p?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AK%2F20261205%2Fus%2Fs%2Faws4_request"
     "&X-Amz-Signature=REDACTED&X-Amz-Security-Token=REDACTED&x=1"),
    # However the name is encoded, as the verifier decodes it.
    (b"/p?X%2DAmz-Signatur%65=abc123&X-Amz-Signature", "/p?X%2DAmz-Signatur%65=REDACTED"
     "&X-Amz-Signature=REDACTED"),
    # Not the parameter's name: kept.
    (b"/p?x-amz-signature=abc&note=X-Amz-Signature", "/p?x-amz-signature=abc&note=X-Amz-Signature"),
])
def test_a_presigned_signature_and_token_are_not_kept(target: bytes, kept: str) -> None:
    assert recorded_target(target) == kept
