"""Credentials for tests: reading the administrator's, signing requests with them (real
SigV4, through requests-aws4auth), also through Flask's test client."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
from flask.testing import EnvironBuilder, FlaskClient
from requests_aws4auth import AWS4Auth

from shipyard_sdk import Client

__all__ = ["Credentials", "SigningClient"]


@dataclass(frozen=True)
class Credentials:
    access_key_id: str
    secret_access_key: str
    region: str = "us-east-1"
    service: str = "execute-api"

    @classmethod
    def read(cls, path: Path) -> Credentials:
        data = json.loads(path.read_text())
        return cls.from_dict(data)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Credentials:
        return cls(data["access_key_id"], data["secret_access_key"],
                   data.get("region", "us-east-1"), data.get("service", "execute-api"))

    def aws4auth(self) -> AWS4Auth:
        return AWS4Auth(self.access_key_id, self.secret_access_key, self.region, self.service)

    def client(self, url: str) -> Client:
        return Client(url, access_key=self.access_key_id, secret_key=self.secret_access_key,
                      region=self.region, service=self.service)

    def session(self) -> requests.Session:
        session = requests.Session()
        session.auth = self.aws4auth()
        return session


class SigningClient(FlaskClient):
    """Flask's test client, signing each request with ``credentials`` (when given) the
    way a real client does: the same body bytes, the Host header and the query."""

    def __init__(self, *args: Any, credentials: Credentials | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.credentials = credentials

    def open(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        if self.credentials is None or (args and not isinstance(args[0], str)):
            return super().open(*args, **kwargs)
        kwargs.pop("buffered", None)
        follow = kwargs.pop("follow_redirects", False)
        builder = EnvironBuilder(self.application, *args, **kwargs)
        try:
            environ = builder.get_environ()
        finally:
            builder.close()
        body = environ["wsgi.input"].read()
        query = environ.get("QUERY_STRING", "")
        url = f"http://{environ['HTTP_HOST']}{environ['RAW_URI']}"
        headers = {k: v for k, v in builder.headers.items() if k.lower() != "content-length"}
        if environ.get("CONTENT_TYPE"):
            headers["Content-Type"] = environ["CONTENT_TYPE"]
        prepared = requests.Request(environ["REQUEST_METHOD"], url, headers=headers,
                                    data=body).prepare()
        self.credentials.aws4auth()(prepared)
        signed = {k: v for k, v in prepared.headers.items()
                  if k.lower().startswith(("authorization", "x-amz-"))}
        path = (args[0] if args else kwargs.get("path", "/")).split("?", 1)[0]
        return super().open(
            f"{path}?{query}" if query else path, method=environ["REQUEST_METHOD"],
            data=body, headers={**headers, **signed},
            follow_redirects=follow,
        )
