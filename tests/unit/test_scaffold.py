"""Rendering the bundled and users' templates, writing them out and reading folders back."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest
import yaml

from shipyard.domain.scaffold import (
    DEFAULT_PACKAGES,
    KINDS,
    ScaffoldValues,
    bundled_templates,
    read_folder,
    render_template,
    template_dir_for,
    write_files,
)
from shipyard.resources import environments_file, templates_root
from shipyard_sdk.errors import Conflict, InvalidInput, InvalidTemplate, PayloadTooLarge

HOSTILE = 'Adds "numbers" \\ """; import os; os.system("echo pwned") # {{ name }} \'\'\''

LoadModule = Callable[[Path, str], ModuleType]


def custom_values(**changes: object) -> ScaffoldValues:
    values: dict[str, object] = {
        "name": "add-numbers",
        "kind": "custom",
        "environment": "small",
        "packages": (),
        "description": "Adds two numbers.",
    }
    values.update(changes)
    return ScaffoldValues(**values)  # type: ignore[arg-type]


def make_template(folder: Path, files: dict[str, str | bytes]) -> Path:
    for relative, content in files.items():
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    return folder


def test_resources_are_found_in_the_checkout() -> None:
    assert (templates_root() / "custom-service" / "app.py.j2").is_file()
    assert environments_file().name == "environments.yaml"
    assert set(bundled_templates()) >= {"custom-service", "model-service"}


def test_custom_template_renders_every_file() -> None:
    files = render_template(template_dir_for("custom"), custom_values())
    assert set(files) == {
        ".gitignore",
        "README.md",
        "app.py",
        "conftest.py",
        "shipyard.yaml",
        "tests/test_app.py",
    }
    for path in ("app.py", "conftest.py", "tests/test_app.py"):
        compile(files[path], path, "exec")
    readme = files["README.md"].decode()
    assert "shipyard test\n" in readme
    assert "shipyard deploy .\n" in readme
    assert "shipyard invoke add-numbers post /add-numbers" in readme


def test_the_manifest_carries_the_values() -> None:
    values = custom_values(packages=("NumPy>=1.26", "requests"), environment="large")
    manifest = yaml.safe_load(render_template(template_dir_for("custom"), values)["shipyard.yaml"])
    assert manifest == {
        "name": "add-numbers",
        "kind": "custom",
        "environment": "large",
        "description": "Adds two numbers.",
        "packages": ["numpy>=1.26", "requests"],
    }


def test_the_default_custom_package_list_is_empty() -> None:
    assert DEFAULT_PACKAGES["custom"] == ()
    files = render_template(template_dir_for("custom"), custom_values(description=""))
    manifest = yaml.safe_load(files["shipyard.yaml"])
    assert manifest["packages"] == []
    assert manifest["description"] == ""


def test_model_template_renders() -> None:
    values = ScaffoldValues(
        name="yes", kind="model", environment="small", packages=DEFAULT_PACKAGES["model"]
    )
    files = render_template(template_dir_for("model"), values)
    assert {"app.py", "shipyard.yaml", "README.md", ".gitignore"} <= set(files)
    tree = ast.parse(files["app.py"])
    assigned = {
        node.targets[0].id: node.value
        for node in tree.body
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name)
    }
    assert ast.literal_eval(assigned["SERVICE"]) == "yes"
    manifest = yaml.safe_load(files["shipyard.yaml"])
    # "yes" would be a boolean in YAML if it were written raw.
    assert manifest["name"] == "yes"
    assert manifest["kind"] == "model"
    assert manifest["packages"] == ["joblib", "pandas", "scikit-learn"]


def test_route_tags_are_yaml_safe() -> None:
    files = render_template(template_dir_for("custom"), custom_values(name="null"))
    tree = ast.parse(files["app.py"])
    route = next(
        node
        for node in tree.body
        if isinstance(node, ast.FunctionDef) and node.name == "add_numbers"
    )
    spec = yaml.safe_load(ast.get_docstring(route).split("---", 1)[1])
    assert spec["tags"] == ["null"]
    assert spec["requestBody"]["content"]["application/json"]["schema"]["required"] == [
        "num1",
        "num2",
    ]
    assert set(spec["responses"]) == {"200", "400"}


@pytest.mark.parametrize("kind", KINDS)
def test_a_hostile_description_lands_as_a_literal(kind: str) -> None:
    values = custom_values(kind=kind, description=HOSTILE)
    files = render_template(template_dir_for(kind), values)
    tree = ast.parse(files["app.py"])
    docstring = ast.get_docstring(tree)
    assert docstring is not None
    assert HOSTILE in docstring
    imported = {
        alias.name
        for node in tree.body
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    attributes = {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)}
    assert "system" not in attributes
    assert yaml.safe_load(files["shipyard.yaml"])["description"] == HOSTILE
    if kind == "custom":
        assert imported == {"math", "Flask", "jsonify", "request"}


