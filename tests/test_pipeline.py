"""The generation pipeline: exact stage counts with reasons, resume after a kill, dedup across runs, gates, secrets."""
import json, os, subprocess, sys, time
from pathlib import Path
import pytest
from fastdistill.artifacts import ArtifactStore
from fastdistill import pipeline as P
from fastdistill.teachers import DecodeProfile, Teacher, Capabilities, OpenAITeacher, HFTeacher, _candidate
from fastdistill.testing import serve_teacher
from fastdistill.zoo import zoo_teacher
from fastdistill.tasks import get_task
from fastdistill.cli import load_config, ConfigError, main as cli_main

class ScriptedTeacher(Teacher):
    "Answers each prompt with a fixed list of texts (None: a failed candidate)."
    name = "scripted"
    capabilities = Capabilities(text=True)
    def __init__(self, answers: dict): self.answers, self.requests = answers, 0
    def generate(self, prompts, profile, progress=False):
        self.requests += len(prompts)
        return [[_candidate(error="HTTP 500 after 5 attempt(s)", finish="error") if t is None else _candidate(text=t)
                 for t in self.answers[p]] for p in prompts]

def _rows(n=6):
    t = get_task("text2sql")
    return [r for r in t.rows("train") if r["input"]["db_id"] == "concert"][:n], t

def test_stage_counts_and_reasons_are_exact(tmp_path):
    rows, t = _rows(6)
    prompts = [t.prompt(r) for r in rows]
    gold = [r["target"] for r in rows]
    answers = {
        prompts[0]: [gold[0], "SELECT nonsense FROM nowhere"],       # one gold match, one exec error
        prompts[1]: ["```sql\n" + gold[1] + ";\n```", None],        # fenced gold; a failed candidate
        prompts[2]: ["", "DROP TABLE singer"],                        # empty; not a select
        prompts[3]: ["<think>hmm</think> " + gold[3], gold[3]],       # two gold matches: best-of-n keeps one
        prompts[4]: [None, None],                                     # the teacher failed twice
        prompts[5]: ["SELECT 1", "SELECT 2"],                         # runs, but wrong results
    }
    store = ArtifactStore(tmp_path)
    run = store.create_run("exact")
    P.canonicalize(store, run, "text2sql", rows=rows + rows[:1])  # one duplicate in the input
    P.dedup(store, run)
    teacher = ScriptedTeacher(answers)
    P.generate(store, run, teacher, DecodeProfile(n=2, top_logprobs=0))
    P.clean(store, run, "text2sql"); P.rule_filter(store, run, "text2sql")
    P.exec_gate(store, run, "text2sql")
    P.judge(store, run, None); P.select(store, run, require_gold_match=True)
    rec = {r["stage"]: r for r in P.reconcile(store, run, P.STAGES)}
    assert all(r["balanced"] for r in rec.values())
    assert (rec["canonical"]["input"], rec["dedup"]["kept"], rec["dedup"]["rejected"]) == (7, 6, 1)
    assert (rec["generate"]["output"], rec["generate"]["kept"], rec["generate"]["errored"]) == (12, 9, 3)
    assert (rec["rule_filter"]["input"], rec["rule_filter"]["kept"], rec["rule_filter"]["rejected"]) == (9, 7, 2)
    assert (rec["exec_gate"]["kept"], rec["exec_gate"]["rejected"]) == (6, 1)
    assert (rec["select"]["input"], rec["select"]["kept"]) == (6, 3)  # questions 0, 1, 3; question 3 once
    reasons = store.reports(run, "rule_filter")["quality"]["reject_reason_counts"]
    assert reasons == {"empty": 1, "not_a_select": 1}
    sel = {r["sample_id"] for r in P.kept_rows(store, run, "select")}
    assert sel == {rows[0]["sample_id"], rows[1]["sample_id"], rows[3]["sample_id"]}
    sel_reasons = store.reports(run, "select")["quality"]["reject_reason_counts"]
    assert sel_reasons == {"gold_mismatch": 2, "not_best_of_n": 1}
    files = P.export(store, run)
    assert files["sft_rows"] == 3 and files["preference_rows"] == 1  # question 0: gold vs its failing candidate
    q = store.reports(run, "exec_gate")["quality"]
    assert q["exec_pass_rate"] == 6 / 7 and q["gold_match_rate"] == 4 / 7 and q["exec_error_counts"]

