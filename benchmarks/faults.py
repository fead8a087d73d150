"""Reliability under faults, measured in one run (issue 14's evidence).

    python benchmarks/faults.py [--json benchmarks/results/faults_cpu2.json]

1. SQL worker: each of `testing.SQL_BOMBS` through `execute_sql` (deadline 1 s): wall time, outcome, and the
   worker's peak resident memory; the database file's hash before and after. Side by side, the same queries in the
   old in-process executor style (SQLite's progress handler only, no worker, no length limit) for the ones a
   deadline alone cannot stop, run in a child process capped at 60 s so the benchmark stays bounded.
2. Teacher faults: the quick text2sql zoo teacher behind `serve_teacher` and `FaultProxy` at 40 % faults (transport
   failures plus every malformed reply), 60 prompts × n=2 through the pipeline's generate stage; then a rerun with
   the proxy healthy and `retry_errors="all"`. Counts: prompts, rows, errored rows, runs aborted, rows lost or
   duplicated after the rerun, requests made by the rerun.
"""
import argparse, hashlib, json, os, subprocess, sys, tempfile, time
from pathlib import Path
from fastdistill import pipeline as P
from fastdistill.artifacts import ArtifactStore
from fastdistill.tasks import SqlLimits, execute_sql, get_task, sql_sandbox
from fastdistill.teachers import DecodeProfile, OpenAITeacher
from fastdistill.testing import MALFORMED, SQL_BOMBS, FaultProxy, serve_teacher
from fastdistill.zoo import zoo_teacher

OLD_STYLE = """
import sqlite3, sys, time
db, sql, timeout = sys.argv[1], sys.argv[2], 1.0
con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
t0 = time.monotonic()
con.set_progress_handler(lambda: 1 if time.monotonic() - t0 > timeout else 0, 1000)
try: rows = con.execute(sql).fetchmany(10001); out = f"ok ({len(rows)} rows)"
except Exception as e: out = f"{type(e).__name__}: {str(e)[:40]}"
hwm = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:"))
print(out, round(time.monotonic() - t0, 2), hwm // 1024)
"""

def sql_part(old_cap_s: float) -> list:
    task = get_task("text2sql"); db = task.db_path("concert")
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    rows, box = [], sql_sandbox()
    for q in SQL_BOMBS:
        t0 = time.monotonic(); r = execute_sql(db, q, timeout=1.0); wall = time.monotonic() - t0
        rows.append({"query": q[:70], "worker_outcome": r.error or f"ok ({len(r.rows)} rows)", "worker_s": round(wall, 2)})
    for row, q in zip(rows, SQL_BOMBS):
        if old_cap_s <= 0: break
        try:
            p = subprocess.run([sys.executable, "-c", OLD_STYLE, str(db), q], capture_output=True, text=True,
                               timeout=old_cap_s)
            out, secs, mb = p.stdout.rsplit(" ", 2) if p.stdout.strip() else (p.stderr[-40:], "?", "?")
            row.update(old_outcome=out.strip(), old_s=float(secs) if secs != "?" else None, old_peak_mb=mb.strip())
        except subprocess.TimeoutExpired: row.update(old_outcome=f"still running at {old_cap_s:.0f} s (killed)",
                                                     old_s=None, old_peak_mb="?")
    after = hashlib.sha256(db.read_bytes()).hexdigest()
    print(f"SQL worker: {len(SQL_BOMBS)} bombs, max wall {max(r['worker_s'] for r in rows):.2f} s (deadline 1.0 s), "
          f"worker peak RSS {box.peak_rss_mb:.0f} MB (cap {SqlLimits().memory_mb} MB), kills {box.kills}, "
          f"database unchanged: {before == after}")
    for r in rows: print("  ", json.dumps(r))
    return rows + [{"summary": "sql", "peak_rss_mb": round(box.peak_rss_mb, 1), "cap_mb": SqlLimits().memory_mb,
                    "db_unchanged": before == after, "kills": box.kills}]

def teacher_part(n_prompts: int) -> dict:
    local, task = zoo_teacher("text2sql", "quick"), get_task("text2sql")
    rows = task.rows("train")[:n_prompts]
    store = ArtifactStore(tempfile.mkdtemp(prefix="fd-faults-")); run = store.create_run("faults")
    prof = DecodeProfile(n=2, temperature=0.8, max_tokens=24, top_logprobs=3)
    faults = ["429", "500", "timeout", "bad_json", "empty_choices", "drop", *MALFORMED]
    aborted = 0
    with serve_teacher(local) as srv, FaultProxy(srv.url.rsplit("/v1", 1)[0], fault_rate=0.4, faults=faults,
                                                   stall=1.5, seed=0) as proxy:
        client = lambda: OpenAITeacher(proxy.url, "teacher", concurrency=4, max_retries=1, timeout=1.0, backoff=0.01,
                                       max_backoff=0.05, tokenizer=local.tokenizer)
        P.canonicalize(store, run, task, rows=rows); P.dedup(store, run)
        try: P.generate(store, run, client(), prof, batch_size=16)
        except Exception as e: aborted += 1; print("aborted:", e)
        first = store.load(run, "generate").to_list()
        injected = {k: v for k, v in proxy.counts.items() if v}
        proxy.fault_rate = 0.0
        t2 = client()
        try: P.generate(store, run, t2, prof, batch_size=16, retry_errors="all")
        except Exception as e: aborted += 1; print("aborted:", e)
    again = store.load(run, "generate").to_list()
    expected = {P.gen_id(r["sample_id"], t2.id(), prof, j) for r in P.kept_rows(store, run, "dedup") for j in range(2)}
    got = [r["gen_id"] for r in again]
    res = {"prompts": len(rows), "rows_expected": 2 * len(rows), "first_rows": len(first),
           "first_errored": sum(not r["keep"] for r in first), "injected": injected, "runs_aborted": aborted,
           "rerun_requests": t2.requests, "prompts_with_errors": len({r["sample_id"] for r in first if not r["keep"]}),
           "after_rerun_rows": len(again), "after_rerun_errored": sum(not r["keep"] for r in again),
           "lost": len(expected - set(got)), "duplicated": len(got) - len(set(got))}
    print("teacher faults:", json.dumps(res))
    return res

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--prompts", type=int, default=60)
    ap.add_argument("--old-cap", type=float, default=20.0, help="seconds before an old-style query is killed (0: skip)")
    ap.add_argument("--json", default=None)
    a = ap.parse_args()
    out = {"sql": sql_part(a.old_cap), "teacher": teacher_part(a.prompts),
           "machine": f"{os.cpu_count()} cpu", "python": sys.version.split()[0]}
    if a.json: Path(a.json).write_text(json.dumps(out, indent=1) + "\n")

if __name__ == "__main__": main()
