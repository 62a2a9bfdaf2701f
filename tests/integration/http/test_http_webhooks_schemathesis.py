"""Property-based conformance of the webhook routes (SQLite behind them): no 5xx, only documented answers."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
import schemathesis
from http_api_support import HookWorld
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig
from test_http_schemathesis import CHECKS, MerchantSignature

from flosspay.adapters.persistence.engine import create_engine
from flosspay.adapters.persistence.migrate import upgrade
from flosspay.adapters.persistence.unit_of_work import SqlUnitOfWorkFactory
from tests.db_fixtures import TEST_SECRET_BOX

pytestmark = pytest.mark.integration

_DB = Path(tempfile.mkdtemp(prefix="flosspay-hooks-st-")) / "api.db"
upgrade(f"sqlite:///{_DB}")
WORLD = HookWorld(uow_factory=SqlUnitOfWorkFactory(create_engine(f"sqlite:///{_DB}"), TEST_SECRET_BOX))
CONFIG = SchemathesisConfig.from_dict(
    {"seed": 20260101, "generation": {"max-examples": 8}, "phases": {"stateful": {"enabled": False}}}
)
schema = schemathesis.openapi.from_asgi("/schema/openapi.json", WORLD.app(), config=CONFIG).include(tag="webhooks")


@schema.parametrize()
@settings(deadline=None, suppress_health_check=list(HealthCheck))
def test_webhook_routes_conform_to_the_document(case: schemathesis.Case) -> None:
    response = case.call(auth=MerchantSignature())
    case.validate_response(response, checks=CHECKS)
