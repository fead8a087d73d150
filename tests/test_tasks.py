"""Determinism, safety and coverage of the bundled tasks."""
import json, os, re, subprocess, sys, time
from pathlib import Path
import pytest
from fastdistill.tasks import SQL_SCHEMAS, TASKS, execute_sql, get_task

ALL = ["text2sql", "arith", "topics", "corpus", "digits"]

def _files_in_other_process(name, seed, folder):
    code = f"from fastdistill.tasks import get_task; get_task({name!r}, seed={seed}).write_files({str(folder)!r})"
    subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ, "PYTHONHASHSEED": "4242"}, timeout=300)
    return {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}

@pytest.mark.parametrize("name", ALL)
def test_same_seed_gives_byte_identical_files_across_processes(name, tmp_path):
    a = _files_in_other_process(name, 1, tmp_path/"a")
    b = _files_in_other_process(name, 1, tmp_path/"b")
    assert a.keys() == b.keys() and len(a) >= 2
    for k in a: assert a[k] == b[k], f"{name}: {k} differs between two processes"
    if name == "text2sql": assert sum(str(k).endswith(".sqlite") for k in a) == len(SQL_SCHEMAS)

@pytest.mark.parametrize("name", ["text2sql", "arith", "topics", "digits"])
def test_identical_splits_across_processes(name):
    code = f"import json; from fastdistill.tasks import get_task; print(json.dumps({{r['sample_id']: r['split'] for r in get_task({name!r}).rows()}}))"
    other = json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                                      env={**os.environ, "PYTHONHASHSEED": "7"}).stdout)
    assert other == {r["sample_id"]: r["split"] for r in get_task(name).rows()}

def test_other_seed_gives_other_data():
    assert get_task("text2sql", seed=1).manifest()["content_hash"] != get_task("text2sql", seed=2).manifest()["content_hash"]

def test_text2sql_coverage_and_every_gold_query_returns_rows(tmp_path):
    t = get_task("text2sql", db_dir=tmp_path)
    rows = t.rows()
    assert len(SQL_SCHEMAS) >= 5
    assert len({r["template"].split(".")[-1] for r in rows}) >= 30
    sql = " ".join(r["target"] for r in rows)
    for kw in ("JOIN", "GROUP BY", "HAVING", "ORDER BY", "LIMIT", "WHERE", "COUNT(", "AVG(", "DISTINCT", "NOT IN"):
        assert kw in sql, kw
    for r in rows:
        g = t.gold(r)
        assert g.ok and g.rows, (r["target"], g)

@pytest.mark.parametrize("sql,expected", [
    ("DROP TABLE singer", {"denied"}),
    ("ATTACH DATABASE '/tmp/fd-evil.sqlite' AS evil", {"denied"}),
    ("DELETE FROM singer", {"denied"}),
    ("UPDATE singer SET age = 0", {"denied"}),
    ("CREATE TABLE x (a)", {"denied"}),
    ("SELECT 1; DROP TABLE singer", {"runtime", "denied"}),
    ("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT COUNT(*) FROM c", {"timeout"}),
    ("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT x FROM c", {"timeout", "too_many_rows"}),
])
def test_untrusted_sql_is_refused_or_stopped_and_database_unchanged(tmp_path, sql, expected):
    t = get_task("text2sql", db_dir=tmp_path)
    db = t.db_path("concert")
    before = db.read_bytes()
    t0 = time.monotonic()
    r = execute_sql(db, sql, timeout=0.5)
    assert not r.ok and r.error in expected, r
    assert time.monotonic() - t0 < 1.5
    assert db.read_bytes() == before
    assert execute_sql(db, "SELECT COUNT(*) FROM singer").rows == [(16,)]
    assert not Path("/tmp/fd-evil.sqlite").exists()

def test_results_match_ignores_row_order(tmp_path):
    t = get_task("text2sql", db_dir=tmp_path)
    row = next(r for r in t.rows() if r["template"] == "a.list" and r["input"]["db_id"] == "shop")
    assert t.score_one("SELECT name FROM customer ORDER BY name DESC", row)["result_match"]
    assert not t.score_one("SELECT name FROM customer LIMIT 3", row)["result_match"]

