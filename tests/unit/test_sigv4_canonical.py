"""The canonical query's shortcuts give what decoding and encoding again would give: a
component already in canonical encoding is kept as it is, any other is re-encoded."""

from __future__ import annotations

import random
from urllib.parse import quote

from shipyard.iam.canonical import (
    _canonical_component,
    _decode_query_component,
    _decoded_name,
    canonical_query_forms,
)

ALPHABET = ["a", "Z", "0", "-", ".", "_", "~", "+", "=", "/", ",", " ", "é", "%", "%41",
            "%2F", "%2f", "%7E", "%7e", "%20", "%C3%A9", "%ZZ", "%4", "\udcff", "*"]


def _slow(raw: str) -> str:
    return quote(_decode_query_component(raw), safe="")


def test_every_component_canonicalizes_as_decoding_and_encoding_again_would() -> None:
    draw = random.Random(20261205)
    for _ in range(20000):
        raw = "".join(draw.choice(ALPHABET) for _ in range(draw.randint(0, 6)))
        assert _canonical_component(raw) == _slow(raw), raw
        assert _decoded_name(raw) == _decode_query_component(raw).decode("utf-8", "replace")


def test_both_query_forms_come_from_one_pass() -> None:
    assert canonical_query_forms("b=2&a=1") == ("a=1&b=2", "a=1&b=2")
    assert canonical_query_forms("a=b+c&x=%41") == ("a=b%20c&x=A", "a=b+c&x=%41")
    assert canonical_query_forms("a=1&&b=2")[1] == "=&a=1&b=2"
    signed = "X-Amz-Signature=abc&X-Amz-Date=20261205T000000Z"
    assert canonical_query_forms(signed, exclude={"X-Amz-Signature"}) == (
        "X-Amz-Date=20261205T000000Z", "X-Amz-Date=20261205T000000Z",
    )
