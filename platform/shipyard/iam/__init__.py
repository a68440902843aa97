"""Identity and access: AWS Signature Version 4 verification.

- ``canonical``: the canonical request and string to sign of a received request;
- ``authorization``: the signature information it presents (header or presigned query);
- ``sigv4``: signing keys, their cache, and the ``Verifier`` that ties it together;
- ``rejection``: ``SignatureRejected``, the one error all of it raises.

All of it is pure (no I/O, no clock, no framework), so the asyncio gateway and the Flask
API call the same code: build a ``SignedRequest`` from what arrived, call
``Verifier.verify``.

Used by the api and the supervisor, and by the gateway to check credentials (its only way
to the store). It imports the store, the errors, the settings and the domain's name
checks (``domain.validation``); never the supervisor, the API or the gateway.
"""

from shipyard.iam.authorization import (
    MAX_EXPIRES,
    CredentialScope,
    SignatureInfo,
    is_sigv4_signed,
    read_signature,
)
from shipyard.iam.canonical import (
    SignedRequest,
    canonical_request,
    normalize_path,
    string_to_sign,
)
from shipyard.iam.rejection import SignatureRejected
from shipyard.iam.sigv4 import Identity, SigningKeyCache, Verifier

__all__ = [
    "MAX_EXPIRES",
    "CredentialScope",
    "Identity",
    "SignatureInfo",
    "SignatureRejected",
    "SignedRequest",
    "SigningKeyCache",
    "Verifier",
    "canonical_request",
    "is_sigv4_signed",
    "normalize_path",
    "read_signature",
    "string_to_sign",
]
