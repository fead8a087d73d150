"""Crash, corruption, lineage and bad-input behaviour of the artifact store."""
import json, random, signal, subprocess, sys, textwrap, time
from pathlib import Path
import pytest
from fastdistill.artifacts import ArtifactError, ArtifactStore

WRITER = textwrap.dedent("""
    import sys, time
    from fastdistill.artifacts import ArtifactStore
    store = ArtifactStore(sys.argv[1])
    run = store.create_run("crash", config={"n": 300})
    rows = [{"sample_id": f"id{i:04d}", "x": i, "tokens": list(range(i % 7)), "logprobs": [-0.5] * (i % 7)} for i in range(300)]
    with store.writer(run, "generate") as w:
        todo = w.remaining(rows)
        print("resuming with", len(w), "stored", flush=True)
        for i in range(0, len(todo), 15):
            w.append(todo[i:i+15])
            time.sleep(float(sys.argv[2]))
    print("done", flush=True)
""")

@pytest.mark.parametrize("kill_after", [0.05, 0.37, 0.81, 1.33])
def test_sigkill_mid_stage_then_resume_stores_each_row_once(tmp_path, kill_after):
    p = subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path), "0.1"], stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().startswith("resuming with 0")
    time.sleep(kill_after)  # the writer is somewhere inside a shard write or a sleep
    assert p.poll() is None, "the writer finished before it could be killed; slow it down"
    p.send_signal(signal.SIGKILL)
    p.wait(timeout=10)
    store = ArtifactStore(tmp_path)
    assert not store.has_stage("crash", "generate")  # readers never see the partial stage
    with pytest.raises(ArtifactError, match="not finished"): store.load("crash", "generate")
    out = subprocess.run([sys.executable, "-c", WRITER, str(tmp_path), "0"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    stored_before = int(out.stdout.split()[2])
    ds = store.load("crash", "generate")
    ids = ds["sample_id"]
    assert len(ids) == 300 and set(ids) == {f"id{i:04d}" for i in range(300)}
    assert store.manifest("crash", "generate").row_count == 300
    assert store.verify("crash", "generate").ok
    assert stored_before % 15 == 0  # only whole shards survive a kill

def _stage(tmp_path, n=120):
    store = ArtifactStore(tmp_path)
    run = store.create_run("r1")
    rows = [{"sample_id": f"s{i:04d}", "text": f"teacher answer number {i}", "score": i / 7} for i in range(n)]
    store.write_stage(run, "clean", rows, shard_size=40)
    return store, run

def test_verify_detects_any_flipped_byte_and_names_stage(tmp_path):
    store, run = _stage(tmp_path)
    shard = store.stage_dir(run, "clean")/"shards"/"shard-00001.arrow"
    original = shard.read_bytes()
    rng = random.Random(0)
    for pos in rng.sample(range(len(original)), 25):
        data = bytearray(original); data[pos] ^= 1 << rng.randrange(8)
        shard.write_bytes(bytes(data))
        v = store.verify(run, "clean")
        assert not v.ok and v.stage == "clean" and "shard-00001.arrow" in repr(v), (pos, v)
    shard.write_bytes(original)
    assert store.verify(run, "clean").ok

def test_verify_names_changed_rows_and_missing_shards(tmp_path):
    store, run = _stage(tmp_path)
    d = store.stage_dir(run, "clean")/"shards"
    data = bytearray((d/"shard-00002.arrow").read_bytes())
    data[data.find(b"number 93")+7] = ord("8")  # "number 93" -> "number 83"
    (d/"shard-00002.arrow").write_bytes(bytes(data))
    (d/"shard-00000.arrow").unlink()
    v = store.verify(run, "clean")
    assert v.changed_keys == ["s0093"]
    assert any("shard shard-00000.arrow is missing" in p for p in v.problems)
    assert any("40 row(s) missing" in p for p in v.problems)

@pytest.mark.parametrize("garbage,line", [("not a hash file\n", 1), ("s0000\tabc\n", 1), (b"\xff\xfe\x00", None),
                                          ("s0000\t" + "a" * 64 + "\nno tab here\n", 2)])
def test_verify_reports_garbage_row_hashes_instead_of_crashing(tmp_path, garbage, line):
    "Before: a row_hashes.tsv without tabs crashed verify with a ValueError from dict()."
    store, run = _stage(tmp_path)
    f = store.stage_dir(run, "clean")/"row_hashes.tsv"
    f.write_bytes(garbage if isinstance(garbage, bytes) else garbage.encode())
    v = store.verify(run, "clean")
    want = f"row_hashes.tsv, line {line}: expected" if line else "row_hashes.tsv is unreadable"
    assert not v.ok and any(p.startswith(want) for p in v.problems), v.problems
    with pytest.raises(ArtifactError, match="was changed after it was written"): store.check(run, "clean", full=True)

def test_lineage_of_three_runs_in_order(tmp_path):
    store = ArtifactStore(tmp_path)
    a = store.create_run("teacher-run")
    b = store.create_run("student-gen1", parent_run_id=a)
    c = store.create_run("student-gen2", parent_run_id=b)
    store.create_run("sibling", parent_run_id=a)
    assert store.lineage(c) == [a, b, c]
    assert store.ancestors(c) == [b, a]
    assert store.descendants(a)[:2] == [b, "sibling"] or store.descendants(a)[:2] == ["sibling", b]
    assert set(store.descendants(a)) == {b, c, "sibling"}

def _nothing_written(store, run):
    d = store.run_dir(run)
    return [p.name for p in d.iterdir() if p.name != "run.json"] == []

@pytest.mark.parametrize("content,message", [
    ('{"sample_id": "a", "x": 1}\n{"sample_id": "b", "x": 2\n', "data.jsonl:2: invalid JSON"),
    ('{"sample_id": "a"}\n\n{"x": 2}\n', "data.jsonl:3: missing required field(s) 'sample_id'"),
    ('{"sample_id": "a", "lp": Infinity}\n', "data.jsonl:1: invalid JSON (Infinity is not allowed)"),
    ('[1, 2]\n', "data.jsonl:1: expected a JSON object"),
    ('{"sample_id": "a"}\n{"sample_id": "a"}\n', "data.jsonl:2: duplicate sample_id 'a' (first at line 1)"),
])
def test_bad_jsonl_is_refused_and_nothing_written(tmp_path, content, message):
    store = ArtifactStore(tmp_path/"store")
    run = store.create_run("imp")
    f = tmp_path/"data.jsonl"; f.write_text(content)
    with pytest.raises(ArtifactError) as e: store.import_jsonl(f, run, "inputs")
    assert message in str(e.value)
    assert _nothing_written(store, run)

@pytest.mark.parametrize("run_id", ["../escape", "a/b", "..", "x..y", "/abs", ".hidden"])
def test_invalid_run_ids_refused_before_touching_disk(tmp_path, run_id):
    store = ArtifactStore(tmp_path)
    with pytest.raises(ValueError, match="invalid run_id"): store.create_run(run_id)
    assert list((tmp_path/"runs").iterdir()) == []

def test_empty_string_run_id_is_invalid(tmp_path):
    from fastdistill.core import validate_name
    with pytest.raises(ValueError, match="invalid run_id"): validate_name("")

def test_finished_stage_is_not_overwritten(tmp_path):
    store, run = _stage(tmp_path, n=5)
    with pytest.raises(ArtifactError, match="already finished"): store.writer(run, "clean")

def test_jsonl_round_trip_keeps_content_hash(tmp_path):
    store, run = _stage(tmp_path, n=50)
    out = store.export_jsonl(run, "clean", tmp_path/"out.jsonl")
    r2 = store.create_run("r2", parent_run_id=run)
    assert store.import_jsonl(out, r2, "clean").content_hash == store.manifest(run, "clean").content_hash

@pytest.mark.parametrize("name", ["scores.partial", "x.PARTIAL"])
def test_a_stage_name_cannot_alias_another_stages_unfinished_folder(tmp_path, name):
    "Before: stage 'scores.partial' was accepted; writing 'scores' then took its rows over and it disappeared."
    store = ArtifactStore(tmp_path)
    run = store.create_run("alias")
    with pytest.raises(ValueError, match="reserved"): store.write_stage(run, name, [{"sample_id": "a", "x": 1}])
    with pytest.raises(ValueError, match="reserved"): store.writer(run, name)
    assert not any(p.name.lower().endswith(".partial") for p in store.run_dir(run).iterdir())
    store.write_stage(run, "scores", [{"sample_id": "a", "x": 1}, {"sample_id": "b", "x": 2}])
    store.write_stage(run, "scores2", [{"sample_id": "c", "x": 3}])
    assert [r["x"] for r in store.load(run, "scores").to_list()] == [1, 2]
    assert [r["x"] for r in store.load(run, "scores2").to_list()] == [3]
