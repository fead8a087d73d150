"""Train every zoo teacher from an empty cache and print the model-zoo table.

    python benchmarks/zoo.py --profile quick            # all five tasks, quick budgets
    python benchmarks/zoo.py --profile full --tasks arith text2sql
    python benchmarks/zoo.py --profile quick --tasks topics --json F --update   # replace topics' row in F

With --update, rows of the tasks run replace those tasks' rows in an existing JSON file and carry their own
commit, so a file can mix rows measured at different commits without hiding which is which.

Times are wall-clock on this machine with torch's default threads (2 on the project's machines). The target for
the quick profile is at most 90 s of training per teacher; the table prints the ratio to that target.
"""
import argparse, json, os, sys, tempfile, time
from pathlib import Path

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", default="quick", choices=["quick", "full"])
    ap.add_argument("--tasks", nargs="*", default=["digits", "topics", "arith", "text2sql", "corpus"])
    ap.add_argument("--cache", default=None, help="model cache to fill (default: a fresh temporary folder)")
    ap.add_argument("--json", default=None, help="also write the rows as JSON here")
    ap.add_argument("--update", action="store_true", help="replace only the rows of --tasks in an existing --json")
    a = ap.parse_args()
    os.environ["FASTDISTILL_MODEL_CACHE_DIR"] = a.cache or tempfile.mkdtemp(prefix="fd-zoo-bench-")
    import torch
    from fastdistill.zoo import get_teacher, zoo_table
    rows = []
    for t in a.tasks:
        t0 = time.perf_counter()
        z = get_teacher(t, profile=a.profile, progress=sys.stderr.isatty())
        row = zoo_table([z])[0]
        row["total_s"] = round(time.perf_counter() - t0, 1)
        row["train_vs_90s"] = round(row["train_s"] / 90, 2)
        rows.append(row)
        print(json.dumps(row), flush=True)
    cols = list(rows[0])
    print(f"\ntorch {torch.__version__}, {torch.get_num_threads()} threads, profile {a.profile}\n")
    print("| " + " | ".join(cols) + " |\n|" + "---|" * len(cols))
    for r in rows: print("| " + " | ".join(str(r[c]) for c in cols) + " |")
    if a.json:
        import platform, subprocess
        import fastdistill
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip() or None
        meta = {"profile": a.profile, "fastdistill": fastdistill.__version__, "commit": commit, "torch": torch.__version__,
                "threads": torch.get_num_threads(), "device": "cuda" if torch.cuda.is_available() else "cpu",
                "machine": f"{platform.machine()}, {os.cpu_count()} cores", "trainer": "Distiller (sft_term)"}
        if a.update:
            old = json.loads(Path(a.json).read_text())
            old_rows = old["rows"] if isinstance(old, dict) else old
            for r in rows: r["commit"] = commit
            done = {r["task"] for r in rows}
            merged = [next(r for r in rows if r["task"] == o["task"]) if o["task"] in done else o for o in old_rows]
            merged += [r for r in rows if r["task"] not in {o["task"] for o in old_rows}]
            if isinstance(old, dict): old["rows"] = merged
            else: old = merged
            Path(a.json).write_text(json.dumps(old, indent=1))
        else: Path(a.json).write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))

if __name__ == "__main__": main()
