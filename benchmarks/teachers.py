"""Teacher throughput, measured side by side in one run.

    python benchmarks/teachers.py [--json benchmarks/results/teachers_cpu2.json]

1. local Hugging Face teacher (the quick text2sql zoo teacher): batched generation at batch 32 vs a
   one-prompt-at-a-time loop over the same 64 prompts, in generated tokens per second (target ≥ 5×);
2. OpenAI-compatible teacher against a local server (`serve_teacher`, which runs one request at a time) behind
   `FaultProxy` adding a fixed latency per request, at concurrency 1, 4 and 16: requests per second and the
   speed-up over concurrency 1 (near-linear until the server, not the latency, is the limit).
"""
import argparse, json, statistics, time
from pathlib import Path
import torch
from fastdistill.tasks import get_task
from fastdistill.teachers import DecodeProfile, HFTeacher, OpenAITeacher
from fastdistill.testing import FaultProxy, serve_teacher
from fastdistill.zoo import zoo_teacher

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--prompts", type=int, default=64)
    ap.add_argument("--latency", type=float, default=0.5, help="seconds the proxy adds to every request")
    ap.add_argument("--json", default=None)
    a = ap.parse_args()
    task = get_task("text2sql")
    prompts = [task.prompt(r) for r in task.rows("train")[: a.prompts]]
    local = zoo_teacher("text2sql", "quick")
    prof = DecodeProfile(max_tokens=48, top_logprobs=5)
    rows = []
    local.generate(prompts[:4], prof)  # warm-up
    res, times = {}, {"batched (32)": [], "one at a time": []}
    for _ in range(3):  # the two cases take turns; medians of three
        for name, bs in (("batched (32)", 32), ("one at a time", 1)):
            local.batch_size = bs
            t0 = time.perf_counter(); out = local.generate(prompts, prof); times[name].append(time.perf_counter() - t0)
    toks = sum(len(c[0]["token_ids"]) for c in out)
    for name, ts in times.items():
        dt = statistics.median(ts)
        res[name] = toks / dt
        rows.append({"benchmark": "local HF generation", "case": name, "seconds": round(dt, 2), "tokens": toks, "tokens_per_s": round(toks / dt, 1)})
    batch_ratio = res["batched (32)"] / res["one at a time"]
    local.batch_size = 32
    n_req = 32
    rps = {}
    with serve_teacher(local) as srv, FaultProxy(srv.url.removesuffix("/v1"), latency=a.latency) as proxy:
        for c in (1, 4, 16):
            t = OpenAITeacher(proxy.url, "teacher", concurrency=c, timeout=60)
            t.generate(prompts[:2], prof)
            t0 = time.perf_counter(); out = t.generate(prompts[:n_req], prof); dt = time.perf_counter() - t0
            assert all(o[0]["error"] is None for o in out)
            rps[c] = n_req / dt
            rows.append({"benchmark": f"OpenAI-compatible, +{a.latency}s latency", "case": f"concurrency {c}", "seconds": round(dt, 2),
                         "tokens": sum(len(o[0]["token_ids"]) for o in out), "tokens_per_s": round(sum(len(o[0]["token_ids"]) for o in out) / dt, 1)})
    print(f"\ntorch {torch.__version__}, {torch.get_num_threads()} threads; {len(prompts)} prompts, max 48 new tokens, top-5 logprobs\n")
    cols = list(rows[0])
    print("| " + " | ".join(cols) + " |\n|" + "---|" * len(cols))
    for r in rows: print("| " + " | ".join(str(r[c]) for c in cols) + " |")
    print(f"\nbatched / one-at-a-time tokens/s: {batch_ratio:.1f}× (target ≥ 5×) -> {'met' if batch_ratio >= 5 else 'NOT met'}")
    print("OpenAI-compatible speed-up over concurrency 1: " + ", ".join(f"c={c}: {rps[c] / rps[1]:.2f}× (ideal {c}×)" for c in rps))
    if a.json:
        Path(a.json).write_text(json.dumps({"rows": rows, "batched_over_single": batch_ratio,
                                            "speedup": {str(c): rps[c] / rps[1] for c in rps}, "latency_s": a.latency}, indent=1))

if __name__ == "__main__": main()
