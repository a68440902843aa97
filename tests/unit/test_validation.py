"""Service names, package lists and file paths: what passes, what is refused, and why."""

from __future__ import annotations

import re

import pytest

from shipyard.domain.validation import (
    folder_clash,
    parse_requirements_text,
    python_identifier,
    validate_description,
    validate_file_tree,
    validate_package_list,
    validate_relative_path,
    validate_service_name,
)
from shipyard_sdk.errors import InvalidInput, InvalidName, InvalidPackageList


@pytest.mark.parametrize("name", ["a", "add-numbers", "model2", "a-b-c-1", "x" * 63])
def test_valid_service_names_pass(name: str) -> None:
    assert validate_service_name(name) == name


@pytest.mark.parametrize(
    ("name", "rule"),
    [
        ("", "empty"),
        ("x" * 64, "64 characters"),
        ("Add", "'A'"),
        ("add_numbers", "'_'"),
        ("add numbers", "' '"),
        ("café", "'é'"),
        ("1st", "start with a lowercase letter"),
        ("-a", "start with a lowercase letter"),
        ("a-", "end with a lowercase letter or a digit"),
        ("a--b", "'--'"),
        ("a\nb", "'\\n'"),
    ],
)
def test_invalid_service_names_say_which_rule(name: str, rule: str) -> None:
    with pytest.raises(InvalidName) as caught:
        validate_service_name(name)
    assert rule in caught.value.message
    assert repr(name)[:60] in caught.value.message


def test_a_non_string_name_is_refused() -> None:
    with pytest.raises(InvalidName, match="string"):
        validate_service_name(42)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("name", "identifier"),
    [("add-numbers", "add_numbers"), ("a", "a"), ("import", "service_import"), ("x1-2", "x1_2")],
)
def test_python_identifier(name: str, identifier: str) -> None:
    assert python_identifier(name) == identifier


def test_python_identifier_checks_the_name() -> None:
    with pytest.raises(InvalidName):
        python_identifier("Bad Name")


def test_package_list_is_normalized_in_order() -> None:
    entries = [
        "Scikit_Learn>=1.3",
        "numpy",
        "Requests[SOCKS] >= 2.31, < 3",
        'pandas; python_version >= "3.11"',
    ]
    assert validate_package_list(entries) == [
        "scikit-learn>=1.3",
        "numpy",
        "requests[socks]<3,>=2.31",
        'pandas; python_version >= "3.11"',
    ]


def test_an_empty_package_list_is_fine() -> None:
    assert validate_package_list([]) == []
    assert validate_package_list(()) == []


@pytest.mark.parametrize(
    ("entry", "reason"),
    [
        ("-r other.txt", "options"),
        ("--index-url https://evil.example/simple", "options"),
        ("-e .", "options"),
        ("--extra-index-url=https://x", "options"),
        ("pkg @ https://example.com/pkg.whl", "URLs"),
        ("git+https://github.com/org/repo", "URLs"),
        ("http://example.com/pkg.tar.gz", "URLs"),
        ("pkg@git+https://github.com/org/repo", "URLs"),
        ("file:///tmp/pkg", "local files"),
        ("file:pkg", "local files"),
        ("./pkg", "local paths"),
        ("/opt/pkg", "local paths"),
        ("..", "local paths"),
        ("sub/pkg", "local paths"),
        ("C:\\pkg", "local paths"),
        ("~user", "local paths"),
        ("pkg-1.0-py3-none-any.whl", "wheels and archives"),
        ("pkg-1.0.tar.gz", "wheels and archives"),
        ("${TOKEN}", "environment variable"),
        ("pkg==$VERSION", "environment variable"),
        ("", "empty"),
        ("   ", "empty"),
        ("numpy\n--index-url x", "control character"),
        ("numpy\x00", "control character"),
        ("numpy\u202e", "control character"),
        ("n" * 201, "201 characters"),
        ("numpy>>1", "not a valid requirement"),
        ("not a requirement!", "not a valid requirement"),
    ],
)
def test_unsafe_package_entries_are_refused_by_name(entry: str, reason: str) -> None:
    with pytest.raises(InvalidPackageList) as caught:
        validate_package_list(["flask-cors", entry])
    message = caught.value.message
    assert reason in message
    assert repr(entry)[:40] in message


def test_duplicate_packages_name_both_entries() -> None:
    with pytest.raises(InvalidPackageList) as caught:
        validate_package_list(["numpy>=1", "requests", "NumPy<3"])
    assert "'numpy>=1'" in caught.value.message
    assert "'NumPy<3'" in caught.value.message


