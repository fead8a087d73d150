"""Fault injection: what an adversarial user, a crash or a misbehaving teacher does to a run, and what must happen.

Each test names the failure it injects (issue 14's list) and asserts the behaviour after the fix: bounded SQL, no
secret in any file, one writer per run, crash-safe commits, verified reads, per-row teacher faults and retries.
"""
import hashlib, json, logging, multiprocessing as mp, os, random, signal, stat, sys, time
from pathlib import Path
import pyarrow as pa
import pytest
import torch
from fastdistill import pipeline as P
from fastdistill.artifacts import ArtifactError, ArtifactStore, StageWriter, _arrow_bytes, read_arrow
from fastdistill.core import LockBusy, config_from_dict, ConfigError, FieldErrors, log_to_file, logger, redact
from fastdistill.losses import DistillInputError, SparseTeacher, forward_kl
from fastdistill.pipeline import DedupIndex, PipelineConfig, PipelineError
from fastdistill.sql import SqlLimits, execute_sql, sql_sandbox
from fastdistill.tasks import get_task
from fastdistill.teachers import DecodeProfile, HFTeacher, OpenAITeacher, Teacher
from fastdistill.testing import MALFORMED, SQL_BOMBS as BOMBS, FaultProxy, own_tokenizer, serve_teacher, tiny_causal_lm

pytestmark = pytest.mark.xdist_group("faults")  # its module fixtures train once, on one worker

FORK = mp.get_context("fork")
T2S = get_task("text2sql")

def _sha(p: Path) -> str: return hashlib.sha256(p.read_bytes()).hexdigest()

# ---------------------------------------------------------------- SQL: bounded in time, memory and size
LIMIT_ERRORS = {"timeout", "memory", "too_large", "too_many_rows"}

def test_sql_resource_bombs_end_in_time_under_the_memory_cap(tmp_path):
    "Before: randomblob(200 MB) ran 56 s at 3.2 GB; printf 34 s. After: each ≤ deadline + 1 s, a failure class."
    db = T2S.db_path("concert"); before = _sha(db)
    timeout, out = 0.5, {}
    for q in BOMBS:
        t0 = time.monotonic(); r = execute_sql(db, q, timeout=timeout); wall = time.monotonic() - t0
        out[q] = (r.ok, r.error, round(wall, 2))
        # a limit failure, or SQLite itself defused it (a too-wide printf is NULL): never a large result
        assert (not r.ok and r.error in LIMIT_ERRORS) or len(repr(r.rows)) < 1000, (q, r.error, repr(r.rows)[:80])
        assert wall < timeout + 1.0, (q, wall)
    assert len(BOMBS) == 20
    assert sql_sandbox().peak_rss_mb < SqlLimits().memory_mb, sql_sandbox().peak_rss_mb
    assert _sha(db) == before
    assert execute_sql(db, "SELECT count(*) FROM singer").ok  # the worker is usable after kills

def _fuzz_query(rng: random.Random) -> str:
    tables, cols = ["singer", "concert", "stadium"], ["*", "name", "id", "count(*)", "max(id)"]
    exprs = [f"randomblob({rng.choice([10, 10**5, 10**7, 10**9])})", f"zeroblob({rng.choice([0, 10**6, 10**9])})",
             f"printf('%.*c', {rng.choice([5, 10**6, 10**9])}, 'z')", "hex(randomblob(64))", "random()",
             f"replace(hex(zeroblob({rng.choice([10, 10**5])})), '0', 'ab')", "1/0", "abs(-9223372036854775808)",
             "'x' || name", "length(name)"]
    frm = ", ".join(f"{rng.choice(tables)} t{i}" for i in range(rng.randint(1, 5)))
    sel = ", ".join(rng.choice(cols[1:] + exprs) for _ in range(rng.randint(1, 3)))
    shapes = [f"SELECT {sel} FROM {frm}", f"SELECT {sel} FROM {frm} ORDER BY random() LIMIT {rng.randint(1, 10**6)}",
              f"WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT {rng.choice([10, 10**4, 10**8])}) "
              f"SELECT {rng.choice(['x', 'count(*)', 'group_concat(x)', 'x, ' + rng.choice(exprs)])} FROM c",
              f"SELECT {sel} FROM {frm} WHERE {rng.choice(exprs)} > 0", f"SELEC {sel}",
              f"SELECT * FROM {rng.choice(tables)}; DROP TABLE singer", "PRAGMA writable_schema=1",
              f"SELECT {sel} FROM {frm} GROUP BY {rng.choice(['1', 'random()'])}"]
    return rng.choice(shapes)