def test_quality_gate_stops_or_warns(tmp_path):
    rows, t = _rows(4)
    teacher = ScriptedTeacher({t.prompt(r): ["SELECT nothing FROM nowhere"] for r in rows})
    for mode in ("stop", "warn"):
        store = ArtifactStore(tmp_path/mode)
        run = store.create_run("gate")
        P.canonicalize(store, run, "text2sql", rows=rows); P.dedup(store, run)
        P.generate(store, run, teacher, DecodeProfile(n=1, top_logprobs=0)); P.clean(store, run, "text2sql"); P.rule_filter(store, run, "text2sql")
        if mode == "stop":
            with pytest.raises(P.QualityGateError, match="exec_pass_rate 0.000 is below 0.5"): P.exec_gate(store, run, "text2sql", min_pass_rate=0.5)
        else:
            with pytest.warns(UserWarning, match="quality gate"): P.exec_gate(store, run, "text2sql", min_pass_rate=0.5, mode="warn")
        assert store.has_stage(run, "exec_gate")  # the stage's rows and reports are kept either way

def test_dedup_is_persistent_across_runs(tmp_path):
    rows, t = _rows(5)
    store = ArtifactStore(tmp_path)
    a = store.create_run("first"); P.canonicalize(store, a, "text2sql", rows=rows[:3]); P.dedup(store, a, scope="global", namespace="t2s")
    b = store.create_run("second"); P.canonicalize(store, b, "text2sql", rows=rows); P.dedup(store, b, scope="global", namespace="t2s")
    q = store.reports(b, "dedup")["quality"]
    assert (q["kept"], q["reject_reason_counts"]) == (2, {"seen_in_run:first": 3})
    P.dedup(store, a, scope="global", namespace="t2s")  # rerunning the first run does not reject its own rows
    assert store.reports(a, "dedup")["quality"]["kept"] == 3

