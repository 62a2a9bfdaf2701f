"""Run FlossPay's benchmarks (default: all).

python3 scripts/dev.py bench [intake|e2e|broker|drain|dbpath|ledger|ratelimit] [args...]
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHES = {
    "intake": HERE / "intake.py",
    "e2e": HERE / "e2e.py",
    "broker": HERE / "broker.py",
    "drain": HERE / "worker_drain.py",
    "dbpath": HERE / "worker_db_path.py",
    "ledger": HERE / "ledger.py",
    "ratelimit": HERE / "rate_limit.py",
}


def main(argv: list[str]) -> int:
    names = [argv[0]] if argv and argv[0] in BENCHES else list(BENCHES)
    rest = argv[1:] if argv and argv[0] in BENCHES else argv
    status = 0
    for name in names:
        if BENCHES[name].exists():
            print(f"== {name}", flush=True)
            status |= subprocess.run([sys.executable, str(BENCHES[name]), *rest]).returncode
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
