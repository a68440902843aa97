"""The signature check's memo keeps short texts only, and a bounded number of them."""

from __future__ import annotations

from shipyard.iam.memo import MEMO_ENTRIES, MEMO_LENGTH, memoized_when_short


def test_a_short_text_is_worked_out_once_and_a_long_one_every_time() -> None:
    calls: list[str] = []

    @memoized_when_short
    def upper(text: str, suffix: str) -> str:
        calls.append(text)
        return text.upper() + suffix

    assert upper("abc", "!") == upper("abc", "!") == "ABC!"
    assert upper("abc", "?") == "ABC?"  # every argument is part of the key
    assert calls == ["abc", "abc"]
    long = "x" * (MEMO_LENGTH + 1)
    upper(long, "")
    upper(long, "")
    assert calls[2:] == [long, long]


def test_the_memo_holds_a_bounded_number_of_entries() -> None:
    @memoized_when_short
    def same(text: str) -> str:
        return text

    for number in range(MEMO_ENTRIES + 100):
        same(str(number))
    info = same.cache_info()  # type: ignore[attr-defined]
    assert info.currsize == MEMO_ENTRIES