def test_sql_fuzz_generated_queries_bounded_and_read_only():
    "Generated queries (blobs, huge printf, joins, recursive CTEs, errors): every one returns, in time, DB unchanged."
    db = T2S.db_path("concert"); before = _sha(db)
    rng, timeout, t_all = random.Random(14), 0.25, time.monotonic()
    kinds = {}
    for _ in range(150):
        q = _fuzz_query(rng)
        t0 = time.monotonic(); r = execute_sql(db, q, timeout=timeout); wall = time.monotonic() - t0
        assert wall < timeout + 1.0, (q, wall)
        assert r.ok or r.error in LIMIT_ERRORS | {"syntax", "denied", "runtime"}, (q, r)
        kinds[r.error] = kinds.get(r.error, 0) + 1
    assert time.monotonic() - t_all < 120
    assert _sha(db) == before
    assert kinds.get(None, 0) > 10 and len(kinds) >= 4, kinds  # the fuzzer reached passes and several failure classes

def test_exec_gate_counts_a_resource_bomb_as_a_failure(tmp_path):
    "Before: a teacher answering randomblob(60 MB) passed the gate after 200 s at 6.8 GB. After: exec_failed, fast."
    row = {"input": T2S.rows("train")[0]["input"], "target": T2S.rows("train")[0]["target"]}
    t0 = time.monotonic()
    ev = T2S.score_one(f"SELECT randomblob(60000000) FROM singer", row, timeout=1.0)
    assert (ev["exec_pass"], ev["exec_error"]) == (False, "too_large") and time.monotonic() - t0 < 2.0

# ---------------------------------------------------------------- secrets and file modes
SECRET_PW, SECRET_Q, SECRET_KEY = "hunter2@pw-xyz", "qs-key-88771", "sk-env-SECRET-0a1b2c3d4e"
SECRET_TOKEN, SECRET_CODE = "tokenOnly-7Hq2", "fnCode0aB1c2D3e4F5"

@pytest.mark.parametrize("userinfo,query,shown", [
    (f"bob:{SECRET_PW}", f"?api_key={SECRET_Q}&code={SECRET_CODE}", "http://bob:***@"),  # a password holding @
    (SECRET_TOKEN, f"?x-fn={SECRET_CODE}&api-version=2024-02-01", "http://***@")])  # a bare token; a key-shaped value
def test_no_secret_in_run_json_manifests_summary_report_or_log(tmp_path, monkeypatch, capfd, userinfo, query, shown):
    "Before: user:password@, TOKEN@, a password with @, ?api_key= and ?code= were stored raw in run.json, every manifest,"
    " summary.json and report.html."
    from fastdistill.methods.sparse_kd import run
    monkeypatch.setenv("FD_FAULT_API_KEY", SECRET_KEY)
    old = os.umask(0o022)
    try:
        with serve_teacher(_zoo()) as srv:
            url = srv.url.replace("http://", f"http://{userinfo}@") + query
            cfg = {"run_id": "secret", "limit": 6, "judge": {"kind": "none"}, "gate": {"min_exec_pass_rate": 0.0},
                   "decode": {"n": 1, "max_tokens": 32, "top_logprobs": 2},
                   "teacher": {"kind": "openai", "base_url": url, "model": "teacher", "api_key_env": "FD_FAULT_API_KEY",
                               "max_retries": 0},
                   "distill": {"enabled": False}, "eval": {"limit": 4}}
            with log_to_file(tmp_path/"extra.log"):
                logger.warning(f"probe: teacher at {url} with key {SECRET_KEY}")
                s = run(cfg, tmp_path/"store")
    finally: os.umask(old)
    out, err = capfd.readouterr()
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    for secret in (SECRET_PW, SECRET_Q, SECRET_KEY, SECRET_TOKEN, SECRET_CODE, SECRET_PW.split("@")[1]):
        assert secret not in out + err
        assert [p for p in files if secret.encode() in p.read_bytes()] == [], secret
    run_json = json.loads((tmp_path/"store"/"runs"/"secret"/"run.json").read_text())
    assert run_json["config"]["teacher"]["base_url"].startswith(shown)
    assert run_json["config"]["teacher"]["api_key_env"] == "FD_FAULT_API_KEY"
    assert "***" in (tmp_path/"extra.log").read_text()
    report = Path(s["report"])
    assert stat.S_IMODE(report.stat().st_mode) == 0o644 and stat.S_IMODE(report.with_name("summary.json").stat().st_mode) == 0o644

