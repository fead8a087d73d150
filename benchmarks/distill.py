"""Distillation-loss benchmarks, measured side by side in one run and printed as one table.

    python benchmarks/distill.py [--json benchmarks/results/distill_cpu2.json]

1. sparse top-k KD vs dense KD: one training step of a Llama student (the zoo's "student" size with a 32k
   vocabulary) on a stored teacher — dense [B, T, V] teacher logits vs top-k ids + logprobs — step time and peak
   memory of the step;
2. offline-teacher KD step time / plain cross-entropy step time, same student, same batch (target ≤ 1.15); the
   batch's first quarter is prompt (masked out of both losses); the chunked KD skips masked rows while PyTorch's
   cross-entropy computes every row, so a row with every position counted is shown too;
3. dense forward-KL peak memory (forward + backward) / the size of one B×T×V float32 logits tensor, chunked
   (target ≤ 1.5) beside the unchunked reference.

Peak memory on the CPU is the process's peak resident set during the measured call above its resident set just
before (Linux: /proc/self/clear_refs resets the peak, /proc/self/status reports it), so it counts everything the
call allocates and nothing it did not. Times are medians over repeated steps after a warm-up.
"""
import argparse, gc, json, statistics, time
from pathlib import Path
import torch
from transformers import LlamaConfig, LlamaForCausalLM
from fastdistill.losses import SparseTeacher, distill_divergence, causal_ce

MiB = 2 ** 20

