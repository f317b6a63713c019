"""schemathesis against the project's own OpenAPI schema (/api/schema), in process:
generated requests for every operation never get a 5xx, and 200/201 bodies match the
schema."""

import pytest
import schemathesis
from django.test import override_settings
from hypothesis import HealthCheck, settings


@pytest.fixture
def api_schema(db):
    """As Django's test client does, keep requests from closing the test's connection."""
    from django.core import signals
    from django.core.wsgi import get_wsgi_application
    from django.db import close_old_connections

    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield schemathesis.openapi.from_wsgi("/api/schema", get_wsgi_application())
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_never_answers_5xx(case):
    with override_settings(CHAT_RATE_LIMITS=False):
        response = case.call(headers={"Host": "localhost"})
    assert response.status_code < 500, (case.method, case.path, case.query, case.body, response.text[:300])
    if response.status_code in (200, 201):
        case.operation.validate_response(response)
