"""Hinton KD's digits table at the full profile's budget, with its controls: does KD beat teacher-argmax pseudo-labels?

    python benchmarks/hinton_controls.py --json benchmarks/results/methods/hinton_kd-controls-full.json

Two settings, the same arms, seeds and steps as `nbs/methods/hinton_kd.ipynb`'s full profile (1,000 steps, 128-unit
student, α = 0.9, the zoo's quick digits teacher): the transfer set is every training image (10 % labelled), or only
the labelled 10 % (the small-transfer-set setting, where the paper saw soft targets act as a regulariser). Every
per-seed result is stored; the notebook renders its table from this file.
"""
import argparse, json, os, platform, subprocess, time
from pathlib import Path

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--json", required=True)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--steps", type=int, default=1000)
    a = ap.parse_args()
    import torch, fastdistill
    from fastdistill.methods.hinton import digits_transfer, run_digits
    from fastdistill.zoo import get_teacher
    kd = [f"KD T={t}" for t in (1, 2, 4, 8)]
    arms = {"all": ["hard", "argmax", *kd], "labelled": ["hard", "argmax", *kd]}
    teacher, data = get_teacher("digits", profile="quick", progress=False).model, digits_transfer()
    rows, t0 = [], time.perf_counter()
    for transfer, methods in arms.items():
        for s in a.seeds:
            for m in methods:
                rows.append(run_digits(m, s, data, teacher, a.steps, transfer=transfer))
                print(json.dumps(rows[-1]), flush=True)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    meta = {"command": "python benchmarks/hinton_controls.py", "seeds": a.seeds, "steps": a.steps, "arms": arms,
            "student_hidden": [128], "alpha": 0.9, "lr": 3e-3, "labelled_every": 10, "teacher": "zoo digits quick",
            "fastdistill": fastdistill.__version__, "commit": commit or None, "torch": torch.__version__,
            "threads": torch.get_num_threads(), "machine": f"{platform.machine()}, {os.cpu_count()} cores",
            "device": "cpu", "wall_s": round(time.perf_counter() - t0, 1)}
    Path(a.json).write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))

if __name__ == "__main__": main()
