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


def _one_by_one(raw: str, exclude: frozenset[str]) -> tuple[str, str]:
    """Both forms worked out a pair at a time, without the whole-query shortcut."""
    pairs, sent = [], []
    for segment in raw.split("&"):
        name, _, value = segment.partition("=")
        if segment and _decoded_name(name) in exclude:
            continue
        sent.append((name, value))
        if segment:
            pairs.append((_slow(name), _slow(value)))
    return ("&".join(f"{n}={v}" for n, v in sorted(pairs)),
            "&".join(f"{n}={v}" for n, v in sorted(sent)))


def test_a_whole_query_in_canonical_encoding_reads_as_pair_by_pair() -> None:
    draw = random.Random(5)
    parts = ["a", "a-b", "A", "b", "%2F", "%C3%A9", "X-Amz-Signature", "", "~", "1.0"]
    exclude = frozenset({"X-Amz-Signature"})
    for _ in range(5000):
        raw = "&".join(f"{draw.choice(parts)}={draw.choice(parts)}"
                       for _ in range(draw.randint(1, 5)))
        assert canonical_query_forms(raw, exclude=exclude) == _one_by_one(raw, exclude), raw
    # A name that is a prefix of another sorts first, as the pair (not the text) sorts.
    assert canonical_query_forms("a-b=2&a=1")[0] == "a=1&a-b=2"
