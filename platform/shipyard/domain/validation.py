"""Checks for the values users hand to Shipyard: service names, package lists, file paths.

Every check either returns the value in its normalized form or raises an ``InvalidInput``
subclass whose message names the offending value and the rule it breaks, because the
message is shown to the user as it is.
"""

from __future__ import annotations

import keyword
import re
import unicodedata
from collections.abc import Iterable, Mapping

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from shipyard_sdk.errors import InvalidInput, InvalidName, InvalidPackageList

MAX_NAME_LENGTH = 63
MAX_PACKAGES = 200
MAX_PACKAGE_ENTRY_LENGTH = 200
MAX_PATH_BYTES = 1024
MAX_SEGMENT_BYTES = 255
MAX_DESCRIPTION_LENGTH = 500
MAX_ASSOCIATION_FIELD_LENGTH = 255

# Control characters, format characters (bidi overrides, zero-width joiners), lone
# surrogates and line/paragraph separators: invisible or line-breaking in every place a
# user value ends up (file names, generated code, YAML, log lines).
_FORBIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
_NAME_CHARACTERS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-")
_DRIVE_LETTER = re.compile(r"[A-Za-z]:")
_ARCHIVE_SUFFIXES = (".whl", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz", ".zip", ".egg")
_COMMENT = re.compile(r"(?:^|\s)#.*$")


def quoted(value: object, limit: int = 100) -> str:
    """``repr(value)``, cut to ``limit`` characters so a huge value cannot flood a message."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def forbidden_character(text: str) -> str | None:
    """The first control, format or line-separator character in ``text``, if any."""
    for character in text:
        if unicodedata.category(character) in _FORBIDDEN_CATEGORIES:
            return character
    return None


def validate_service_name(name: str) -> str:
    """Return ``name`` if it is a DNS label (1-63 of ``a-z``, ``0-9``, single ``-``)."""
    if not isinstance(name, str):
        raise InvalidName(f"a service name must be a string, not {type(name).__name__}")
    problem = _service_name_problem(name)
    if problem:
        raise InvalidName(f"invalid service name {quoted(name)}: {problem}")
    return name


def _service_name_problem(name: str) -> str | None:
    if not name:
        return "it is empty"
    if len(name) > MAX_NAME_LENGTH:
        return f"it is {len(name)} characters long; the limit is {MAX_NAME_LENGTH}"
    for character in name:
        if character not in _NAME_CHARACTERS:
            return (
                f"it contains {character!r}; only lowercase letters a-z, digits and hyphens "
                "are allowed"
            )
    if not name[0].isalpha():
        return "it must start with a lowercase letter"
    if name[-1] == "-":
        return "it must end with a lowercase letter or a digit"
    if "--" in name:
        return "it contains '--'; hyphens must be single"
    return None


def python_identifier(name: str) -> str:
    """The Python identifier for a valid service name: ``add-numbers`` -> ``add_numbers``."""
    identifier = validate_service_name(name).replace("-", "_")
    if keyword.iskeyword(identifier):
        identifier = f"service_{identifier}"
    assert identifier.isidentifier(), identifier
    return identifier


def validate_description(description: str) -> str:
    """Return ``description`` if it is one line of at most 500 printable characters."""
    if not isinstance(description, str):
        raise InvalidInput(f"a description must be a string, not {type(description).__name__}")
    if len(description) > MAX_DESCRIPTION_LENGTH:
        raise InvalidInput(
            f"the description is {len(description)} characters long; "
            f"the limit is {MAX_DESCRIPTION_LENGTH}"
        )
    if "\n" in description or "\r" in description:
        raise InvalidInput(f"the description {quoted(description)} must be a single line")
    character = forbidden_character(description)
    if character is not None:
        raise InvalidInput(
            f"the description {quoted(description)} contains the invisible or control "
            f"character {character!r}"
        )
    return description


def validate_association_id_field(field: object) -> str:
    """Return ``field``, the top-level JSON field of a request body that holds a call's
    association id: 1-255 printable characters, or "" for none."""
    if not isinstance(field, str):
        raise InvalidInput(
            f"association_id_field must be a string (a JSON field name, or \"\" for none), "
            f"not {type(field).__name__}"
        )
    if len(field) > MAX_ASSOCIATION_FIELD_LENGTH:
        raise InvalidInput(
            f"association_id_field is {len(field)} characters long; "
            f"the limit is {MAX_ASSOCIATION_FIELD_LENGTH}"
        )
    if not field.isprintable():
        bad = next(character for character in field if not character.isprintable())
        raise InvalidInput(
            f"association_id_field {quoted(field)} contains the control or invisible "
            f"character {bad!r}"
        )
    return field


def validate_flag(value: object, name: str) -> bool:
    """Return ``value`` if it is a boolean; ``name`` is what the error calls it."""
    if not isinstance(value, bool):
        raise InvalidInput(f"{name} must be true or false, not {quoted(value)}")
    return value


def validate_package_list(entries: Iterable[str]) -> list[str]:
    """Normalize a package list of plain PEP 508 requirements, in the order given.

    Each entry comes back as ``str(Requirement)`` with a canonical project name. Options,
    URLs, direct references, local paths, environment variables and duplicates are refused.
    """
    if isinstance(entries, str | bytes):
        raise InvalidPackageList(
            "the package list must be a list of requirement strings, not a single string"
        )
    if isinstance(entries, Mapping) or not isinstance(entries, Iterable):
        raise InvalidPackageList(
            "the package list must be a list of requirement strings, "
            f"not a {type(entries).__name__}"
        )
    normalized: list[str] = []
    first_entry_by_name: dict[str, str] = {}
    for count, entry in enumerate(entries, start=1):
        if count > MAX_PACKAGES:
            raise InvalidPackageList(f"the package list has more than {MAX_PACKAGES} entries")
        requirement = _parse_entry(entry)
        earlier = first_entry_by_name.get(requirement.name)
        if earlier is not None:
            raise InvalidPackageList(
                f"package list entries {quoted(earlier)} and {quoted(entry)} both name "
                f"{requirement.name!r}; list each package once"
            )
        first_entry_by_name[requirement.name] = entry
        normalized.append(str(requirement))
    return normalized


def _parse_entry(entry: object) -> Requirement:
    if not isinstance(entry, str):
        raise InvalidPackageList(
            f"package list entry {quoted(entry)} is a {type(entry).__name__}, not a string"
        )
    problem = _entry_problem(entry)
    if problem:
        raise InvalidPackageList(f"package list entry {quoted(entry)}: {problem}")
    try:
        requirement = Requirement(entry.strip())
    except InvalidRequirement as error:
        reason = str(error).splitlines()[0] if str(error) else "unparsable"
        raise InvalidPackageList(
            f"package list entry {quoted(entry)} is not a valid requirement: {reason}"
        ) from None
    if requirement.url:
        raise InvalidPackageList(
            f"package list entry {quoted(entry)}: direct references ('name @ url') are "
            "not allowed; name a published version instead"
        )
    requirement.name = canonicalize_name(requirement.name)
    requirement.extras = {canonicalize_name(extra) for extra in requirement.extras}
    return requirement


def _entry_problem(entry: str) -> str | None:
    if len(entry) > MAX_PACKAGE_ENTRY_LENGTH:
        return f"it is {len(entry)} characters long; the limit is {MAX_PACKAGE_ENTRY_LENGTH}"
    character = forbidden_character(entry)
    if character is not None:
        return f"it contains the control character {character!r}"
    text = entry.strip()
    lowered = text.lower()
    if not text:
        return "it is empty"
    if text.startswith("-"):
        return "options such as '-r', '-e' or '--index-url' are not allowed"
    if "$" in text:
        return "environment variable references ('$VAR', '${VAR}') are not allowed"
    if lowered.startswith("file:"):
        return "local files are not allowed; name a published version instead"
    if "://" in text or "@" in text or lowered.startswith(("git+", "hg+", "svn+", "bzr+")):
        return "URLs and direct references are not allowed; name a published version instead"
    if "/" in text or "\\" in text or text.startswith(".") or text.startswith("~"):
        return "local paths are not allowed; name a published version instead"
    if lowered.endswith(_ARCHIVE_SUFFIXES):
        return "local wheels and archives are not allowed; name a published version instead"
    return None


def parse_requirements_text(text: str) -> list[str]:
    """Read a requirements.txt-like text: one requirement per line, ``#`` comments allowed.

    Options (``-r``, ``--index-url``...) and line continuations are refused with the line
    number; the entries then go through ``validate_package_list``.
    """
    entries: list[str] = []
    for number, raw_line in enumerate(text.removeprefix("\ufeff").split("\n"), start=1):
        line = _COMMENT.sub("", raw_line.removesuffix("\r")).strip()
        if not line:
            continue
        if line.startswith("-"):
            raise InvalidPackageList(
                f"line {number}: {quoted(line)} is an option; options such as '-r' or "
                "'--index-url' are not supported, list one requirement per line"
            )
        if line.endswith("\\"):
            raise InvalidPackageList(
                f"line {number} ends with '\\'; line continuations are not supported"
            )
        try:
            _parse_entry(line)
        except InvalidPackageList as error:
            raise InvalidPackageList(f"line {number}: {error.message}") from None
        entries.append(line)
    return validate_package_list(entries)


def path_problem(path: str) -> str | None:
    """Why ``path`` is not a safe relative POSIX path of a file, or None if it is."""
    if not path:
        return "it is empty"
    character = forbidden_character(path)
    if character is not None:
        return f"it contains the control character {character!r}"
    if "\\" in path:
        return "it contains a backslash; use '/' between folders"
    if path.startswith("/"):
        return "it is absolute; it must be relative to the service folder"
    if _DRIVE_LETTER.match(path):
        return "it starts with a drive letter; it must be relative to the service folder"
    if len(path.encode("utf-8")) > MAX_PATH_BYTES:
        return f"it is longer than {MAX_PATH_BYTES} bytes"
    for segment in path.split("/"):
        if segment == "..":
            return "it contains a '..' segment"
        if segment == ".":
            return "it contains a '.' segment"
        if not segment:
            return "it contains an empty segment ('//' or a trailing '/')"
        if len(segment.encode("utf-8")) > MAX_SEGMENT_BYTES:
            return f"the name {quoted(segment, 40)} is longer than {MAX_SEGMENT_BYTES} bytes"
    return None


def validate_relative_path(path: str) -> str:
    """Return ``path`` as a normalized (NFC) relative POSIX path of a file in a service."""
    if not isinstance(path, str):
        raise InvalidInput(f"a file path must be a string, not {type(path).__name__}")
    problem = path_problem(path)
    normalized = unicodedata.normalize("NFC", path) if problem is None else path
    if problem is None and normalized != path:
        problem = path_problem(normalized)
    if problem:
        raise InvalidInput(f"invalid file path {quoted(path)}: {problem}")
    return normalized


def folder_clash(files: Iterable[str], folders: Iterable[str] = ()) -> str | None:
    """A path used both as a file and as a folder (``a`` and ``a/b``), if any."""
    file_paths = set(files)
    parents = set(folders)
    for path in file_paths:
        segments = path.split("/")
        parents.update("/".join(segments[:end]) for end in range(1, len(segments)))
    clashes = sorted(file_paths & parents)
    return clashes[0] if clashes else None


def validate_file_tree(files: Mapping[str, bytes]) -> dict[str, bytes]:
    """Validate every path of ``files`` and return them normalized, sorted by path.

    Refuses two paths that normalize to the same one and a path that is both a file and a
    folder, since such a tree cannot be written to disk.
    """
    checked: dict[str, bytes] = {}
    for raw_path, content in files.items():
        path = validate_relative_path(raw_path)
        if path in checked:
            raise InvalidInput(f"file path {quoted(raw_path)} is given twice")
        checked[path] = bytes(content)
    clash = folder_clash(checked)
    if clash:
        raise InvalidInput(f"file path {quoted(clash)} is both a file and a folder")
    return dict(sorted(checked.items()))
