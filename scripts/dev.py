#!/usr/bin/env python3
"""FlossPay's developer entry point: sets up a virtualenv on first use, then runs what you ask.

    python3 scripts/dev.py serve      # set up and run FlossPay (embedded: SQLite + in-process worker + sandboxes)
    python3 scripts/dev.py test       # set up and run ruff, mypy and the whole test suite
    python3 scripts/dev.py mutate     # mutation testing of flosspay/domain with mutmut (slow)
    python3 scripts/dev.py bench      # benchmarks (needs PostgreSQL)
    python3 scripts/dev.py setup      # only create/refresh .venv (one line per step)

Only the standard library is used here, so it runs on a fresh machine with Python 3.11+.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = Path(os.environ.get("FLOSSPAY_VENV", ROOT / ".venv"))
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / "python"
# Editable installs: the core with its dev tools, every rail plugin, and the conformance suite.
PACKAGES = [".[dev]", "plugins/upi", "plugins/card", "plugins/wallet", "plugins/netbanking", "conformance"]


def _say(message: str) -> None:
    print(f"[dev] {message}", flush=True)


def _stamp() -> str:
    """Changes whenever a project file that decides what gets installed changes."""
    digest = hashlib.sha256()
    for pkg in PACKAGES:
        path = ROOT / pkg.split("[")[0] / "pyproject.toml"
        if path.exists():
            digest.update(path.read_bytes())
    return digest.hexdigest()


def ensure_venv() -> None:
    if sys.version_info < (3, 11):
        sys.exit(f"FlossPay needs Python 3.11 or newer; this is {sys.version.split()[0]}")
    stamp_file = VENV / ".flosspay-stamp"
    if stamp_file.exists() and stamp_file.read_text() == _stamp() and PY.exists():
        return
    if not PY.exists():
        _say(f"creating virtualenv {VENV}")
        venv.EnvBuilder(with_pip=True, upgrade_deps=False).create(VENV)
    _say("upgrading pip")
    _quiet([str(PY), "-m", "pip", "install", "-q", "--upgrade", "pip"])
    _say("installing FlossPay, its rails and dev tools (first run takes a minute)")
    args = [str(PY), "-m", "pip", "install", "-q", "--no-warn-script-location"]
    for pkg in PACKAGES:
        if (ROOT / pkg.split("[")[0] / "pyproject.toml").exists():
            args += ["-e", pkg]
    _quiet(args)
    stamp_file.write_text(_stamp())
    _say("ready")


def _quiet(cmd: list[str]) -> None:
    """Run pip without its warning walls (setuptools' "Editable installation" boxes); on failure show them."""
    env = dict(os.environ, PYTHONWARNINGS="ignore", PIP_DISABLE_PIP_VERSION_CHECK="1")
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        sys.stderr.write(done.stdout + done.stderr)
        sys.exit(f"[dev] failed: {' '.join(cmd[1:4])} … (exit {done.returncode})")


def _run(*cmd: str) -> int:
    return subprocess.run(list(cmd), cwd=ROOT).returncode


def test(extra: list[str]) -> int:
    _say("ruff")
    if _run(str(BIN / "ruff"), "check", ".") or _run(str(BIN / "ruff"), "format", "--check", "--quiet", "."):
        return 1
    _say("mypy --strict flosspay/domain flosspay/application flosspay/ledger_verify flosspay/railkit")
    if _run(str(BIN / "mypy")):
        return 1
    _say("lint-imports (layer contracts in pyproject.toml)")
    if _run(str(BIN / "lint-imports"), "--no-cache"):
        return 1
    _say("pytest")
    return _run(str(PY), "-m", "pytest", *extra)


def mutate() -> int:
    _say("mutmut run over flosspay/domain (kill rate is printed at the end)")
    _run(str(BIN / "mutmut"), "run", "--max-children", str(os.cpu_count() or 2))
    return _run(str(PY), str(ROOT / "scripts" / "mutation_score.py"))


COMMANDS = ("serve", "test", "mutate", "bench", "setup")


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in COMMANDS:
        if argv:
            print(f"dev.py: unknown command {argv[0]!r} (one of: {', '.join(COMMANDS)})", file=sys.stderr)
        print(__doc__)
        return 2
    ensure_venv()
    command, rest = argv[0], argv[1:]
    if command == "setup":
        return 0
    if command == "serve":
        os.execv(str(BIN / "flosspay"), [str(BIN / "flosspay"), "serve", *rest])
    if command == "test":
        return test(rest)
    if command == "mutate":
        return mutate()
    return _run(str(PY), str(ROOT / "benchmarks" / "run.py"), *rest)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
