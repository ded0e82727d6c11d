"""``impasto serve``'s API against its own OpenAPI schema (Schemathesis): whatever a client
sends that the schema allows or nearly allows, no server error and every answer as the schema
says. Jobs are never run here (no worker): the fuzzing is of the web process."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("fastapi")
schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck, settings  # noqa: E402

from impasto.serve.app import Settings, create_app  # noqa: E402
from impasto.serve.files import DataDir  # noqa: E402


def _app():  # type: ignore[no-untyped-def]
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="impasto-schema-"))
    return create_app(Settings(DataDir(folder), rate_per_second=1000.0, rate_burst=1000))


schema = schemathesis.openapi.from_asgi("/openapi.json", _app())


@schema.parametrize()
@settings(max_examples=25, deadline=None,
          suppress_health_check=list(HealthCheck))
def test_no_server_errors_and_answers_as_the_schema_says(case) -> None:  # type: ignore[no-untyped-def]
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import response_schema_conformance

    case.call_and_validate(checks=[not_a_server_error, response_schema_conformance])
