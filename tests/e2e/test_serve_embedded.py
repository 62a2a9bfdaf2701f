"""The README's first command: `python3 scripts/dev.py serve` runs FlossPay and prints a working curl."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.processes import Client, Proc, base_env, free_port, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]


def test_serve_runs_everything_and_its_printed_curl_pays(tmp_path: Path) -> None:
    port = free_port()
    env = base_env(FLOSSPAY_VENV=str(Path(sys.executable).parent.parent))
    args = [sys.executable, str(ROOT / "scripts" / "dev.py"), "serve", "--port", str(port)]
    proc = Proc("serve", args, env, tmp_path, cwd=tmp_path)
    try:
        curl = wait_for(lambda: re.search(r"^\s+(curl -sS -X POST .*)$", proc.output(), re.M), 60, "the banner")
        accepted = subprocess.run(
            ["bash", "-c", curl.group(1)], capture_output=True, text=True, timeout=20, cwd=tmp_path
        )
        payment = json.loads(accepted.stdout)
        assert payment["status"] == "QUEUED" and payment["amount"] == "28.00", accepted
        creds = json.loads((tmp_path / ".flosspay" / "demo-client.json").read_text())
        client = Client(f"http://127.0.0.1:{port}", creds["clientId"], creds["secret"])
        assert client.wait_final(payment["id"])["status"] == "COMPLETED"
        assert "Traceback" not in proc.output()
    except BaseException:
        print(proc.output())
        raise
    finally:
        code = proc.stop()
    assert code == 0, proc.output()
