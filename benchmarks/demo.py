"""Run the main job as `fastdistill demo` does (text2sql, DEMO_CONFIG: the defaults, the teacher trained on two torch
threads, student seeds within a budget) and store it.

    python benchmarks/demo.py --json benchmarks/results/demo_cpu2.json                  # from an empty model cache
    python benchmarks/demo.py --cache ~/.cache/fastdistill/models --json /tmp/demo.json  # the teacher cached

Wall time includes training the tokenizer and the quick teacher when the model cache is empty. The rows are the
run's summary: stage counts and every evaluated model's held-out metrics (recomputed from the stored stages by the
evaluation report); `nbs/methods/sparse_kd.ipynb` renders its recorded table from these files.
"""
import argparse, json, os, platform, resource, subprocess, tempfile, time
from pathlib import Path

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cache", default=None, help="model cache (default: a fresh temporary folder, so the teacher is trained)")
    ap.add_argument("--json", required=True)
    a = ap.parse_args()
    cache = Path(a.cache or tempfile.mkdtemp(prefix="fd-demo-models-")).expanduser()
    cold = not (cache.exists() and any(cache.iterdir()))  # nothing cached: the tokenizer and teacher are trained in this run
    os.environ["FASTDISTILL_MODEL_CACHE_DIR"] = str(cache)
    import torch, fastdistill
    from fastdistill.cli import DEMO_CONFIG, load_config
    from fastdistill.methods.sparse_kd import run
    cfg = load_config(DEMO_CONFIG)
    t0 = time.perf_counter()
    s = run(cfg, tempfile.mkdtemp(prefix="fd-demo-store-"))
    wall = time.perf_counter() - t0
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip() or None
    meta = {"command": "fastdistill demo (sparse_kd.run with DEMO_CONFIG)", "demo_config": DEMO_CONFIG, "cold_cache": cold,
            "fastdistill": fastdistill.__version__, "commit": commit, "torch": torch.__version__, "threads": torch.get_num_threads(),
            "machine": f"{platform.machine()}, {os.cpu_count()} cores", "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024}
    keep = ("key", "model", "arm", "seed", "n", "exec_pass", s["metric"], "answer_agreement_with_teacher", "token_agreement", "heldout_kl", "train_s")
    out = {"meta": meta, "wall_s": round(wall, 1), "metric": s["metric"], "kd_data": s["kd_data"], "stages": s["stages"],
           "evaluation": [{k: e[k] for k in keep if k in e} for e in s["evaluation"]],
           "seeds": s.get("seeds"), "seeds_note": s.get("seeds_note"), "students": s.get("students"),
           "comparisons": s.get("comparisons")}
    Path(a.json).write_text(json.dumps(out, indent=1))
    print(json.dumps(out["evaluation"], indent=1), f"\nwall {wall:.1f} s")

if __name__ == "__main__": main()
