"""How the explorer copes with a large run (issue 19's evidence), measured in one run.

    python benchmarks/explorer.py [--samples 1000 5000] [--json benchmarks/results/explorer_cpu2.json]

For each size, two arith runs of that many questions (n=2 candidates each: 60 % the gold answer, the rest a wrong
number, 2 % a teacher error; the second run with another seed, so about half the samples change status) go through
every pipeline stage. Then, as a person would meet them: time to first display (`Explorer` reading the six stages +
`ExplorerWidget` listing every sample), a filter change (keep → rejected), a stage change, a text search, a sort
change, picking a sample, and the comparison of the two runs (`RunComparison` + `ComparisonWidget`, a sample's
side-by-side view). Side by side, reading the generate stage the way `ArtifactStore.load` did before this issue (one
🤗 Dataset per shard, then concatenated) against the way it does now (one Dataset over the shards' Arrow tables).
"""
import argparse, json, platform, random, tempfile, time
from pathlib import Path
import datasets, torch
from fastdistill import pipeline as P
from fastdistill.artifacts import ArtifactStore, _shard_path
from fastdistill.explore import ComparisonWidget, Explorer, ExplorerWidget, RunComparison
from fastdistill.tasks import get_task
from fastdistill.teachers import Capabilities, DecodeProfile, Teacher, _candidate


class RuleTeacher(Teacher):
    "Answers from a rule: the gold with probability 0.6, else a wrong number; 2 % of candidates fail."
    name, capabilities = "rule", Capabilities(text=True)
    def __init__(self, gold: dict, seed: int): self.gold, self.seed = gold, seed
    def generate(self, prompts, profile, progress=False):
        out = []
        for p in prompts:
            r = random.Random(f"{self.seed}:{p}")
            out.append([_candidate(error="HTTP 500", finish="error") if r.random() < 0.02 else
                        _candidate(text=self.gold[p] if r.random() < 0.6 else str(r.randint(0, 99)))
                        for _ in range(profile.n)])
        return out


def make_run(store, name, rows, gold, seed):
    rid = store.create_run(name)
    P.canonicalize(store, rid, "arith", rows=rows); P.dedup(store, rid)
    P.generate(store, rid, RuleTeacher(gold, seed), DecodeProfile(n=2, top_logprobs=0))
    P.clean(store, rid, "arith"); P.rule_filter(store, rid, "arith"); P.exec_gate(store, rid, "arith")
    P.judge(store, rid, None); P.select(store, rid, require_gold_match=True)
    return rid


def timed(fn):
    t0 = time.perf_counter(); out = fn(); return out, round(time.perf_counter() - t0, 3)


def old_load(store, rid, stage):
    "The stage read as before: a Dataset per shard (each fingerprinted), concatenated."
    m, d = store.check(rid, stage), store.stage_dir(rid, stage)
    return datasets.concatenate_datasets([datasets.Dataset.from_file(str(_shard_path(d, m, s))) for s in m.shards])


def measure(n: int) -> dict:
    t = get_task("arith")
    rows = t.rows("train")[:n]
    if len(rows) < n: raise SystemExit(f"arith has {len(rows)} train rows; ask for at most that many samples")
    gold = {t.prompt(r): t.target_text(r) for r in rows}
    store = ArtifactStore(tempfile.mkdtemp(prefix="fd-explorer-bench-"))
    (a, b), build_s = timed(lambda: [make_run(store, f"run-{s}", rows, gold, s) for s in (0, 1)])
    m = store.manifest(a, "generate")
    new_rows, new_s = timed(lambda: store.load(a, "generate").to_list())
    old_rows, old_s = timed(lambda: old_load(store, a, "generate").to_list())
    assert new_rows == old_rows, "the two ways of reading a stage disagree"
    ex, explorer_s = timed(lambda: Explorer(a, store))
    w, widget_s = timed(lambda: ExplorerWidget(ex))
    listed = len(w.samples.options)
    _, keep_s = timed(lambda: setattr(w.keep, "value", "rejected"))
    rejected = len(w.samples.options)
    _, stage_s = timed(lambda: setattr(w.stage, "value", "exec_gate"))
    _, text_s = timed(lambda: setattr(w.text, "value", "7"))
    _, sort_s = timed(lambda: setattr(w.sort, "value", "status"))
    w.text.value, w.keep.value = "", "all"
    pick = w.samples.options[len(w.samples.options) // 2][1]
    _, pick_s = timed(lambda: setattr(w.samples, "value", pick))
    cmp, compare_s = timed(lambda: RunComparison(ex, Explorer(b, store)))
    cw, cwidget_s = timed(lambda: ComparisonWidget(cmp))
    _, cpick_s = timed(lambda: setattr(cw.samples, "value", cw.samples.options[0][1]))
    return {"samples": n, "candidates": len(ex.candidates), "shards_generate": len(m.shards),
            "build_two_runs_s": round(build_s, 1),
            "load_generate_old_s": old_s, "load_generate_new_s": new_s, "load_speedup": round(old_s / new_s, 1),
            "explorer_s": explorer_s, "widget_s": widget_s, "first_display_s": round(explorer_s + widget_s, 3),
            "samples_listed": listed, "filter_keep_s": keep_s, "rejected_listed": rejected,
            "filter_stage_s": stage_s, "text_search_s": text_s, "sort_s": sort_s, "pick_sample_s": pick_s,
            "compare_s": compare_s, "compare_widget_s": cwidget_s, "changed": int(cmp.statuses()["changed"].sum()),
            "compare_pick_s": cpick_s}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--samples", type=int, nargs="*", default=[1000, 5000])
    ap.add_argument("--json", type=Path, help="write the results here")
    a = ap.parse_args(argv)
    rows = []
    for n in a.samples:
        rows.append(measure(n))
        print(json.dumps(rows[-1]), flush=True)
    print(f"\n{'samples':>8} {'cands':>6} {'first display':>14} {'filter':>7} {'stage':>6} {'search':>7} "
          f"{'compare':>8} {'load old/new':>13}")
    for r in rows:
        print(f"{r['samples']:>8} {r['candidates']:>6} {r['first_display_s']:>12.2f} s {r['filter_keep_s']:>5.2f} s "
              f"{r['filter_stage_s']:>4.2f} s {r['text_search_s']:>5.2f} s "
              f"{r['compare_s'] + r['compare_widget_s']:>6.2f} s {r['load_speedup']:>12.1f}×")
    if a.json:
        meta = {"torch": torch.__version__, "threads": torch.get_num_threads(),
                "machine": f"{platform.machine()}, {__import__('os').cpu_count()} cores"}
        a.json.write_text(json.dumps({"meta": meta, "rows": rows}, indent=1) + "\n")


if __name__ == "__main__": main()