def test_kill_during_generation_then_resume(tmp_path):
    script = Path(__file__).parent/"scripts"/"pipeline_generate.py"
    log, limit = tmp_path/"requests.log", 80
    args = [sys.executable, str(script), str(tmp_path/"store"), "kill-me", str(log), str(limit)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    p = subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    partial = tmp_path/"store"/"runs"/"kill-me"/"generate.partial"/"shards"
    deadline = time.time() + 300
    while time.time() < deadline and len(list(partial.glob("shard-*.arrow"))) < 3 and p.poll() is None: time.sleep(0.05)
    assert p.poll() is None, "the run finished before it could be killed: " + p.stdout.read().decode()[-2000:]
    p.kill(); p.wait()
    first = log.read_text().splitlines()
    store = ArtifactStore(tmp_path/"store")
    assert not store.has_stage("kill-me", "generate")
    from fastdistill.artifacts import read_arrow
    stored = [r for s in sorted(partial.glob("shard-*.arrow")) for r in read_arrow(s).to_pylist()]
    stored_prompts = {r["prompt"] for r in stored}
    assert 0 < len(stored_prompts) < limit
    r = subprocess.run(args, env=env, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    second = log.read_text().splitlines()[len(first):]
    ds = store.load("kill-me", "generate").to_list()
    n_q = store.reports("kill-me", "dedup")["quality"]["kept"]
    assert len(ds) == 2 * n_q and len({x["gen_id"] for x in ds}) == len(ds)  # each (sample, candidate) exactly once
    assert not stored_prompts & set(second)  # stored generations were not requested again
    assert len(second) == n_q - len(stored_prompts)  # and only the missing questions were
    assert sorted({x["sample_id"] for x in ds}) == sorted(x["sample_id"] for x in P.kept_rows(store, "kill-me", "dedup"))

def test_api_key_never_persisted(tmp_path, monkeypatch, capfd):
    secret = "sk-test-SECRET-7f3a9c"
    monkeypatch.setenv("FD_TEST_KEY", secret)
    rows, t = _rows(4)
    local = zoo_teacher("text2sql", "quick")
    with serve_teacher(local) as srv:
        url = srv.url.replace("http://", f"http://user:{secret}@")  # credentials in a URL are stripped too
        teacher = OpenAITeacher(url, "teacher", api_key_env="FD_TEST_KEY", tokenizer=local.tokenizer)
        store = ArtifactStore(tmp_path/"store")
        run = store.create_run("secret", config={"teacher": teacher.describe()})
        P.canonicalize(store, run, "text2sql", rows=rows); P.dedup(store, run)
        P.generate(store, run, teacher, DecodeProfile(n=1, max_tokens=32, top_logprobs=3))
    assert store.reports(run, "generate")["quality"]["kept"] == 4
    out, err = capfd.readouterr()
    assert secret not in out + err
    hits = [p for p in (tmp_path/"store").rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]
    assert hits == []
    assert "FD_TEST_KEY" in json.dumps(store.run_info(run))  # the variable's name is recorded, not its value

def test_config_errors_name_keys_and_cli_exits_2(tmp_path, capsys):
    bad = tmp_path/"bad.yaml"
    bad.write_text("task: text2sql\ndecode:\n  temprature: 0.5\n  n: 0\nteacher:\n  kind: openai\n")
    with pytest.raises(ConfigError) as e: load_config(bad)
    msg = str(e.value)
    for part in ("decode.temprature: unknown key; did you mean 'decode.temperature'?", "decode.n: must be ≥ 1",
                 "teacher.base_url: required", "teacher.model: required"):
        assert part in msg, msg
    assert cli_main(["run", str(bad), "--artifacts-dir", str(tmp_path/"a")]) == 2
    assert "unknown key" in capsys.readouterr().err

def _alias_bomb(levels: int) -> str:
    "A YAML document of ~1 KB whose nested aliases expand to 10**levels leaves."
    lines = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    names = "abcdefghijklmnop"
    for p, c in zip(names[:levels - 1], names[1:levels]): lines.append(f"{c}: &{c} [" + ", ".join([f"*{p}"] * 10) + "]")
    return "task: text2sql\n" + "\n".join(lines) + "\n"

@pytest.mark.parametrize("levels", [7, 9])
def test_yaml_alias_bomb_is_refused_before_expansion_with_a_bounded_message(tmp_path, capsys, levels):
    "Before: 1 KB of nested aliases expanded to 10⁷ (58 MB of stderr, 705 MB RSS) or 10⁹ values (MemoryError at 71 s)."
    import resource, time
    bomb = tmp_path/"bomb.yaml"; bomb.write_text(_alias_bomb(levels))
    assert bomb.stat().st_size < 1200
    rss0, t0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, time.monotonic()
    assert cli_main(["run", str(bomb), "--artifacts-dir", str(tmp_path/"a")]) == 2
    err = capsys.readouterr().err
    assert "expands to more than 100,000 values" in err and str(bomb) in err and len(err) < 1000, err[:300]
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0 < 100_000  # KiB: nothing was expanded
    assert not (tmp_path/"a").exists()

def test_config_values_in_errors_are_excerpts_and_duplicate_keys_are_refused(tmp_path, capsys):
    "Before: a huge wrong-typed value was printed whole; a key given twice silently kept the last value."
    big = tmp_path/"big.yaml"; big.write_text("task: text2sql\nlimit: [" + ", ".join(["1"] * 50_000) + "]\n")
    assert cli_main(["run", str(big), "--artifacts-dir", str(tmp_path/"a")]) == 2
    err = capsys.readouterr().err
    assert "limit: expected" in err and "characters)" in err and len(err) < 1000, err[:300]
    dup = tmp_path/"dup.yaml"; dup.write_text("task: text2sql\ndistill:\n  enabled: true\n  enabled: false\n")
    with pytest.raises(ConfigError, match=r"key 'enabled' given twice \(first on line 3\)") as e: load_config(dup)
    assert str(dup) in str(e.value) and "line 4" in str(e.value)

def test_rubric_judge_scores_and_records_unparsable_replies(tmp_path):
    rows, t = _rows(3)
    answers = {t.prompt(r): [r["target"]] for r in rows}
    store = ArtifactStore(tmp_path)
    run = store.create_run("rubric")
    P.canonicalize(store, run, "text2sql", rows=rows); P.dedup(store, run)
    P.generate(store, run, ScriptedTeacher(answers), DecodeProfile(n=1, top_logprobs=0))
    P.clean(store, run, "text2sql"); P.rule_filter(store, run, "text2sql"); P.exec_gate(store, run, "text2sql")
    class JudgeTeacher(Teacher):
        "Replies 'score: 5', 'score: 2' and then something that is not a score."
        name, capabilities = "judge", Capabilities(text=True)
        def generate(self, prompts, profile, progress=False):
            replies = ["The answer is right. score: 5", "score: 2", "I cannot tell."]
            return [[_candidate(text=replies[i % 3])] for i, _ in enumerate(prompts)]
    P.judge(store, run, P.RubricJudge(JudgeTeacher()))
    got = store.load(run, "judge").to_list()
    assert sorted(((r["judge_score"] is None, r["judge_score"] or 0.0, r["judge_error"] is None) for r in got)) == \
        [(False, 0.25, True), (False, 1.0, True), (True, 0.0, False)]
    assert any("unparsable judge reply" in (r["judge_error"] or "") for r in got)
    assert all(r["exec_score"] == 1.0 for r in got)  # the execution-derived score is kept apart from the judge's
    q = store.reports(run, "judge")["quality"]
    assert q["judge_score"] == {"min": 0.25, "mean": 0.625, "max": 1.0} and q["kept"] == 3
