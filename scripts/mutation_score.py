#!/usr/bin/env python3
"""Print mutmut's results for flosspay/domain as a kill rate (run after `mutmut run`)."""

from __future__ import annotations

import collections
import subprocess
import sys
from pathlib import Path

BIN = Path(sys.executable).parent


def main() -> int:
    out = subprocess.run([str(BIN / "mutmut"), "results", "--all", "true"], capture_output=True, text=True).stdout
    counts: collections.Counter[str] = collections.Counter()
    per_module: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    for line in out.splitlines():
        name, _, status = line.strip().rpartition(": ")
        if not name:
            continue
        counts[status] += 1
        per_module[".".join(name.split(".")[:3])][status] += 1
    total = sum(counts.values())
    if not total:
        print("no mutants found: run `mutmut run` first")
        return 1
    for module, c in sorted(per_module.items()):
        n = sum(c.values())
        print(f"{module:<40} {c['killed']:>4}/{n:<4} killed ({100 * c['killed'] / n:.1f}%)")
    killed = counts["killed"]
    print(
        f"total: {killed}/{total} mutants killed ({100 * killed / total:.1f}%); "
        + ", ".join(f"{k} {v}" for k, v in sorted(counts.items()) if k != "killed")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