def test_unknown_task_and_split_list_choices():
    with pytest.raises(KeyError, match="choose one of: arith, corpus, digits, text2sql, topics"): get_task("squad")
    with pytest.raises(KeyError, match="unknown split 'dev'.*train, valid, test"): get_task("digits").rows("dev")

def test_topics_splits_give_a_small_labelled_set_and_a_large_transfer_set():
    t = get_task("topics")
    sizes = {k: len(t.rows(k)) for k in t.splits}
    assert sizes["unlabeled"] > 15 * sizes["train"] and sizes["teacher_train"] > 15 * sizes["train"]

def test_arith_levels_and_rationales_are_consistent():
    from fastdistill.tasks import extract_answer
    t = get_task("arith")
    for r in t.rows()[:: 97]:
        steps = r["rationale"].split(" . ")
        assert len([s for s in steps if "=" in s]) == r["level"]
        assert extract_answer(r["target"]) == r["answer"]
        assert 0 <= r["answer"] <= 99

def _notebook_cell(nb: str, marker: str) -> str:
    cells = json.loads((Path(__file__).resolve().parent.parent/"nbs"/nb).read_text())["cells"]
    return next("".join(c["source"]) for c in cells if "".join(c["source"]).startswith(marker))

def test_a_task_added_in_one_class_runs_the_whole_job(tmp_path):
    "The tasks notebook's toy task — one class, no other module touched — goes through zoo, pipeline, KD and evaluation."
    import fastdistill.tasks as T
    from fastdistill.methods.sparse_kd import run
    src = _notebook_cell("02_tasks.ipynb", "# toy task: Reverse")
    assert len(src.splitlines()) <= 40
    exec(src, vars(T).copy())  # as the notebook runs it: in the tasks module's namespace
    try:
        s = run({"task": "reverse", "limit": 40, "decode": {"max_tokens": 16}, "gate": {"min_exec_pass_rate": 0.0},
                 "select": {"require_gold_match": False}, "distill": {"steps": 20, "batch_size": 8}, "eval": {"limit": 20}},
                artifacts_dir=tmp_path)
    finally: T.TASKS.pop("reverse", None)
    rec = {r["stage"]: r for r in s["stages"]}
    assert all(r["balanced"] for r in s["stages"]) and rec["canonical"]["input"] == 40 and rec["generate"]["output"] == 80
    from fastdistill.artifacts import ArtifactStore
    from fastdistill.pipeline import kept_rows
    answered = {r["sample_id"] for r in kept_rows(ArtifactStore(tmp_path), s["run_id"], "exec_gate")}
    # best of n, no gold requirement: one candidate for every question with a passing candidate, none for the others
    assert rec["select"]["kept"] == len(answered) >= 36, (rec["select"], len(answered))
    assert s["metric"] == "exact_match"
    assert [e["key"] for e in s["evaluation"]] == ["teacher", "student-untrained", "student-kd-sft", "student-sft"]
    assert all(e["n"] == 20 and "exact_match" in e for e in s["evaluation"])
    assert s["kd_data"]["rows"] == len(answered) == s["kd_data"]["stored top-k"] + s["kd_data"]["re-scored"]

def test_generated_rows_are_built_once_per_process_and_key():
    "Instances with the same build key share one build; another seed or size builds its own; file tasks never share."
    from fastdistill.tasks import PromptCompletion
    a, b = get_task("topics", n=300), get_task("topics", n=300)
    assert a is not b and a.rows() is not None and a._rows is b._rows
    assert get_task("topics", n=300, seed=1)._rows is not a._rows and len(get_task("topics", n=200).rows()) == 200
    rows = [{"prompt": "p1", "completion": "c1"}, {"prompt": "p2", "completion": "c2"}]
    assert PromptCompletion(rows)._rows is not PromptCompletion(rows)._rows

