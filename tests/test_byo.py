"""A user's own teacher, student, dataset and server through the main job (issue: bring your own model and data).

Models of other architectures are built and trained here (GPT-2-config teacher, Qwen2-config students, tokenizers of
their own); nothing is downloaded. One module-scoped set of models serves every test.
"""
import json, os, stat
from pathlib import Path
import datasets, pytest, yaml
from fastdistill.artifacts import row_topk
from fastdistill.artifacts import ArtifactStore
from fastdistill.cli import main
from fastdistill.core import read_config
from fastdistill.eval import predict
from fastdistill.methods.sparse_kd import RunConfig, run
from fastdistill.pipeline import STAGES, canonicalize, dedup, generate, task_of
from fastdistill.tasks import SQL_SCHEMAS, build_database, get_task
from fastdistill.teachers import DecodeProfile, HFTeacher, OpenAITeacher
from fastdistill.testing import LOGPROB_SHAPES, copy_rows, own_tokenizer, serve_teacher, tiny_causal_lm, train_folder

pytestmark = pytest.mark.xdist_group("byo")  # its module fixtures train once, on one worker

@pytest.fixture(scope="module")
def byo(tmp_path_factory):
    "Folders: a trained GPT-2 teacher (own tokenizer, no pad), Qwen2 students (own vs shared tokenizer), user JSONL."
    base, rows = tmp_path_factory.mktemp("byo"), copy_rows(400)
    texts = [r["prompt"] + " " + r["completion"] for r in rows]
    gpt2_tok, llama_tok = own_tokenizer(texts, "gpt2"), own_tokenizer(texts, "llama", 200)
    teacher = tiny_causal_lm(base/"gpt2-teacher", "gpt2", gpt2_tok)
    train_folder(teacher, rows, steps=150)
    data = base/"rows.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return {"base": base, "teacher": teacher, "data": data, "rows": rows,
            "student_own": tiny_causal_lm(base/"qwen2-own", "qwen2", llama_tok, seed=1),
            "student_shared": tiny_causal_lm(base/"qwen2-shared", "qwen2", gpt2_tok, seed=1)}

def _config(byo, student, **over) -> dict:
    cfg = {"data": {"path": str(byo["data"]), "gate": "none"}, "limit": 48, "gate": {"min_exec_pass_rate": 0.0},
           "decode": {"n": 1, "max_tokens": 12, "temperature": 0.0, "top_logprobs": 4},
           "select": {"require_gold_match": False}, "teacher": {"kind": "hf", "path": str(byo["teacher"])},
           "distill": {"student": str(student), "steps": 20, "batch_size": 8}, "eval": {"limit": 16}}
    for k, v in over.items(): cfg[k] = {**cfg.get(k, {}), **v} if isinstance(v, dict) else v
    return cfg

def test_own_teacher_and_student_with_different_tokenizers(byo, tmp_path):
    old = os.umask(0o022)
    try: s = run(_config(byo, byo["student_own"]), tmp_path)
    finally: os.umask(old)
    assert s["plan"]["kd"] is False and "vocabularies differ" in s["plan"]["why"]
    assert s["kd_data"] == {"rows": s["stages"][-1]["kept"], "re-tokenised": s["stages"][-1]["kept"]} and s["kd_data"]["rows"] > 0
    assert [e["arm"] for e in s["evaluation"] if e.get("arm")] == ["student-sft"]  # no KD arm without one vocabulary
    # the saved student reloads with transformers alone and scores what the run recorded
    from transformers import AutoModelForCausalLM, AutoTokenizer
    saved = Path(s["saved_students"]["student-sft"])
    model, tok = AutoModelForCausalLM.from_pretrained(saved), AutoTokenizer.from_pretrained(saved)
    assert type(model).__name__ == "Qwen2ForCausalLM"
    task = task_of(read_config(RunConfig, _config(byo, byo["student_own"])))
    store = ArtifactStore(tmp_path)
    stored = store.load(s["run_id"], "eval-student-sft").to_list()
    rows = {r["sample_id"]: r for r in task.rows("test")}
    again = predict(task, model, tok, [rows[r["sample_id"]] for r in stored])
    assert again == [r["prediction"] for r in stored] and len(stored) == s["evaluation"][-1]["n"] > 0
    # every stage opens with datasets alone; exports hold kept rows only
    for st in [*STAGES, "eval-student-sft", "eval-teacher"]:
        ds = datasets.load_from_disk(str(store.stage_dir(s["run_id"], st)))
        assert len(ds) == store.manifest(s["run_id"], st).row_count, st
    exports = store.run_dir(s["run_id"])/"exports"
    kept = s["stages"][-1]["kept"]
    assert sum(1 for _ in open(exports/"sft_completion.jsonl")) == kept
    sel = datasets.load_from_disk(str(exports/"selected"))
    assert len(sel) == kept and all(sel["keep"])
    # the run's log names every stage with its counts; files follow the umask, not 0600
    log = Path(s["log"]).read_text()
    for st in STAGES: assert f"stage {st}: " in log and "kept" in log.split(f"stage {st}: ")[1].splitlines()[0], st
    assert stat.S_IMODE((store.run_dir(s["run_id"])/"run.json").stat().st_mode) == 0o644

