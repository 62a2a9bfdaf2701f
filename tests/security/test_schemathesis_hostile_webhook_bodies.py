"""The hostile-body schemathesis run of ``test_schemathesis_hostile_bodies``, over the webhook operations.

Those need a real database behind them (SQLite here), so they run on their own app: every webhook
operation that takes a body gets a duplicate-key, a huge-number and a UTF-16 variant of what
schemathesis generates, signed as a merchant signs, and must answer a documented 4xx, never a 5xx.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig

from flosspay.adapters.persistence.engine import create_engine
from flosspay.adapters.persistence.migrate import upgrade
from flosspay.adapters.persistence.unit_of_work import SqlUnitOfWorkFactory
from tests.db_fixtures import TEST_SECRET_BOX
from tests.integration.http.http_api_support import HookWorld
from tests.security.test_schemathesis_hostile_bodies import CHECKS, HostileSignedBody

pytestmark = [pytest.mark.security, pytest.mark.integration]

_DB = Path(tempfile.mkdtemp(prefix="flosspay-hostile-hooks-")) / "api.db"
upgrade(f"sqlite:///{_DB}")
WORLD = HookWorld(uow_factory=SqlUnitOfWorkFactory(create_engine(f"sqlite:///{_DB}"), TEST_SECRET_BOX))
CONFIG = SchemathesisConfig.from_dict(
    {"seed": 20261201, "generation": {"max-examples": 5}, "phases": {"stateful": {"enabled": False}}}
)
schema = schemathesis.openapi.from_asgi("/schema/openapi.json", WORLD.app(), config=CONFIG).include(tag="webhooks")


def test_every_webhook_operation_with_a_body_is_covered() -> None:
    with_body = {
        result.ok().label
        for result in schema.get_all_operations()
        if result.ok().definition.raw.get("requestBody") is not None
    }
    assert {"POST /api/v1/webhook-endpoints", "PATCH /api/v1/webhook-endpoints/{id}"} <= with_body


@pytest.mark.parametrize("kind", ["duplicate-key", "huge-number", "wrong-charset"])
@schema.include(tag="webhooks", method=["POST", "PATCH"]).parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck), max_examples=5)
def test_hostile_webhook_bodies_are_refused_cleanly(case: schemathesis.Case, kind: str) -> None:
    auth = HostileSignedBody(kind, id(case) % 7, WORLD)
    response = case.call(auth=auth)
    case.validate_response(response, checks=CHECKS)
    assert response.status_code < 500
    # the coverage phase also tries other methods and odd ids that route nowhere (405, 404), or headers the signature
    # does not cover (401): only the operation's own method on a body it read is held to 400/415
    if (
        auth.expected
        and response.request.method == case.operation.method.upper()
        and response.status_code not in (401, 404, 405)
    ):
        assert response.status_code in auth.expected, (kind, response.status_code, response.text)
