"""Rendering a service template into files, writing them out, and reading a folder back.

Templates are folders: a file ending in ``.j2`` is rendered with Jinja2 (and loses the
suffix), any other file is copied byte for byte. Values typed by users reach generated code
only through the ``pyrepr``, ``docstring`` and ``yaml`` filters, so they land as literals.
"""

from __future__ import annotations

import ast
import os
import re
import traceback
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from jinja2 import (
    FileSystemLoader,
    StrictUndefined,
    TemplateError,
    TemplateSyntaxError,
    Undefined,
)
from jinja2.sandbox import SandboxedEnvironment

from shipyard.domain.archives import MAX_FILES, MAX_TOTAL_BYTES
from shipyard.domain.validation import (
    python_identifier,
    quoted,
    validate_description,
    validate_file_tree,
    validate_package_list,
    validate_relative_path,
    validate_service_name,
)
from shipyard.resources import templates_root
from shipyard_sdk.errors import Conflict, InvalidInput, InvalidTemplate, PayloadTooLarge

KINDS = ("custom", "model")
DEFAULT_TEMPLATES: Mapping[str, str] = {"custom": "custom-service", "model": "model-service"}
# joblib loads the model, pandas gives it named columns, scikit-learn is the usual model
# library; a model built with another library needs that library on top.
DEFAULT_PACKAGES: Mapping[str, tuple[str, ...]] = {
    "custom": (),
    "model": ("joblib", "pandas", "scikit-learn"),
}
TEMPLATE_SUFFIX = ".j2"

_ENVIRONMENT_NAME = re.compile(r"[a-z][a-z0-9-]{0,31}")
_TEMPLATE_SKIPPED_FOLDERS = frozenset({"__pycache__"})
_FOLDER_SKIPPED_FOLDERS = frozenset({"__pycache__", ".git", ".venv", "venv", ".pytest_cache"})


@dataclass(frozen=True)
class ScaffoldValues:
    """What a template is rendered with; checked (and packages normalized) on creation."""

    name: str
    kind: str
    environment: str
    packages: tuple[str, ...] = ()
    description: str = ""

    def __post_init__(self) -> None:
        validate_service_name(self.name)
        if self.kind not in KINDS:
            raise InvalidInput(
                f"unknown service kind {quoted(self.kind)}; known: {', '.join(KINDS)}"
            )
        if not isinstance(self.environment, str) or not _ENVIRONMENT_NAME.fullmatch(
            self.environment
        ):
            raise InvalidInput(
                f"invalid environment name {quoted(self.environment)}: it must be 1-32 "
                "lowercase letters, digits or hyphens, starting with a letter"
            )
        object.__setattr__(self, "packages", tuple(validate_package_list(self.packages)))
        validate_description(self.description)

    def context(self) -> dict[str, Any]:
        """The variables a template sees."""
        return {
            "name": self.name,
            "identifier": python_identifier(self.name),
            "kind": self.kind,
            "environment": self.environment,
            "packages": list(self.packages),
            "description": self.description,
        }


def bundled_templates() -> tuple[str, ...]:
    """The names of the template folders shipped with Shipyard."""
    root = templates_root()
    if not root.is_dir():
        return ()
    return tuple(
        sorted(
            entry.name
            for entry in root.iterdir()
            if entry.is_dir() and not entry.name.startswith((".", "_"))
        )
    )


def template_dir_for(kind: str, template: str | None = None) -> Path:
    """The template folder for ``kind``: its default, a bundled name, or a folder path.

    A bare bundled name wins over a folder of the same name in the working directory; write
    ``./custom-service`` to mean the folder.
    """
    if kind not in KINDS:
        raise InvalidInput(f"unknown service kind {quoted(kind)}; known: {', '.join(KINDS)}")
    bundled = bundled_templates()
    name = DEFAULT_TEMPLATES[kind] if template is None else template
    if name in bundled:
        return templates_root() / name
    if template is not None:
        folder = Path(template).expanduser()
        if folder.is_dir():
            return folder.resolve()
    known = ", ".join(bundled) or "none found"
    raise InvalidTemplate(
        f"template {quoted(name)} is neither a bundled template ({known}) nor an existing folder"
    )