def _status(key: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"): return int(line.split()[1]) * 1024
    raise RuntimeError(key)

def peak_extra(fn) -> int:
    "Bytes of resident memory `fn()` needed above what was resident before it."
    gc.collect()
    Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
    before = _status("VmRSS")
    fn()
    return _status("VmHWM") - before

def median_time(fn, reps: int = 7, warmup: int = 2) -> float:
    for _ in range(warmup): fn()
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter(); fn(); ts.append(time.perf_counter() - t0)
    return statistics.median(ts)

def interleaved_medians(fns: dict, reps: int = 9, warmup: int = 1) -> dict:
    "Median time of each function, the functions taking turns so that machine noise hits them alike."
    for _ in range(warmup):
        for f in fns.values(): f()
    ts = {n: [] for n in fns}
    for _ in range(reps):
        for n, f in fns.items():
            t0 = time.perf_counter(); f(); ts[n].append(time.perf_counter() - t0)
    return {n: statistics.median(v) for n, v in ts.items()}

def student_model(V: int) -> torch.nn.Module:
    torch.manual_seed(0)
    return LlamaForCausalLM(LlamaConfig(vocab_size=V, hidden_size=128, num_hidden_layers=2, num_attention_heads=4,
                                        num_key_value_heads=4, intermediate_size=384, max_position_embeddings=512))

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--vocab", type=int, default=32000)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--seq", type=int, default=256)
    ap.add_argument("--k", type=int, default=20)
    ap.add_argument("--json", default=None)
    a = ap.parse_args()
    B, T, V, K = a.batch, a.seq, a.vocab, a.k
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(0, V, (B, T), generator=g)
    labels = ids.clone(); labels[:, : T // 4] = -100  # a prompt quarter that does not count
    mask = labels != -100
    teacher_logits = torch.randn(B, T, V, generator=g) * 3
    top = torch.log_softmax(teacher_logits, -1).topk(K, -1)
    sparse = SparseTeacher(top.indices, top.values)
    model = student_model(V)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    rows = []

    def step(loss_fn):
        def run():
            logits = model(input_ids=ids).logits
            loss = loss_fn(logits)
            loss.backward(); opt.step(); opt.zero_grad(set_to_none=True)
        return run
    steps = {
        "CE (labels only)": step(lambda lg: causal_ce(lg, labels)),
        f"KD sparse top-{K} (stored)": step(lambda lg: distill_divergence(lg, sparse, mask=mask, tail="bucket")),
        "KD dense (stored logits)": step(lambda lg: distill_divergence(lg, teacher_logits, mask=mask)),
        f"KD sparse top-{K}, every position counted": step(lambda lg: distill_divergence(lg, sparse, tail="bucket")),
    }
    times = interleaved_medians(steps)
    res = {name: {"step_s": times[name], "peak_mib": peak_extra(fn) / MiB} for name, fn in steps.items()}
    ce, sp, de, _ = (res[n] for n in steps)
    teacher_bytes = {"CE (labels only)": 0, f"KD sparse top-{K} (stored)": sparse.ids.nbytes + sparse.logprobs.nbytes,
                     "KD dense (stored logits)": teacher_logits.nbytes,
                     f"KD sparse top-{K}, every position counted": sparse.ids.nbytes + sparse.logprobs.nbytes}
    for name, r in res.items():
        rows.append({"benchmark": "training step", "case": name, "step_ms": round(r["step_s"] * 1e3, 1),
                     "peak_step_mib": round(r["peak_mib"], 1), "teacher_data_mib": round(teacher_bytes[name] / MiB, 1),
                     "ratio": f"time / CE = {r['step_s'] / ce['step_s']:.3f}"})
    rows.append({"benchmark": "sparse vs dense", "case": f"top-{K} / dense", "step_ms": None, "peak_step_mib": None,
                 "teacher_data_mib": None, "ratio": f"time {sp['step_s'] / de['step_s']:.3f}, step peak {sp['peak_mib'] / de['peak_mib']:.3f}, "
                                                   f"teacher data {teacher_bytes[f'KD sparse top-{K} (stored)'] / teacher_bytes['KD dense (stored logits)']:.4f}"})
    offline_ratio = sp["step_s"] / ce["step_s"]

    # 3. the loss alone: peak of forward + backward over the size of one B×T×V float32 tensor
    del model, opt; gc.collect()
    one = B * T * V * 4
    s_logits = (torch.randn(B, T, V, generator=g)).requires_grad_()
    mem = {}
    for name, chunk in (("chunked (auto: 2^22 logits per chunk)", "auto"), ("unchunked reference", None)):
        def run(chunk=chunk):
            distill_divergence(s_logits, teacher_logits, mask=mask, chunk_size=chunk).backward()
            s_logits.grad = None
        run()
        mem[name] = peak_extra(run)
        rows.append({"benchmark": "dense KL loss memory", "case": name, "step_ms": round(median_time(run, 3, 1) * 1e3, 1),
                     "peak_step_mib": round(mem[name] / MiB, 1), "teacher_data_mib": round(teacher_logits.nbytes / MiB, 1),
                     "ratio": f"peak / one B×T×V fp32 = {mem[name] / one:.2f}"})
    chunk_ratio = mem["chunked (auto: 2^22 logits per chunk)"] / one
    cols = list(rows[0])
    print(f"\ntorch {torch.__version__}, {torch.get_num_threads()} threads; B={B} T={T} V={V} k={K}; one B×T×V fp32 = {one / MiB:.0f} MiB\n")
    print("| " + " | ".join(cols) + " |\n|" + "---|" * len(cols))
    for r in rows: print("| " + " | ".join("" if r[c] is None else str(r[c]) for c in cols) + " |")
    print(f"\noffline KD / CE step time: {offline_ratio:.3f} (target ≤ 1.15) -> {'met' if offline_ratio <= 1.15 else 'NOT met'}")
    print(f"chunked dense KL peak / one logits tensor: {chunk_ratio:.2f} (target ≤ 1.5) -> {'met' if chunk_ratio <= 1.5 else 'NOT met'}")
    if a.json:
        Path(a.json).write_text(json.dumps({"config": {"B": B, "T": T, "V": V, "k": K, "threads": torch.get_num_threads(),
                                                       "torch": torch.__version__}, "rows": rows,
                                            "offline_kd_over_ce": offline_ratio, "chunked_peak_over_logits": chunk_ratio}, indent=1))

if __name__ == "__main__": main()