# ---------------------------------------------------------------- a user's own rows and databases: clear errors
def _user_sql(tmp_path, rows, dbs=("concert",)):
    from fastdistill.tasks import UserText2SQL, build_database
    folder = tmp_path/"dbs"
    for db in dbs: build_database(db, folder/f"{db}.sqlite")
    return UserText2SQL(rows, folder, question_field="q", target_field="sql", db_field="db", source="mine.jsonl")

def test_user_database_id_cannot_leave_the_sqlite_folder(tmp_path):
    "Before: a row's db_id '../other/db' opened a database outside sqlite_dir."
    from fastdistill.tasks import TaskDataError, build_database
    build_database("concert", tmp_path/"other"/"db.sqlite")  # a real database, outside the folder
    for bad in ("../other/db", "/abs/db", ".."):
        with pytest.raises(TaskDataError, match=r"mine.jsonl, row 1: database .* not a path"):
            _user_sql(tmp_path, [{"q": "how many?", "sql": "SELECT 1", "db": bad}]).build()

@pytest.mark.parametrize("content,why", [(b"not a database at all\n" * 10, "is not an SQLite database"),
                                         (b"SQLite format 3\x00" + b"\xff" * 2000, "cannot be opened as SQLite"),
                                         (b"", "is not an SQLite database")])
def test_a_sqlite_file_that_is_not_a_database_is_named(tmp_path, content, why):
    "Before: a *.sqlite file that was not a database gave exit 0 and '0 selected', naming no file."
    from fastdistill.tasks import TaskDataError
    t = _user_sql(tmp_path, [{"q": "how many?", "sql": "SELECT 1", "db": "concert"}, {"q": "x", "sql": "SELECT 1", "db": "junk"}])
    (tmp_path/"dbs"/"junk.sqlite").write_bytes(content)
    with pytest.raises(TaskDataError, match=rf"mine.jsonl, row 2: database file .*junk.sqlite: {why}"): t.build()
    # the same file turning bad after the rows were built: the execution gate names it, it does not score 0
    (tmp_path/"dbs"/"junk.sqlite").unlink()
    good = _user_sql(tmp_path, [{"q": "x", "sql": "SELECT count(*) FROM singer", "db": "concert"}])
    row = good.build()[0]
    assert good.score_one("SELECT count(*) FROM singer", row)["exec_pass"]
    db = tmp_path/"dbs"/"concert.sqlite"; db.write_bytes(content); os.utime(db, ns=(1, 1))
    with pytest.raises(TaskDataError, match=rf"database file .*concert.sqlite: {why}"): good.score_one("SELECT 1", row)

def test_user_rows_of_the_wrong_type_are_named_not_stringified(tmp_path):
    "Before: Parquet prompts 0 and [0, 0] were stored as the text '0' and '[0, 0]'."
    import pyarrow as pa, pyarrow.parquet as pq
    from fastdistill.tasks import DataConfig, TaskDataError, user_task
    pq.write_table(pa.Table.from_pylist([{"prompt": "ok", "completion": "a"}]), tmp_path/"ok.parquet")
    for prompt, shown in ((0, "int 0"), ([0, 0], "list [0, 0]")):
        pq.write_table(pa.Table.from_pylist([{"prompt": prompt, "completion": "a"}] * 2), tmp_path/"bad.parquet")
        with pytest.raises(TaskDataError, match=rf"bad.parquet, row 1: field 'prompt' must be text, got {re.escape(shown)}"):
            user_task(DataConfig(path=str(tmp_path/"bad.parquet"))).rows()
    assert user_task(DataConfig(path=str(tmp_path/"ok.parquet"))).rows()[0]["input"] == {"prompt": "ok"}
    # CSV values are the text in the file: a numeric-looking completion keeps its leading zeros
    (tmp_path/"n.csv").write_text("prompt,completion\nwhat is 3+4?,007\n")
    assert [r["target"] for r in user_task(DataConfig(path=str(tmp_path/"n.csv"))).rows()] == ["007"]
    (tmp_path/"ragged.csv").write_text("prompt,completion\na,b,c\n")
    with pytest.raises(TaskDataError, match="ragged.csv, line 2: more values than the header"):
        user_task(DataConfig(path=str(tmp_path/"ragged.csv")))
