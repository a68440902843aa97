"""What ``shipyard deploy FOLDER`` ends with: the service's URL, and a ``shipyard invoke``
line and a curl line that call it, ready to paste.

The example call comes from the service's OpenAPI document: the first operation with a JSON
request example (the custom template's ``/add-numbers``, a model service's predict route
with one baseline record), else the first GET without path parameters, else the health
route every service has. The curl line signs with curl's ``--aws-sigv4`` as the CLI signs:
same key, region and service. It never holds the secret: it reads it where the CLI found
it, from ``$SHIPYARD_SECRET_ACCESS_KEY`` or the credentials file.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping
from typing import Any

import click

from shipyard_sdk.client import DEFAULT_REGION, DEFAULT_SIGNING_SERVICE, Client
from shipyard_sdk.credentials import credentials_file, find_credentials
from shipyard_sdk.runtime.health import HEALTH_PATH

__all__ = ["ExampleCall", "curl_line", "echo_call_lines", "example_call", "invoke_line"]

ExampleCall = tuple[str, str, Any]
"""(method, path, JSON body or None)"""

_WITH_BODY = ("post", "put", "patch")
_READ_SECRET = 'import json, sys; print(json.load(open(sys.argv[1]))["secret_access_key"])'


def echo_call_lines(client: Client, service: str) -> None:
    status = client.services.get(service)
    document = client.services.openapi(service)
    url = document["servers"][0]["url"]
    call = example_call(document)
    click.echo(f"{service} serves at {url}")
    click.echo("Call it with:")
    click.echo("  " + invoke_line(service, call))
    click.echo("  " + curl_line(url, call, signed=status["access_level"] != "public"))


def example_call(document: Mapping[str, Any]) -> ExampleCall:
    """A call worth showing, from a service's OpenAPI document."""
    paths: Mapping[str, Any] = document.get("paths") or {}
    for path, operations in paths.items():
        for method in _WITH_BODY:
            body = _json_example((operations.get(method) or {}).get("requestBody") or {})
            if body is not None and "{" not in path:
                return method, path, body
    for path, operations in paths.items():
        if "get" in operations and "{" not in path:
            return "get", path, None
    return "get", HEALTH_PATH, None


def invoke_line(service: str, call: ExampleCall) -> str:
    method, path, body = call
    words = ["shipyard", "invoke", service, method, path]
    if body is not None:
        words.append(json.dumps(body))
    return shlex.join(words)


def curl_line(url: str, call: ExampleCall, *, signed: bool) -> str:
    method, path, body = call
    words = ["curl", "-X", method.upper(), url + path]
    if body is not None:
        words += ["-H", "Content-Type: application/json", "-d", json.dumps(body)]
    line = shlex.join(words)
    if not signed:
        return line
    credentials = find_credentials()
    if credentials is None:
        return line + "  # add credentials: this service is not public"
    region = credentials.region or DEFAULT_REGION
    signing_service = credentials.service or DEFAULT_SIGNING_SERVICE
    return (f"{line} --aws-sigv4 {shlex.quote(f'aws:amz:{region}:{signing_service}')}"
            f' --user "{credentials.access_key_id}:{_secret_reference()}"')


def _secret_reference() -> str:
    """Shell words that expand to the secret key, inside double quotes."""
    path = credentials_file()
    if path is None:
        return "$SHIPYARD_SECRET_ACCESS_KEY"
    return f"$(python3 -c {shlex.quote(_READ_SECRET)} {shlex.quote(str(path.resolve()))})"


def _json_example(request_body: Mapping[str, Any]) -> Any:
    """The request body's JSON example: its ``example``, else its first ``examples``
    value; a list of records is cut to its first record."""
    media = (request_body.get("content") or {}).get("application/json") or {}
    if "example" in media:
        example = media["example"]
    else:
        examples = list((media.get("examples") or {}).values())
        if not examples or "value" not in examples[0]:
            return None
        example = examples[0]["value"]
    if isinstance(example, list) and example:
        return example[:1]
    return example