def test_redact_masks_every_shape():
    cfg = redact({"a": "https://u:p4ss@h/x?token=t0k3n&y=1", "password": "pw", "headers": ["Bearer abcdef123456"],
                  "api_key_env": "OPENAI_API_KEY", "n": 3})
    assert cfg == {"a": "https://u:***@h/x?token=***&y=1", "password": "***", "headers": ["Bearer ***"],
                   "api_key_env": "OPENAI_API_KEY", "n": 3}
    keep = {"pad_token": "<|pad|>", "eos_token": "</s>", "max_tokens": 64, "tokenizer": "/models/tok"}
    assert redact(keep) == keep  # tokenizer settings are not credentials

@pytest.mark.parametrize("raw,masked", [
    ("http://TOKEN-abc@h/v1", "http://***@h/v1"),  # userinfo without a password is a token
    ("http://u:p@ss@w@h/v1", "http://u:***@h/v1"), ("http://u:p%40ss@h/v1", "http://u:***@h/v1"),  # @ in a password
    ("https://h/api?code=abc&n=1", "https://h/api?code=***&n=1"),  # Azure Functions' key
    ("https://h/v1?sas=Zx81kQpL0mNbV2cR7t&api-version=2024-02-01", "https://h/v1?sas=***&api-version=2024-02-01"),
    ("https://h/v1?etag=9f86d081884c7d659a2feaa0c55ad015", "https://h/v1?etag=***"),  # long hex
    ("https://h/v1?model=qwen2.5-7b-instruct&n=2", "https://h/v1?model=qwen2.5-7b-instruct&n=2")])  # kept
def test_redact_masks_userinfo_at_passwords_and_key_shaped_query_values(raw, masked):
    "Before: TOKEN@, a password holding @ and ?code= (any name outside a fixed list) were kept verbatim."
    assert redact({"base_url": raw}) == {"base_url": masked}

# ---------------------------------------------------------------- one writer per run, shared indexes
def _hold_writer(root, ready, done):
    w = ArtifactStore(root).writer("shared", "generate")
    w.append([{"sample_id": "a", "x": 1}]); ready.set(); done.wait(30)

def test_second_writer_of_a_run_is_refused_and_first_is_untouched(tmp_path):
    "Before: two processes on one run_id corrupted generate ('128 row(s) changed') and the first exited 0."
    store = ArtifactStore(tmp_path)
    cfg = config_from_dict(PipelineConfig, {"run_id": "shared", "limit": 4, "judge": {"kind": "none"}})
    P.start_run(store, cfg, T2S)
    ready, done = FORK.Event(), FORK.Event()
    p = FORK.Process(target=_hold_writer, args=(str(tmp_path), ready, done)); p.start()
    try:
        assert ready.wait(30)
        with pytest.raises(LockBusy, match=r"run 'shared' .* is being written by pid \d+"):
            store.writer("shared", "generate")
        with pytest.raises(LockBusy): P.run_pipeline(store, cfg, GoldTeacher(), task=T2S)
    finally: done.set(); p.join(30)
    w = store.writer("shared", "generate"); assert len(w) == 1  # the first writer's rows are intact
    w.append([{"sample_id": "b", "x": 2}]); w.finish()
    assert store.verify("shared", "generate").ok and sorted(store.load("shared", "generate")["sample_id"]) == ["a", "b"]

def test_lock_of_a_killed_writer_is_released(tmp_path):
    store = ArtifactStore(tmp_path); store.create_run("dead")
    ready, done = FORK.Event(), FORK.Event()
    p = FORK.Process(target=_hold_writer_dead, args=(str(tmp_path), ready, done)); p.start()
    assert ready.wait(30); os.kill(p.pid, signal.SIGKILL); p.join(30)
    with store.writer("dead", "generate") as w: assert len(w) == 1  # no stale lock to clear by hand

