"""Run a fuzzing campaign from the command line.

    python tests/fuzz --count 2000 --seed 7 [--save tests/fuzz/regressions] [--workers 2]

Failing mutants are copied to ``--save`` (default: a temporary folder that is
printed). Exit status 1 if any mutant crashed, hung or raised something other
than a DicomError naming the file.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parents[2])]

from fuzz.campaign import load_seeds, run_campaign  # noqa: E402
from fuzz.harness import DEFAULT_TIMEOUT, Runner  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT)
    parser.add_argument("--save", type=Path, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cinemap-fuzz-") as folder:
        workdir = Path(folder)
        seeds = load_seeds(workdir / "seeds")
        save = args.save or Path(tempfile.mkdtemp(prefix="cinemap-fuzz-failures-"))
        started = time.monotonic()
        with Runner(args.workers, args.timeout) as runner:
            report = run_campaign(seeds, args.seed, args.count, workdir, runner, save)
        print("\n".join(report.lines()))
        print(f"{len(seeds)} seeds, {time.monotonic() - started:.1f} s, failing inputs in {save}")
    return 1 if report.failures else 0


if __name__ == "__main__":
    sys.exit(main())
