"""The one error SigV4 verification raises."""

from __future__ import annotations

from collections.abc import Iterable

from shipyard_sdk.errors import Forbidden

__all__ = ["SignatureRejected"]


class SignatureRejected(Forbidden):
    """A request whose SigV4 signature cannot be accepted (HTTP 403).

    ``message`` is what the client sees, one of the class constants below (``SERVICE``
    with the service names filled in, by ``service_refused``). Every check
    that can fail with something other than ``MISMATCH`` depends on the request alone and
    runs before any secret is looked up, so no message says anything about a key: an
    unknown access key and a wrong signature share ``MISMATCH``. ``KEY_EXPIRED`` is said
    only after the signature matched, to a caller who holds the key's secret. ``reason``
    says exactly what failed, for server logs; it never holds a secret, a signature or a
    session token.

    ``SignatureRejected(message)`` alone is valid too, which is how the SDK's
    ``error_from_payload`` rebuilds it from an error answer.
    """

    MISMATCH = "The request signature does not match."
    MISSING = "The request is not signed with AWS Signature Version 4."
    MALFORMED = "The request's AWS Signature Version 4 information is malformed."
    SCOPE = "The credential scope's date is not the request's date."
    SERVICE = (
        "The credential scope names the service {service!r}, which this endpoint does not "
        "accept: sign for one of {accepted}."
    )
    SKEWED = "The request time is too far from the server's clock."
    EXPIRED = "The presigned request has expired."
    KEY_EXPIRED = (
        "The access key has expired; create another (`shipyard tokens create`)."
    )
    PAYLOAD = "The payload hash does not match the body (unsigned payloads are refused)."

    def __init__(self, message: str = MISMATCH, *, reason: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason or message

    @classmethod
    def malformed(cls, reason: str) -> SignatureRejected:
        """A rejection for signature information that is out of form."""
        return cls(cls.MALFORMED, reason=reason)

    @classmethod
    def service_refused(cls, service: str, accepted: Iterable[str]) -> SignatureRejected:
        """A rejection for a credential scope whose service is not one of ``accepted``."""
        names = ", ".join(repr(name) for name in accepted)
        message = cls.SERVICE.format(service=service[:64], accepted=names)
        return cls(message, reason=f"credential scope service {service[:64]!r} is not one of "
                                   f"{names}")
