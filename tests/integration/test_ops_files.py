"""ops/: the compose file, Prometheus config and Grafana dashboard agree with each other and with /metrics.

There is no Docker engine on the build machines: the compose file is checked structurally here,
and by ``docker-compose config`` when that client is installed (required in CI).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from litestar.testing import TestClient
from prometheus_client.parser import text_string_to_metric_families

from flosspay.adapters.config import load_settings
from flosspay.adapters.container import Container
from flosspay.adapters.http.app import create_app

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
OPS = ROOT / "ops"
DASHBOARD = OPS / "grafana" / "flosspay-dashboard.json"


def compose() -> dict:  # type: ignore[type-arg]
    return yaml.safe_load((OPS / "docker-compose.yml").read_text())


def dashboard_metric_names() -> set[str]:
    document = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for p in document["panels"] for t in p["targets"]]
    return {name for expr in exprs for name in re.findall(r"\b[a-zA-Z_:][a-zA-Z0-9_:]*(?=[{\[\s)])", expr)} - {
        "sum",
        "by",
        "rate",
        "increase",
        "max",
        "histogram_quantile",
        "le",
        "route",
        "status",
        "rail",
        "outcome",
        "code",
    }


def exposed_names(text: str) -> set[str]:
    """Every series name an exposition declares: family names with their type's suffixes, and samples."""
    suffixes = {"counter": ("_total", "_created"), "histogram": ("_bucket", "_count", "_sum", "_created")}
    names = set()
    for family in text_string_to_metric_families(text):
        names.add(family.name)
        names.update(family.name + s for s in suffixes.get(family.type, ()))
        names.update(sample.name for sample in family.samples)
    return names


def test_the_compose_file_runs_the_whole_topology() -> None:
    services = compose()["services"]
    assert {"postgres", "redis", "migrate", "sandbox", "api", "worker", "prometheus", "grafana"} <= services.keys()
    assert (ROOT / services["migrate"]["build"]["dockerfile"]).exists()
    for name in ("migrate", "sandbox", "api", "worker"):
        assert services[name]["image"] == services["migrate"]["image"], name
    env = services["api"]["environment"]
    assert (
        env["FLOSSPAY_DATABASE_URL"].startswith("postgresql+psycopg://")
        and "@postgres:" in env["FLOSSPAY_DATABASE_URL"]
    )
    assert env["FLOSSPAY_REDIS_URL"].startswith("redis://redis:")
    sandbox_port = int(services["sandbox"]["command"][services["sandbox"]["command"].index("--port") + 1])
    assert env["FLOSSPAY_CARD_PSP_URL"] == f"http://sandbox:{sandbox_port}"  # rails in name order: card, upi, wallet
    assert env["FLOSSPAY_UPI_PSP_URL"] == f"http://sandbox:{sandbox_port + 1}"
    assert env["FLOSSPAY_WALLET_PSP_URL"] == f"http://sandbox:{sandbox_port + 2}"
    assert services["worker"]["environment"] == env
    for service in services.values():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith("."):
                assert (OPS / source).exists(), volume


def test_prometheus_scrapes_the_api_and_the_workers_where_they_listen() -> None:
    config = yaml.safe_load((OPS / "prometheus.yml").read_text())
    targets = {job["job_name"]: job["static_configs"][0]["targets"] for job in config["scrape_configs"]}
    services = compose()["services"]
    api_port = services["api"]["command"][services["api"]["command"].index("--port") + 1]
    worker_port = services["worker"]["command"][services["worker"]["command"].index("--metrics-port") + 1]
    assert targets == {"flosspay-api": [f"api:{api_port}"], "flosspay-worker": [f"worker:{worker_port}"]}


def test_docker_compose_config_accepts_the_file() -> None:
    binary = shutil.which("docker-compose")
    if binary is None:
        if os.environ.get("CI") or os.environ.get("FLOSSPAY_REQUIRE_SERVICES") == "1":
            pytest.fail("docker-compose is required here (apt-get install docker-compose)")
        pytest.skip("docker-compose is not installed (apt-get install docker-compose)")
    env = dict(os.environ, POSTGRES_PASSWORD="x", FLOSSPAY_SECRET_KEY="y")
    done = subprocess.run(
        [binary, "-f", str(OPS / "docker-compose.yml"), "config", "-q"], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    unset = {k: v for k, v in env.items() if k not in ("POSTGRES_PASSWORD", "FLOSSPAY_SECRET_KEY")}
    refused = subprocess.run(
        [binary, "-f", str(OPS / "docker-compose.yml"), "config", "-q"], env=unset, capture_output=True, text=True
    )
    assert refused.returncode != 0 and "POSTGRES_PASSWORD" in refused.stderr  # no default password


def test_the_dashboard_is_well_formed_grafana_json() -> None:
    document = json.loads(DASHBOARD.read_text())
    assert document["uid"] and document["title"] and document["panels"]
    ids = [panel["id"] for panel in document["panels"]]
    assert len(ids) == len(set(ids))
    for panel in document["panels"]:
        assert panel["type"] and panel["title"] and panel["gridPos"]["w"] > 0 and panel["targets"], panel
        for target in panel["targets"]:
            expr = target["expr"]
            assert expr.count("(") == expr.count(")") and expr.count("[") == expr.count("]"), expr
            assert expr.count("{") == expr.count("}"), expr
    provisioned = yaml.safe_load((OPS / "grafana" / "provisioning" / "dashboards" / "flosspay.yml").read_text())
    assert provisioned["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards"


def test_the_dashboard_names_only_metrics_that_metrics_exposes(tmp_path: Path) -> None:
    env = {"FLOSSPAY_DATA_DIR": str(tmp_path), "FLOSSPAY_RAILS": "upi", "FLOSSPAY_UPI_PSP_URL": "http://127.0.0.1:9"}
    container = Container(settings=load_settings(env))
    with TestClient(create_app(container.api_services())) as http:
        text = http.get("/metrics").text
    samples = {s.name for family in text_string_to_metric_families(text) for s in family.samples}
    # Labelled series exist from the start, not only their HELP line: each running rail's breaker
    # state, every webhook outcome; and the unlabelled rejection counter and delivery histogram.
    assert {
        "flosspay_breaker_state",
        "flosspay_rate_limit_rejections_total",
        "flosspay_webhook_deliveries_total",
        "flosspay_webhook_delivery_seconds_bucket",
    } <= samples
    wanted = dashboard_metric_names()
    assert wanted and all(name.startswith("flosspay_") for name in wanted), wanted
    from flosspay.adapters.metrics import DATABASE_GAUGES

    missing = wanted - exposed_names(text) - set(DATABASE_GAUGES)  # the database gauges: checked in the e2e test
    assert missing == set()