def render_template(template_dir: Path, values: ScaffoldValues) -> dict[str, bytes]:
    """Render every file of ``template_dir`` with ``values``; returns {path: content}."""
    template_dir = Path(template_dir)
    if not template_dir.is_dir():
        raise InvalidTemplate(f"template folder {quoted(str(template_dir))} does not exist")
    environment = _jinja_environment(template_dir)
    context = values.context()
    rendered: dict[str, bytes] = {}
    sources = _walk(template_dir, _skipped_in_template, InvalidTemplate)
    for source_path, source in sources:
        if source_path.endswith(TEMPLATE_SUFFIX):
            target = source_path.removesuffix(TEMPLATE_SUFFIX)
            content = _render_file(environment, template_dir, source_path, context)
        else:
            target, content = source_path, source.read_bytes()
        try:
            target = validate_relative_path(target)
        except InvalidInput as error:
            raise InvalidTemplate(f"template file {quoted(source_path)}: {error.message}") from None
        if target in rendered:
            raise InvalidTemplate(
                f"template files {quoted(target)} and {quoted(target + TEMPLATE_SUFFIX)} "
                "both produce the same file"
            )
        rendered[target] = content
    if not rendered:
        raise InvalidTemplate(f"template folder {quoted(str(template_dir))} has no files")
    return dict(sorted(rendered.items()))


def _jinja_environment(template_dir: Path) -> SandboxedEnvironment:
    # Sandboxed because users may bring their own template folders.
    environment = SandboxedEnvironment(
        loader=FileSystemLoader(str(template_dir)),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )
    environment.filters["pyrepr"] = pyrepr
    environment.filters["docstring"] = docstring
    environment.filters["yaml"] = yaml_literal
    return environment


def _render_file(
    environment: SandboxedEnvironment, template_dir: Path, name: str, context: dict[str, Any]
) -> bytes:
    try:
        return environment.get_template(name).render(context).encode("utf-8")
    except TemplateSyntaxError as error:
        where = error.name or name
        raise InvalidTemplate(
            f"template file {quoted(where)}, line {error.lineno}: {error.message}"
        ) from None
    except UnicodeDecodeError:
        raise InvalidTemplate(f"template file {quoted(name)} is not UTF-8 text") from None
    except (TemplateError, ArithmeticError, LookupError, TypeError, ValueError) as error:
        line = _template_line(error, template_dir / name)
        where = f", line {line}" if line else ""
        raise InvalidTemplate(f"template file {quoted(name)}{where}: {error}") from None


def _template_line(error: BaseException, path: Path) -> int | None:
    # Jinja rewrites tracebacks so that frames point at lines of the template file.
    filename = os.path.normpath(path)
    lines = [
        frame.lineno
        for frame in traceback.extract_tb(error.__traceback__)
        if frame.filename == filename
    ]
    return lines[-1] if lines else None


def _fail_if_undefined(value: object) -> None:
    if isinstance(value, Undefined):
        str(value)  # a StrictUndefined raises UndefinedError naming the variable


def pyrepr(value: object) -> str:
    """Jinja filter: ``value`` as a Python literal (strings, numbers, lists, dicts...)."""
    _fail_if_undefined(value)
    text = repr(value)
    try:
        ast.literal_eval(text)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        raise ValueError(f"pyrepr cannot write {quoted(value)} as a Python literal") from None
    return text


def docstring(value: object) -> str:
    """Jinja filter: text made safe inside a ``\"\"\"`` string (backslashes, quotes escaped)."""
    _fail_if_undefined(value)
    if not isinstance(value, str):
        raise TypeError(f"the docstring filter takes a string, not {type(value).__name__}")
    return value.replace("\\", "\\\\").replace('"', '\\"')