def test_sft_export_trains_in_trl_without_a_chat_template(byo, tmp_path):
    trl = pytest.importorskip("trl")
    from transformers import AutoModelForCausalLM, AutoTokenizer
    s = run(_config(byo, byo["student_own"], distill={"enabled": False}), tmp_path)
    tok = AutoTokenizer.from_pretrained(byo["student_own"])
    assert tok.chat_template is None
    ds = datasets.load_dataset("json", data_files=str(ArtifactStore(tmp_path).run_dir(s["run_id"])/"exports"/"sft_completion.jsonl"),
                               split="train", cache_dir=str(tmp_path/"hf"))
    args = trl.SFTConfig(output_dir=str(tmp_path/"trl"), max_steps=2, per_device_train_batch_size=4, report_to=[],
                         use_cpu=True, save_strategy="no", logging_steps=1, bf16=False)
    from accelerate.state import AcceleratorState
    try: out = trl.SFTTrainer(model=AutoModelForCausalLM.from_pretrained(byo["student_own"]), args=args,
                              train_dataset=ds, processing_class=tok).train()
    finally: AcceleratorState._reset_state(True)  # the trainer's accelerate state is process-wide: later tests get a fresh one
    assert out.global_step == 2 and out.training_loss == out.training_loss  # finite

def test_shared_tokenizer_uses_stored_topk(byo, tmp_path):
    s = run(_config(byo, byo["student_shared"]), tmp_path)
    assert s["plan"]["kd"] is True
    assert s["kd_data"]["stored top-k"] > 0 and s["kd_data"]["one-hot"] == 0, s["kd_data"]
    assert set(s["saved_students"]) == {"student-kd-sft", "student-sft"}

def test_user_sqlite_folder_end_to_end(tmp_path):
    t2s, dbs = get_task("text2sql"), tmp_path/"dbs"
    for db in SQL_SCHEMAS: build_database(db, dbs/f"{db}.sqlite")
    mine = [{"question": r["input"]["question"], "sql": r["target"], "db": r["input"]["db_id"]} for r in t2s.rows()[:300]]
    (tmp_path/"mine.jsonl").write_text("".join(json.dumps(r) + "\n" for r in mine))
    cfg = {"data": {"path": str(tmp_path/"mine.jsonl"), "sqlite_dir": str(dbs), "prompt_field": "question",
                    "target_field": "sql", "db_field": "db", "name": "my_sql"},
           "limit": 24, "decode": {"n": 1}, "gate": {"mode": "warn"}, "distill": {"steps": 10, "baseline": False},
           "eval": {"limit": 12}}
    s = run(cfg, tmp_path/"store")
    expected = len(task_of(read_config(RunConfig, cfg)).sample("train", 24))  # an even sample: 23 of 269 rows
    assert s["task"] == "my_sql" and s["metric"] == "result_match" and s["stages"][0]["input"] == expected
    assert s["kd_data"]["stored top-k"] > 0  # the zoo teacher and student share the text2sql vocabulary
    # a row naming a database that is not in the folder stops the run before any work, naming file, row and folder
    (tmp_path/"mine.jsonl").write_text((tmp_path/"mine.jsonl").read_text() + json.dumps({**mine[0], "db": "payroll"}) + "\n")
    (tmp_path/"run.yaml").write_text(yaml.safe_dump(cfg))
    assert main(["run", str(tmp_path/"run.yaml"), "--artifacts-dir", str(tmp_path/"s2"), "--no-progress"]) == 1

