"""How far the batched trainer could go with PyTorch's own kernels: the digits step as bare kernels.

``coursekit bench`` times batched training of 8 digits nets (depth 20, width 64, batch 128)
against a plain loop over the same models and against the kernel floor: every kernel the
batched step runs, with no autograd engine and no Python around each op
(:mod:`coursekit.course.kernel_floor`, which says how). ``loop / floor`` is the ceiling of the
trainer's speed-up without new kernels; the bench judges the trainer as a share of it. This
script shows the three timings and the time the trainer spends outside the kernels.

Before timing, the hand-written gradient is checked against autograd's for the same step.

    .venv/bin/python benchmarks/kernel_floor.py [--threads 2] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the course's own coursekit

from coursekit.course.bench import BenchConfig, _variants, time_training  # noqa: E402
from coursekit.course.kernel_floor import check_gradient  # noqa: E402
from coursekit.data import load_digits  # noqa: E402
from coursekit.engine.fused import keep_freed_memory  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2, help="threads, as in coursekit bench (default 2)")
    parser.add_argument("--repeats", type=int, default=3, help="timings of each (default 3)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    keep_freed_memory()
    config = BenchConfig(repeats=args.repeats)
    difference = check_gradient(_variants(config)[:2], load_digits(), config.batch_size)
    print(f"hand-written gradient against autograd's: largest difference {difference:.1e}")
    timings = time_training(config, args.threads)
    loop, batched, floor = min(timings.loop), min(timings.batched), min(timings.kernels)
    print(
        f"{config.variants} variants, depth {config.depth}, width {config.width}, batch {config.batch_size}, "
        f"{config.steps} steps, {args.threads} thread(s); best of {config.repeats} (median)"
    )
    rows = {"loop": timings.loop, "batched trainer": timings.batched, "kernels alone": timings.kernels}
    for what, times in rows.items():
        print(f"  {what:<16} {min(times):.3f} s ({statistics.median(times):.3f})")
    print(
        f"speed-up over the loop: batched trainer {loop / batched:.2f}x, kernels alone {loop / floor:.2f}x "
        f"(the ceiling without new kernels): {floor / batched:.0%} of it; the trainer spends "
        f"{1 - floor / batched:.0%} of its time outside the kernels"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