def _hold_writer_dead(root, ready, done):
    w = ArtifactStore(root).writer("dead", "generate")
    w.append([{"sample_id": "a", "x": 1}]); ready.set(); time.sleep(60)

def _add_ids(root, start, run):
    idx = DedupIndex(ArtifactStore(root), "shared-ns")
    for i in range(0, 300, 10): idx.add([f"id{start + i + j:04d}" for j in range(10)], run)

def test_two_processes_adding_to_one_dedup_index_lose_nothing(tmp_path):
    "Before: two processes adding 300 ids each kept 312 of 600."
    ArtifactStore(tmp_path)
    ps = [FORK.Process(target=_add_ids, args=(str(tmp_path), s, f"run{s}")) for s in (0, 300)]
    for p in ps: p.start()
    for p in ps: p.join(60)
    assert all(p.exitcode == 0 for p in ps)
    taken = DedupIndex(ArtifactStore(tmp_path), "shared-ns").taken()
    assert len(taken) == 600 and sorted(set(taken.values())) == ["run0", "run300"]

# ---------------------------------------------------------------- crash safety and verified reads
def _cand(text: str, error=None) -> dict:
    return {"text": text, "token_ids": [], "topk_ids": [], "topk_logprobs": [], "token_logprobs": [],
            "logprobs_available": False, "finish_reason": "error" if error else "stop", "error": error, "attempts": 1,
            "latency_s": 0.0}

class GoldTeacher(Teacher):
    "A deterministic teacher without a model: candidate 0 is the gold query, candidate 1 a wrong one."
    name = "gold"
    def __init__(self):
        self.requests = 0
        self.gold = {T2S.prompt(r): r["target"] for r in T2S.rows("train")}
    def generate(self, prompts, profile, progress=False):
        self.requests += len(prompts)
        return [[_cand(self.gold.get(p, "SELECT 1") if j == 0 else "SELECT name FROM singer")
                 for j in range(profile.n)] for p in prompts]

def _cfg(run_id="crash", limit=12):
    return config_from_dict(PipelineConfig, {"run_id": run_id, "limit": limit, "judge": {"kind": "none"},
                                             "decode": {"n": 2, "top_logprobs": 0}, "gate": {"min_exec_pass_rate": 0}})

def _pipeline_child(root, point):
    if point: os.environ["FASTDISTILL_CRASH_AT"] = point
    logging.disable(logging.CRITICAL)
    P.run_pipeline(ArtifactStore(root), _cfg(), GoldTeacher(), task=T2S)

def _in_child(root, point=None) -> int:
    p = FORK.Process(target=_pipeline_child, args=(str(root), point)); p.start(); p.join(120)
    return p.exitcode

def _final(store) -> list:
    return sorted((r["gen_id"], r["keep"], r["reject_reason"], r["answer"]) for r in store.load("crash", "select").to_list())

CRASH_POINTS = ([f"stage:{s}:batch" for s in P.STAGES] + [f"finish:{s}:manifest-written" for s in P.STAGES]
                + ["finish:generate:unified", "finish:generate:renamed", "finish:canonical:renamed",
                   "append:generate:hashes-written"])

def test_sigkill_at_every_stage_boundary_and_inside_finish_then_resume(tmp_path):
    "Before: a crash inside finish() (after .hashes were deleted) left a stage that could not resume."
    assert _in_child(tmp_path/"ref") == 0
    ref = _final(ArtifactStore(tmp_path/"ref"))
    ref_exports = (tmp_path/"ref"/"runs"/"crash"/"exports"/"sft.jsonl").read_text()
    for point in CRASH_POINTS:
        root = tmp_path/point.replace(":", "_")
        assert _in_child(root, point) == -signal.SIGKILL, point
        assert _in_child(root) == 0, point
        store = ArtifactStore(root)
        assert _final(store) == ref, point
        assert (root/"runs"/"crash"/"exports"/"sft.jsonl").read_text() == ref_exports, point
        assert all(store.verify("crash", s).ok for s in P.STAGES), point
        assert not list((root/"runs"/"crash").glob("*.partial")), point

