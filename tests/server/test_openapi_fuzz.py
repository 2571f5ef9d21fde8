"""Issue 13, points 9 and 12: the OpenAPI document is valid, and a bounded schemathesis run
against a real server finds no 500, no undocumented status, no response that breaks its
schema, for valid and for invalid requests (about 10 s)."""
from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from openapi_spec_validator import validate
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]
EXAMPLES = 15
SKIP = {"/ws"}  # a websocket upgrade, not a request/response route


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    from .live import Live

    server = Live(tmp_path_factory.mktemp("openapi") / "home").start()
    yield server
    server.stop()


def test_the_openapi_document_is_valid(live):
    validate(live.get("/openapi.json"))


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_the_server_keeps_to_its_openapi_document(live, mode):
    schema = schemathesis.openapi.from_url(live.url + "/openapi.json")
    failures = {}
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.path in SKIP:
            continue

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=EXAMPLES, deadline=None, database=None,
                  phases=[Phase.explicit, Phase.generate],
                  suppress_health_check=list(HealthCheck))
        def check(case):
            case.call_and_validate(base_url=live.url, checks=CHECKS)

        try:
            check()
        except Unsatisfiable:
            continue  # nothing in this operation can be made invalid
        except BaseException as failure:  # schemathesis raises a group of failures
            if isinstance(failure, (KeyboardInterrupt, SystemExit)):
                raise
            failures[f"{operation.method.upper()} {operation.path}"] = str(failure)[:2000]
    assert not failures, "\n\n".join(f"{k}:\n{v}" for k, v in failures.items())
    assert live.process.poll() is None
