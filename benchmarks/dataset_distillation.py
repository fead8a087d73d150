"""Time and memory of the dataset-distillation methods at IPC 10, and how they grow with the unroll length (issue 17).

    python benchmarks/dataset_distillation.py [--outer-steps 60] [--json benchmarks/results/dataset_distillation_cpu2.json]

Measured side by side in one run, each case in a forked child (so each peak RSS is its own): one distillation per
method at 10 images per class on the digits MLP — DD with K = 10 unrolled steps (full backpropagation, and truncated to
the last 5), MTT and the generative prior with N = 10 synthetic steps — reporting seconds per outer step, the bytes
autograd holds for the backward pass when the forward returns (`graph_bytes`: the part that grows with the unroll)
and the child's peak resident memory over a child that only forks. Then DD and MTT at K (or N) = 5, 10, 20, 40, with
the ratio of each to K = 5.
"""
import argparse, json, os, platform, tempfile, time
import torch
from fastdistill.artifacts import ArtifactStore
from fastdistill.synthetic import (SyntheticSet, digits_data, flat, graph_bytes, init_params, load_trajectories,
                                   record_experts)
from fastdistill.methods.dataset_distillation import UnrolledLearner, distill_dd
from fastdistill.methods.mtt import TrajectoryMatcher, distill_mtt
from fastdistill.methods.generative_prior import LatentSet
from fastdistill.zoo import get_generator


def case(kind, steps, keep, outer, data, traj, gen):
    "(seconds per outer step, graph bytes of one forward) for one method at IPC 10."
    if kind == "DD":
        graph = graph_bytes(lambda: UnrolledLearner(SyntheticSet.from_noise(data.y, 10), steps=steps, keep_graph=keep)(data.X[:256]))[1]
        t0 = time.perf_counter(); distill_dd(data, 10, steps=steps, outer_steps=outer, keep_graph=keep)
    else:
        syn = (lambda: SyntheticSet.from_real(data.X, data.y, 10)) if kind == "MTT" else (lambda: LatentSet.from_real(gen, data.X, data.y, 10))
        start = flat(traj[0][2])[None]
        graph = graph_bytes(lambda: TrajectoryMatcher(syn(), syn_steps=steps)(start))[1]
        t0 = time.perf_counter(); distill_mtt(traj, data, 10, syn_steps=steps, outer_steps=outer, syn=syn())
    return (time.perf_counter() - t0) / outer, graph


def in_child(fn):
    "Run fn in a forked child: (its result, the child's peak RSS in MB)."
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try: os.write(w, json.dumps(fn()).encode())
        finally: os._exit(0)
    os.close(w)
    out = b""
    while chunk := os.read(r, 65536): out += chunk
    _, _, usage = os.wait4(pid, 0)
    return (json.loads(out) if out else None), usage.ru_maxrss / 1024


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--outer-steps", type=int, default=60)
    ap.add_argument("--json", default=None)
    a = ap.parse_args(argv)
    data, store = digits_data(), ArtifactStore(tempfile.mkdtemp(prefix="fd-bench-dd-"))
    traj = load_trajectories(store, record_experts(store, "student", seeds=(0,), epochs=12))
    gen = get_generator("quick", progress=False).model
    _, base_mb = in_child(lambda: 0)
    rows = []
    methods = [("DD", 10, None), ("DD", 10, 5), ("MTT", 10, None), ("generative prior", 10, None)]
    growth = [(k, s, None) for k in ("DD", "MTT") for s in (5, 10, 20, 40)]
    for group, (kind, steps, keep) in [("per method", c) for c in methods] + [("growth", c) for c in growth]:
        (sec, graph), mb = in_child(lambda: case(kind, steps, keep, a.outer_steps, data, traj, gen))
        rows.append({"method": kind, "unrolled_steps": steps, "keep_graph": keep or steps, "group": group,
                     "s_per_outer_step": round(sec, 4),
                     "graph_MB": round(graph / 2**20, 3), "peak_rss_over_fork_MB": round(mb - base_mb, 1)})
        print(rows[-1], flush=True)
    for r in rows:
        if r["group"] == "growth":
            b = next(x for x in rows if x["group"] == "growth" and x["method"] == r["method"] and x["unrolled_steps"] == 5)
            r["time_vs_5"], r["graph_vs_5"] = round(r["s_per_outer_step"] / b["s_per_outer_step"], 2), round(r["graph_MB"] / b["graph_MB"], 2)
    doc = {"rows": rows, "outer_steps": a.outer_steps, "threads": torch.get_num_threads(), "torch": torch.__version__,
           "cpu": platform.processor() or platform.machine(), "base_rss_MB": round(base_mb, 1)}
    if a.json:
        with open(a.json, "w") as f: json.dump(doc, f, indent=1); f.write("\n")
    return doc


if __name__ == "__main__":
    main()
