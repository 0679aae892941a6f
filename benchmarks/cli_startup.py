"""How long `imgrec --help` takes (lazy imports keep torch out of it). Target: < 0.5 s.

    python benchmarks/cli_startup.py [--runs 10]

Writes benchmarks/results/cli_startup.json (median and best of N runs, after one warm-up).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import write_result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    imgrec = str(Path(sys.executable).with_name("imgrec"))
    subprocess.run([imgrec, "--help"], check=True, capture_output=True)  # warm the file cache
    times = []
    for _ in range(args.runs):
        started = time.perf_counter()
        subprocess.run([imgrec, "--help"], check=True, capture_output=True)
        times.append(time.perf_counter() - started)
    probe = subprocess.run(
        [sys.executable, "-c", "import sys, imgrec.cli; print('torch' in sys.modules)"],
        check=True,
        capture_output=True,
        text=True,
    )
    result = {
        "runs": args.runs,
        "median_s": round(statistics.median(times), 3),
        "best_s": round(min(times), 3),
        "worst_s": round(max(times), 3),
        "torch_imported_by_cli": probe.stdout.strip() == "True",
        "target_s": 0.5,
        "met": statistics.median(times) < 0.5,
    }
    write_result("cli_startup", result)
    print(result)


if __name__ == "__main__":
    main()