def yaml_literal(value: object) -> str:
    """Jinja filter: ``value`` as a one-line YAML flow scalar or list."""
    _fail_if_undefined(value)
    text: str = yaml.safe_dump(
        _plain(value), default_flow_style=True, allow_unicode=True, width=1 << 30
    )
    # A document made of a bare scalar ends with an explicit "..." end marker.
    return text.removesuffix("\n").removesuffix("\n...").strip()


def _plain(value: object) -> object:
    if isinstance(value, tuple | list):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    return value


def write_files(target: Path, files: Mapping[str, bytes]) -> None:
    """Write ``files`` into the new (or empty) folder ``target``."""
    target = Path(target)
    if target.exists() or target.is_symlink():
        if not target.is_dir():
            raise Conflict(f"{quoted(str(target))} already exists and is not a folder")
        if any(target.iterdir()):
            raise Conflict(f"the folder {quoted(str(target))} already exists and is not empty")
    checked = validate_file_tree(files)
    target.mkdir(parents=True, exist_ok=True)
    for path, content in checked.items():
        destination = target.joinpath(*path.split("/"))
        destination.parent.mkdir(parents=True, exist_ok=True)
        with destination.open("xb") as stream:
            stream.write(content)


def read_folder(
    folder: Path, *, max_files: int = MAX_FILES, max_total_bytes: int = MAX_TOTAL_BYTES
) -> dict[str, bytes]:
    """Every regular file under ``folder`` as {relative path: content}, tool clutter skipped.

    Symbolic links to files inside the folder are read as those files; any other link is
    refused, as are fifos, sockets and devices.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise InvalidInput(f"{quoted(str(folder))} is not a folder")
    files: dict[str, bytes] = {}
    total = 0
    for path, source in _walk(folder, _skipped_in_folder, InvalidInput):
        if len(files) >= max_files:
            raise PayloadTooLarge(
                f"the folder {quoted(str(folder))} has more than {max_files} files"
            )
        with source.open("rb") as stream:
            content = stream.read(max_total_bytes - total + 1)
        total += len(content)
        if total > max_total_bytes:
            raise PayloadTooLarge(
                f"the files under {quoted(str(folder))} are over {max_total_bytes} bytes "
                f"(reached at {quoted(path)})"
            )
        files[path] = content
    return dict(sorted(files.items()))


def _skipped_in_template(name: str, is_folder: bool) -> bool:
    if is_folder:
        return name in _TEMPLATE_SKIPPED_FOLDERS
    return name.endswith(".pyc")


def _skipped_in_folder(name: str, is_folder: bool) -> bool:
    if is_folder:
        return name in _FOLDER_SKIPPED_FOLDERS or name.endswith(".egg-info")
    return name.endswith(".pyc") or name == ".DS_Store"


def _walk(
    root: Path, skipped: Callable[[str, bool], bool], error: type[InvalidInput]
) -> Iterator[tuple[str, Path]]:
    """(relative posix path, file) for the files under ``root``, depth first, sorted."""
    resolved_root = root.resolve()
    pending = [(root, "")]
    while pending:
        folder, prefix = pending.pop()
        folders: list[tuple[Path, str]] = []
        for entry in sorted(folder.iterdir(), key=lambda entry: entry.name):
            relative = prefix + entry.name
            if skipped(entry.name, entry.is_dir()):
                continue
            if entry.is_symlink():
                _check_link(entry, relative, resolved_root, error)
            if entry.is_dir():
                folders.append((entry, relative + "/"))
            elif entry.is_file():
                try:
                    yield validate_relative_path(relative), entry
                except InvalidInput as problem:
                    raise error(problem.message) from None
            else:
                raise error(f"{quoted(relative)} is not a regular file (a fifo, socket or device)")
        pending.extend(reversed(folders))


def _check_link(entry: Path, relative: str, root: Path, error: type[InvalidInput]) -> None:
    target = entry.resolve()
    if not target.is_relative_to(root):
        raise error(f"{quoted(relative)} is a symbolic link pointing outside the folder")
    if not target.exists():
        raise error(f"{quoted(relative)} is a broken symbolic link")
    if target.is_dir():
        raise error(
            f"{quoted(relative)} is a symbolic link to a folder; only links to files are allowed"
        )