def test_stage_left_without_hashes_by_an_older_version_resumes(tmp_path):
    store = ArtifactStore(tmp_path); run = store.create_run("old")
    w = store.writer(run, "s"); w.append([{"sample_id": f"o{i}", "x": i} for i in range(5)]); w.close()
    for h in (store.run_dir(run)/"s.partial"/"shards").glob("*.hashes"): h.unlink()
    w = store.writer(run, "s"); assert len(w) == 5
    w.append([{"sample_id": "o5", "x": 5}]); w.finish()
    assert store.verify(run, "s").ok and len(store.load(run, "s")) == 6

def _rewrite_row(path: Path, key: str, value, field: str):
    t = read_arrow(path).to_pylist()
    for r in t:
        if r["gen_id"] == key: r[field] = value
    path.write_bytes(_arrow_bytes(pa.Table.from_pylist(t, schema=read_arrow(path).schema)))

def test_hand_edited_row_is_refused_on_resume_not_exported(tmp_path):
    "Before: a hand-edited kept row flowed into exports and training because resume never verified."
    store = ArtifactStore(tmp_path)
    run = P.run_pipeline(store, _cfg(), GoldTeacher(), task=T2S)
    shard = store.stage_dir(run, "exec_gate")/"shards"/"shard-00000.arrow"
    gid = store.load(run, "exec_gate")[0]["gen_id"]
    _rewrite_row(shard, gid, "SELECT 'edited'", "clean_text")
    with pytest.raises(ArtifactError, match="stage 'exec_gate' of run 'crash' was changed after it was written"):
        P.run_pipeline(store, _cfg(), GoldTeacher(), task=T2S)