def test_too_many_packages() -> None:
    validate_package_list([f"pkg{number}" for number in range(200)])
    with pytest.raises(InvalidPackageList, match="more than 200"):
        validate_package_list(f"pkg{number}" for number in range(201))


def test_a_single_string_is_not_a_package_list() -> None:
    with pytest.raises(InvalidPackageList, match="single string"):
        validate_package_list("numpy")


def test_non_string_entries_are_refused() -> None:
    with pytest.raises(InvalidPackageList, match="float"):
        validate_package_list([1.0])  # type: ignore[list-item]


def test_requirements_text_skips_blanks_and_comments() -> None:
    text = "\ufeff# data stack\nnumpy>=1.26  # arrays\n\n  \nPandas\r\nscikit-learn #sklearn\n"
    assert parse_requirements_text(text) == ["numpy>=1.26", "pandas", "scikit-learn"]


def test_requirements_text_keeps_markers() -> None:
    assert parse_requirements_text('tomli; python_version < "3.11"\n') == [
        'tomli; python_version < "3.11"'
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("numpy\n-r more.txt\n", "line 2: '-r more.txt' is an option"),
        ("numpy\n--index-url https://x/simple\n", "line 2:"),
        ("numpy \\\n  >=1.0\n", "line 1 ends with '\\'"),
        ("numpy\n\nflask\n./local\n", "line 4: package list entry './local'"),
        ("numpy\nNumPy\n", "both name 'numpy'"),
    ],
)
def test_requirements_text_errors_name_the_line(text: str, expected: str) -> None:
    with pytest.raises(InvalidPackageList) as caught:
        parse_requirements_text(text)
    assert expected in caught.value.message


@pytest.mark.parametrize(
    "path", ["app.py", "tests/test_app.py", "model/model.joblib", ".gitignore", "a b/c d.txt"]
)
def test_valid_relative_paths(path: str) -> None:
    assert validate_relative_path(path) == path


def test_paths_are_normalized_to_nfc() -> None:
    decomposed = "cafe\u0301.py"
    assert validate_relative_path(decomposed) == "caf\u00e9.py"


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("", "empty"),
        ("/etc/passwd", "absolute"),
        ("../evil.py", "'..'"),
        ("a/../../evil.py", "'..'"),
        ("./app.py", "'.'"),
        ("a//b", "empty segment"),
        ("a/", "empty segment"),
        ("a\\b.py", "backslash"),
        ("C:/x.py", "drive letter"),
        ("c:x.py", "drive letter"),
        ("a\x00b", "control character"),
        ("a\nb", "control character"),
        ("x" * 256, "longer than 255 bytes"),
        ("é" * 128, "longer than 255 bytes"),
        ("/".join(["x" * 200] * 6), "longer than 1024 bytes"),
    ],
)
def test_unsafe_paths_are_refused(path: str, reason: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        validate_relative_path(path)
    assert reason in caught.value.message
    assert "invalid file path" in caught.value.message


def test_description_rules() -> None:
    assert validate_description('Adds "numbers"; émojis 🙂 too') == 'Adds "numbers"; émojis 🙂 too'
    for bad, reason in [
        ("a\nb", "single line"),
        ("x" * 501, "501 characters"),
        ("a\x07b", "control"),
        ("a\u2028b", "control"),
    ]:
        with pytest.raises(InvalidInput, match=reason):
            validate_description(bad)


def test_file_trees() -> None:
    assert validate_file_tree({"b.py": b"2", "a/x.py": b"1"}) == {"a/x.py": b"1", "b.py": b"2"}
    assert folder_clash(["a", "a/b"]) == "a"
    assert folder_clash(["a/b", "a/c"]) is None
    with pytest.raises(InvalidInput, match="both a file and a folder"):
        validate_file_tree({"a": b"", "a/b": b""})
    with pytest.raises(InvalidInput, match="given twice"):
        validate_file_tree({"cafe\u0301": b"", "caf\u00e9": b""})
    with pytest.raises(InvalidInput, match=re.escape("'..'")):
        validate_file_tree({"../x": b""})


@pytest.mark.parametrize("entries", [{"flask": "3"}, 3, None])
def test_a_package_list_must_be_a_list(entries: object) -> None:
    with pytest.raises(InvalidPackageList, match="must be a list of requirement strings"):
        validate_package_list(entries)  # type: ignore[arg-type]