@pytest.mark.parametrize("shape", LOGPROB_SHAPES)
def test_openai_teacher_stores_topk_in_every_response_shape(byo, tmp_path, shape):
    local = HFTeacher.from_pretrained(byo["teacher"])
    prompts = [r["prompt"] for r in byo["rows"][:16]]
    prof = DecodeProfile(max_tokens=12, top_logprobs=4)
    want = sum(len(c[0]["token_ids"]) for c in local.generate(prompts, prof))
    with serve_teacher(local, logprob_shape=shape) as srv:
        remote = OpenAITeacher(srv.url, "teacher", concurrency=4, tokenizer=local.tokenizer)
        store = ArtifactStore(tmp_path)
        run_id = store.create_run("served")
        canonicalize(store, run_id, task_of(read_config(RunConfig, _config(byo, byo["student_own"]))),
                     rows=[{"input": {"prompt": p}, "target": "x"} for p in prompts])
        dedup(store, run_id); generate(store, run_id, remote, prof)
    got = store.load(run_id, "generate").to_list()
    stored = sum(len(row_topk(r)[0]) for r in got if r["logprobs_available"])
    assert len(got) == 16 and stored >= 0.95 * want, (shape, stored, want, remote.logprob_stats)
    assert all(r["prompt_ids"] for r in got)  # the prompt as the configured tokenizer encodes it

def test_cli_errors_are_one_line_naming_the_key_or_file(byo, tmp_path, capsys):
    bad = [({"distill": {"student": str(tmp_path/"nope")}}, 2, "distill.student"),
           ({"teacher": {"kind": "hf", "path": str(tmp_path/"nope")}}, 2, "teacher.path"),
           ({"data": {"path": str(tmp_path/"missing.jsonl")}}, 1, "missing.jsonl: no such file")]
    (tmp_path/"broken.jsonl").write_text('{"prompt": "a", "completion": "b"}\n{"prompt": "c"}\n')
    bad.append(({"data": {"path": str(tmp_path/"broken.jsonl")}}, 1, "broken.jsonl, row 2: field 'completion' is missing"))
    for i, (cfg, code, text) in enumerate(bad):
        (tmp_path/f"c{i}.yaml").write_text(yaml.safe_dump(cfg))
        assert main(["run", str(tmp_path/f"c{i}.yaml"), "--artifacts-dir", str(tmp_path/"s"), "--no-progress"]) == code, cfg
        err = capsys.readouterr().err
        assert text in err and "Traceback" not in err, (cfg, err)

def test_cli_without_a_terminal_logs_progress_lines(byo, tmp_path):
    "stderr piped (no terminal): plain timestamped lines for every stage, training and evaluation; no gap over 30 s."
    import subprocess, sys, datetime as dt
    (tmp_path/"run.yaml").write_text(yaml.safe_dump(_config(byo, byo["student_shared"], distill={"steps": 60})))
    r = subprocess.run([sys.executable, "-m", "fastdistill.cli", "run", str(tmp_path/"run.yaml"), "--artifacts-dir",
                        str(tmp_path/"s")], capture_output=True, text=True, timeout=600,
                       env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert r.returncode == 0, r.stderr[-3000:]
    lines = [l for l in r.stderr.splitlines() if l[:2].isdigit() and " INFO " in l]
    for want in ("stage generate: ", "stage select: ", "training student after: KD", "distill (steps 0→60): 60/60 done",
                 "evaluated student after: KD"):
        assert any(want in l for l in lines), (want, r.stderr[-3000:])
    times = [dt.datetime.strptime(l[:8], "%H:%M:%S") for l in lines]
    assert max((b - a).total_seconds() % 86400 for a, b in zip(times, times[1:])) <= 30
    assert "report:" in r.stdout and "plan: token-level KD" in r.stdout