def test_bad_files_get_errors_naming_them(tmp_path):
    "Before: a truncated shard said 'Expected to be able to read 84896 bytes'; a corrupt run.json a bare JSONDecodeError."
    store = ArtifactStore(tmp_path); run = store.create_run("bad")
    store.write_stage(run, "s", [{"sample_id": f"b{i}", "x": "y" * 100} for i in range(50)])
    shard = store.stage_dir(run, "s")/"shards"/"shard-00000.arrow"
    raw = shard.read_bytes(); shard.write_bytes(raw[: len(raw) // 3])
    with pytest.raises(ArtifactError, match=r"stage 's' of run 'bad' was changed.*shard-00000.arrow"): store.load(run, "s")
    (store.run_dir(run)/"run.json").write_text("{not json")
    with pytest.raises(ArtifactError, match=r"run 'bad': run.json .*runs/bad/run.json is not valid JSON"): store.run_info(run)

# ---------------------------------------------------------------- teacher faults are per row; reruns retry
_ZOO = {}
def _zoo():
    from fastdistill.zoo import zoo_teacher
    if "t" not in _ZOO: _ZOO["t"] = zoo_teacher("text2sql", "quick")
    return _ZOO["t"]

def _untrained(folder):
    "An untrained llama-shaped folder with its own tokenizer: a served teacher in seconds, no zoo training."
    tok = own_tokenizer(T2S.texts("train")[:200], style="llama")
    return HFTeacher.from_pretrained(tiny_causal_lm(folder, "llama", tok), dtype="float32", device="cpu")

def _gen(store, run, teacher, rows, retry="auto", n=1):
    if not store.has_stage(run, "canonical"):
        P.canonicalize(store, run, T2S, rows=rows); P.dedup(store, run)
    P.generate(store, run, teacher, DecodeProfile(n=n, max_tokens=24, top_logprobs=3, temperature=0.8 if n > 1 else 0.0), batch_size=8, retry_errors=retry)
    return store.load(run, "generate").to_list()

def test_40pct_faults_and_malformed_replies_cost_rows_not_the_run_and_rerun_recovers(tmp_path):
    "Before: one NaN logprob or 3 choices for 1 aborted the run; 1 of 2 choices was stored short; OOV/positive stored."
    local, rows = _zoo(), T2S.rows("train")[:30]
    store = ArtifactStore(tmp_path); run = store.create_run("faulty")
    faults = ["429", "500", "timeout", "bad_json", "empty_choices", "drop", *MALFORMED]
    with serve_teacher(local) as srv, \
            FaultProxy(srv.url.rsplit("/v1", 1)[0], fault_rate=0.4, faults=faults, stall=1.5, seed=3) as proxy:
        client = lambda: OpenAITeacher(proxy.url, "teacher", concurrency=4, max_retries=1, timeout=1.0, backoff=0.01,
                                       max_backoff=0.05, tokenizer=local.tokenizer)
        got = _gen(store, run, client(), rows, n=2)  # no exception: the run goes on
        assert sum(proxy.counts[f] for f in MALFORMED) > 0 and proxy.counts["ok"] > 0, proxy.counts
        proxy.fault_rate = 0.0  # the server is healthy again
        t2 = client()
        again = _gen(store, run, t2, rows, retry="all", n=2)
    assert len(got) == 60 and len({r["gen_id"] for r in got}) == 60  # every prompt: its rows or its error rows
    bad = [r for r in got if not r["keep"]]
    assert bad and all(r["reject_reason"].startswith("error: ") for r in bad)
    allowed = {"invalid reply", "malformed response"} | {f"{e} after 2 attempt(s)" for e in (
        "HTTP 429", "HTTP 500", "APITimeoutError", "APIConnectionError")}
    assert {r["error"].split(":")[0] for r in bad} <= allowed, {r["error"] for r in bad}
    for r in got:
        if r["keep"] and r["logprobs_available"]:
            assert all(v <= 0 for row in r["topk_logprobs"] for v in row) and max(r["token_ids"]) < len(local.tokenizer)
    assert t2.requests == len({r["sample_id"] for r in bad})  # only the prompts with errored rows were asked again
    assert len(again) == 60 and len({r["gen_id"] for r in again}) == 60 and all(r["keep"] for r in again)
    kept_before = {r["gen_id"]: r["text"] for r in got if r["keep"]}
    assert all(r["text"] == kept_before[r["gen_id"]] for r in again if r["gen_id"] in kept_before)  # nothing redone
    assert store.verify(run, "generate").ok

def test_auth_failure_is_named_and_a_rerun_with_the_key_retries(tmp_path, monkeypatch):
    "Before: a 401 surfaced as 'quality gate: exec_pass_rate 0.000'; setting the key and rerunning made 0 requests."
    local, rows = _untrained(tmp_path/"m"), T2S.rows("train")[:6]  # the answers do not matter here, only the key
    monkeypatch.delenv("FD_AUTH_KEY", raising=False)
    store = ArtifactStore(tmp_path); run = store.create_run("auth")
    with serve_teacher(local) as srv, FaultProxy(srv.url.rsplit("/v1", 1)[0], require_key="right-key-123") as proxy:
        t = OpenAITeacher(proxy.url, "teacher", api_key_env="FD_AUTH_KEY", tokenizer=local.tokenizer)
        with pytest.raises(PipelineError, match=r"every request to the teacher .* failed: HTTP 401 \(unauthorized: "
                                                r"\$FD_AUTH_KEY is not set\)"):
            _gen(store, run, t, rows)
        monkeypatch.setenv("FD_AUTH_KEY", "right-key-123")
        t2 = OpenAITeacher(proxy.url, "teacher", api_key_env="FD_AUTH_KEY", tokenizer=local.tokenizer)
        got = _gen(store, run, t2, rows)  # retry_errors="auto" retries auth failures
    assert t2.requests == 6 and len(got) == 6 and all(r["keep"] for r in got)

def test_retry_after_is_honoured(tmp_path):
    "Before: Retry-After was ignored (5 tries in 1.9 s)."
    with FaultProxy("http://127.0.0.1:9", fault_rate=1.0, faults=["429"], retry_after=1) as proxy:
        t = OpenAITeacher(proxy.url, "m", max_retries=2, backoff=0.01, max_backoff=0.02)
        t0 = time.monotonic(); c = t.generate(["q"], DecodeProfile(max_tokens=4))[0][0]; wall = time.monotonic() - t0
    assert c["error"] == "HTTP 429 after 3 attempt(s)" and 2.0 <= wall < 4.0, (c["error"], wall)

@pytest.mark.parametrize("kw,msg", [({"concurrency": 0}, "concurrency=0"), ({"max_retries": -1}, "max_retries=-1"),
                                    ({"timeout": 0}, "timeout=0")])
def test_out_of_range_teacher_settings_are_refused(kw, msg):
    "Before: concurrency 0 hung forever; max_retries -1 crashed with UnboundLocalError."
    with pytest.raises(ValueError, match=msg): OpenAITeacher("http://127.0.0.1:9/v1", "m", **kw)

@pytest.mark.parametrize("gate,key", [({"timeout": -1}, "gate.timeout"), ({"min_exec_pass_rate": 5}, "gate.min_exec_pass_rate"),
                                      ({"timeout": 0}, "gate.timeout")])
def test_out_of_range_gate_settings_are_refused(gate, key):
    with pytest.raises((ConfigError, FieldErrors), match=key): config_from_dict(PipelineConfig, {"gate": gate})
    with pytest.raises(PipelineError):
        P.exec_gate(ArtifactStore.__new__(ArtifactStore), "r", T2S, gate.get("timeout", 1.0), gate.get("min_exec_pass_rate", 0))

# ---------------------------------------------------------------- losses
def _offline_rows(n, completion=(5, 6, 7)):
    return [{"sample_id": f"q-{i}", "prompt_ids": [1, 2, 3], "completion_ids": list(completion),
             "topk_ids": [[t, 0] for t in completion], "topk_logprobs": [[-0.1, -2.5]] * len(completion)}
            for i in range(n)]

def test_offline_rows_with_empty_or_out_of_vocabulary_completions_are_named():
    "Before: 40 empty completions surfaced only as \"loss term 'sft' is nan\"; a completion id outside the vocabulary"
    " was an IndexError; a negative top-k id was reported as another id."
    from fastdistill.distiller import OfflineTeacherData
    empty = _offline_rows(3) + [dict(r, completion_ids=[], topk_ids=[], topk_logprobs=[], sample_id=f"e-{i}")
                                for i, r in enumerate(_offline_rows(40))]
    with pytest.raises(DistillInputError, match=r"select: 40 of 43 row\(s\) have no completion tokens \(first: 'e-0', 'e-1'"):
        OfflineTeacherData(empty, source="select")
    oov = _offline_rows(2) + [dict(_offline_rows(1)[0], sample_id="q-big", completion_ids=[5, 64, 6])]
    assert len(OfflineTeacherData(oov, vocab_size=None)) == 3  # without a vocabulary nothing is checked here
    with pytest.raises(DistillInputError, match=r"row 2 \(sample_id 'q-big'\): completion_ids holds token id 64, "
                                                r"outside the student's vocabulary \[0, 64\)"):
        OfflineTeacherData(oov, vocab_size=64)
    neg = torch.tensor([[[3, 1], [2, -5]]]); lp = torch.log_softmax(torch.randn(1, 2, 2), -1)
    with pytest.raises(DistillInputError, match=r"position 1: top-k token id -5 is outside the student vocabulary \[0, 7\)"):
        forward_kl(torch.randn(1, 2, 7), SparseTeacher(neg, lp))

def test_losses_reject_nan_student_positive_logprobs_empty_and_bad_masks():
    "Before: NaN loss, silent training, ZeroDivisionError, a bare RuntimeError."
    s = torch.randn(2, 3, 7); ids = torch.topk(torch.randn(2, 3, 7), 3, -1).indices
    lp = torch.log_softmax(torch.randn(2, 3, 3), -1)
    s_nan = s.clone(); s_nan[1, 2, 0] = float("nan")
    with pytest.raises(DistillInputError, match="batch row 1, position 2: student logits are NaN"):
        forward_kl(s_nan, SparseTeacher(ids, lp))
    pos = lp.clone(); pos[0, 1, 2] = 0.3
    with pytest.raises(DistillInputError, match="logprob 0.3 > 0"): forward_kl(s, SparseTeacher(ids, pos))
    with pytest.raises(DistillInputError, match="empty batch"): forward_kl(s[:0], SparseTeacher(ids[:0], lp[:0]))
    with pytest.raises(DistillInputError, match=r"mask \(3, 2\) does not match"):
        forward_kl(s, SparseTeacher(ids, lp), mask=torch.ones(3, 2))
    assert torch.isfinite(forward_kl(s, SparseTeacher(ids, lp), mask=torch.tensor([[1, 1, 1], [1, 1, 0]])))
    assert torch.isfinite(forward_kl(s_nan, SparseTeacher(ids, lp), mask=torch.tensor([[1, 1, 1], [1, 1, 0]])))
