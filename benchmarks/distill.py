"""Distillation-loss and offline-KD benchmarks: the divergence, offline-KD-step and stored-top-k figures of
`fastdistill bench` (see nbs/16_bench.ipynb for how each is measured: every case in a fresh process, cold and warm,
repeated, median and range).

    python benchmarks/distill.py [--quick] [--repeats 3] [--json benchmarks/results/distill_cpu2.json]

The full table (these figures plus the teacher client) is `fastdistill bench`.
"""
import sys
from fastdistill.bench import main

if __name__ == "__main__":
    sys.exit(main(["--only", "dense,offline,stored", *sys.argv[1:]]))
