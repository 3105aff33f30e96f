"""The experiments engine against its budgets; the same as ``coursekit bench``.

Run from the course folder: ``python benchmarks/bench_training.py [--threads N] [--skip-experiments]``.
"""

import sys

from coursekit.course.bench import main

if __name__ == "__main__":
    sys.exit(main())
