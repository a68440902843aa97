"""The control plane's own document, fuzzed: schemathesis generates requests from
``/api/v1/openapi.json`` against a real ``shipyard up`` and checks that no answer is a
5xx or breaks the document (status, content type, headers, body schema).

The operations that start builds (deploying a service or a model) are left out: a
generated request that happens to name a real service would build environments for
minutes; their answers are checked by the deploy tests instead.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.generation import GenerationMode

from tests.conftest import RunningShipyard, start_shipyard

pytestmark = pytest.mark.slow

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
EXAMPLES = 8
"""Per operation and generation mode: enough to find a 5xx, few enough to stay fast."""


@pytest.fixture(scope="module")
def fuzzed_shipyard(tmp_path_factory: pytest.TempPathFactory, module_database_url: str
                    ) -> Iterator[RunningShipyard]:
    running = start_shipyard(tmp_path_factory.mktemp("fuzzed") / "home",
                             database_url=module_database_url)
    yield running
    running.stop()


@pytest.fixture
def api_schema(fuzzed_shipyard: RunningShipyard) -> schemathesis.BaseSchema:
    schema = schemathesis.openapi.from_url(fuzzed_shipyard.url + "/api/v1/openapi.json")
    schema.config.generation.update(
        modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE], max_examples=EXAMPLES
    )
    return schema.exclude(path_regex=r"/deploy$")


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(
    max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
    suppress_health_check=list(HealthCheck),
)
def test_the_api_keeps_its_document(case: schemathesis.Case) -> None:
    case.call_and_validate(checks=CHECKS, timeout=30)