def test_a_long_description_is_wrapped_in_the_docstring() -> None:
    description = " ".join(["word"] * 100)
    files = render_template(template_dir_for("custom"), custom_values(description=description))
    docstring = ast.get_docstring(ast.parse(files["app.py"]))
    assert docstring is not None
    assert " ".join(docstring.split()).count("word") == 100
    assert max(len(line) for line in files["app.py"].decode().splitlines()) <= 100


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"name": "Bad Name"}, "invalid service name"),
        ({"kind": "batch"}, "unknown service kind 'batch'"),
        ({"environment": "Big"}, "invalid environment name 'Big'"),
        ({"environment": "x" * 33}, "invalid environment name"),
        ({"packages": ("-r reqs.txt",)}, "options"),
        ({"description": "one\ntwo"}, "single line"),
        ({"description": "x" * 501}, "501 characters"),
    ],
)
def test_values_are_checked_before_rendering(changes: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        custom_values(**changes)


def test_values_normalize_packages_and_give_the_context() -> None:
    values = custom_values(name="import", packages=["Flask_Cors"])
    assert values.packages == ("flask-cors",)
    assert values.context() == {
        "name": "import",
        "identifier": "service_import",
        "kind": "custom",
        "environment": "small",
        "packages": ["flask-cors"],
        "description": "Adds two numbers.",
    }


def test_a_user_template_renders_j2_files_and_copies_the_rest(tmp_path: Path) -> None:
    template = make_template(
        tmp_path / "mine",
        {
            "main.py.j2": "NAME = {{ name | pyrepr }}\nPACKAGES = {{ packages | pyrepr }}\n",
            "lib/helpers.py": "TABLE = {'a': '{{ not jinja }}'}\n",
            "data/blob.bin": bytes(range(256)),
            "__pycache__/main.cpython-311.pyc": b"\0",
            "lib/__pycache__/helpers.cpython-311.pyc": b"\0",
        },
    )
    files = render_template(template, custom_values(packages=("numpy",)))
    assert files == {
        "data/blob.bin": bytes(range(256)),
        "lib/helpers.py": b"TABLE = {'a': '{{ not jinja }}'}\n",
        "main.py": b"NAME = 'add-numbers'\nPACKAGES = ['numpy']\n",
    }


def test_an_undefined_variable_names_the_file_and_line(tmp_path: Path) -> None:
    template = make_template(tmp_path / "mine", {"app.py.j2": "ok = 1\nvalue = {{ missing }}\n"})
    with pytest.raises(InvalidTemplate) as caught:
        render_template(template, custom_values())
    assert "'app.py.j2'" in caught.value.message
    assert "line 2" in caught.value.message
    assert "'missing' is undefined" in caught.value.message


def test_an_undefined_variable_through_a_filter_fails(tmp_path: Path) -> None:
    template = make_template(tmp_path / "mine", {"app.py.j2": "x = {{ missing | pyrepr }}\n"})
    with pytest.raises(InvalidTemplate, match="'missing' is undefined"):
        render_template(template, custom_values())


def test_a_syntax_error_names_the_file_and_line(tmp_path: Path) -> None:
    template = make_template(tmp_path / "mine", {"sub/x.txt.j2": "a\nb\n{% if %}\n"})
    with pytest.raises(InvalidTemplate) as caught:
        render_template(template, custom_values())
    assert "'sub/x.txt.j2', line 3" in caught.value.message


def test_templates_are_sandboxed(tmp_path: Path) -> None:
    template = make_template(
        tmp_path / "mine", {"x.j2": "{{ ''.__class__.__mro__[1].__subclasses__() }}"}
    )
    with pytest.raises(InvalidTemplate, match=re.escape("'x.j2'")):
        render_template(template, custom_values())


def test_two_sources_for_one_file_are_refused(tmp_path: Path) -> None:
    template = make_template(tmp_path / "mine", {"app.py": "a", "app.py.j2": "b"})
    with pytest.raises(InvalidTemplate, match="same file"):
        render_template(template, custom_values())


def test_an_empty_or_missing_template_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(InvalidTemplate, match="has no files"):
        render_template(tmp_path / "empty", custom_values())
    with pytest.raises(InvalidTemplate, match="does not exist"):
        render_template(tmp_path / "missing", custom_values())


def test_template_dir_for(tmp_path: Path) -> None:
    assert template_dir_for("custom") == templates_root() / "custom-service"
    assert template_dir_for("model", None) == templates_root() / "model-service"
    assert template_dir_for("custom", "model-service") == templates_root() / "model-service"
    mine = make_template(tmp_path / "mine", {"app.py": "x"})
    assert template_dir_for("custom", str(mine)) == mine.resolve()
    with pytest.raises(InvalidTemplate) as caught:
        template_dir_for("custom", str(tmp_path / "nowhere"))
    assert "custom-service, model-service" in caught.value.message
    with pytest.raises(InvalidTemplate):
        template_dir_for("custom", str(mine / "app.py"))
    with pytest.raises(InvalidInput, match="unknown service kind"):
        template_dir_for("batch", None)


def test_write_files_creates_a_new_folder(tmp_path: Path) -> None:
    target = tmp_path / "new" / "svc"
    write_files(target, {"app.py": b"app", "tests/test_app.py": b"test"})
    assert (target / "app.py").read_bytes() == b"app"
    assert (target / "tests" / "test_app.py").read_bytes() == b"test"


def test_write_files_accepts_an_empty_folder(tmp_path: Path) -> None:
    write_files(tmp_path, {"app.py": b"app"})
    assert (tmp_path / "app.py").read_bytes() == b"app"


def test_write_files_refuses_a_non_empty_folder(tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("mine")
    with pytest.raises(Conflict, match="not empty"):
        write_files(tmp_path, {"app.py": b"app"})
    with pytest.raises(Conflict, match="not a folder"):
        write_files(tmp_path / "keep.txt", {"app.py": b"app"})
    assert sorted(path.name for path in tmp_path.iterdir()) == ["keep.txt"]


def test_write_files_refuses_unsafe_paths_before_writing(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match=re.escape("'..'")):
        write_files(tmp_path / "svc", {"app.py": b"", "../escape.py": b""})
    assert not (tmp_path / "svc").exists()
    assert not (tmp_path / "escape.py").exists()


def test_read_folder_is_the_inverse_of_write_files(tmp_path: Path) -> None:
    files = render_template(template_dir_for("custom"), custom_values())
    write_files(tmp_path / "svc", files)
    assert read_folder(tmp_path / "svc") == files


def test_read_folder_skips_clutter(tmp_path: Path) -> None:
    make_template(
        tmp_path,
        {
            "app.py": "app",
            "__pycache__/app.cpython-311.pyc": b"\0",
            "pkg/mod.pyc": b"\0",
            ".git/HEAD": "ref",
            ".venv/bin/python": "x",
            "venv/lib/x.py": "x",
            ".pytest_cache/v/cache": "x",
            "svc.egg-info/PKG-INFO": "x",
            ".DS_Store": b"\0",
        },
    )
    assert read_folder(tmp_path) == {"app.py": b"app"}


def test_read_folder_follows_links_to_files_inside(tmp_path: Path) -> None:
    make_template(tmp_path, {"app.py": "app"})
    (tmp_path / "alias.py").symlink_to("app.py")
    assert read_folder(tmp_path) == {"alias.py": b"app", "app.py": b"app"}


@pytest.mark.parametrize(
    ("make_link", "message"),
    [
        (lambda folder, outside: (folder / "leak").symlink_to(outside), "outside the folder"),
        (lambda folder, outside: (folder / "sub").symlink_to(folder / "pkg"), "to a folder"),
        (lambda folder, outside: (folder / "gone").symlink_to(folder / "none"), "broken"),
    ],
)
def test_read_folder_refuses_other_links(
    tmp_path: Path, make_link: Callable[[Path, Path], None], message: str
) -> None:
    folder = make_template(tmp_path / "svc", {"app.py": "app", "pkg/mod.py": "mod"})
    outside = tmp_path / "secret.txt"
    outside.write_text("secret")
    make_link(folder, outside)
    with pytest.raises(InvalidInput, match=message):
        read_folder(folder)


def test_read_folder_refuses_fifos(tmp_path: Path) -> None:
    make_template(tmp_path, {"app.py": "app"})
    os.mkfifo(tmp_path / "pipe")
    with pytest.raises(InvalidInput, match="'pipe' is not a regular file"):
        read_folder(tmp_path)


def test_read_folder_limits(tmp_path: Path) -> None:
    make_template(tmp_path, {f"f{number}.txt": "x" * 100 for number in range(3)})
    assert len(read_folder(tmp_path, max_files=3, max_total_bytes=300)) == 3
    with pytest.raises(PayloadTooLarge, match="more than 2 files"):
        read_folder(tmp_path, max_files=2)
    with pytest.raises(PayloadTooLarge, match="over 299 bytes"):
        read_folder(tmp_path, max_total_bytes=299)
    with pytest.raises(InvalidInput, match="is not a folder"):
        read_folder(tmp_path / "f0.txt")


def test_the_scaffolded_service_answers_7(tmp_path: Path, load_module: LoadModule) -> None:
    write_files(tmp_path / "svc", render_template(template_dir_for("custom"), custom_values()))
    module = load_module(tmp_path / "svc" / "app.py", "scaffolded_add_numbers")
    client = module.app.test_client()
    response = client.post("/add-numbers", json={"num1": 2, "num2": 5})
    assert response.status_code == 200
    assert response.get_json() == 7
    for body in ({"num1": 2}, {"num1": "2", "num2": 5}, {"num1": True, "num2": 5}, [1, 2]):
        response = client.post("/add-numbers", json=body)
        assert response.status_code == 400
        assert response.get_json()["error"]["type"] == "InvalidInput"


def test_the_scaffolded_tests_pass(tmp_path: Path) -> None:
    service = tmp_path / "svc"
    write_files(service, render_template(template_dir_for("custom"), custom_values()))
    environment = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    environment["PYTHONDONTWRITEBYTECODE"] = "1"
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=service,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "4 passed" in result.stdout
