"""The model zoo: quick teachers beat untrained twins, the cache is atomic and self-checking."""
import json, os, random, subprocess, sys, warnings
from dataclasses import replace
import pytest, torch
from fastdistill.models import build_model, encode_sft, get_tokenizer, make_batcher, pad_batch
from fastdistill.eval import evaluate
from fastdistill.zoo import get_student, get_teacher, train_supervised
from fastdistill.tasks import get_task

# Margins the quick teachers clear on their headline metric (see the recorded zoo table in nbs/13_zoo.ipynb); the
# generation teacher is also compared on teacher-forced target loss.
MARGIN = {"digits": 0.5, "topics": 0.3, "text2sql": 0.2}

@pytest.mark.parametrize("task", ["digits", "topics", "text2sql"])
def test_quick_teacher_beats_untrained_model_of_same_size(task):
    z = get_teacher(task, profile="quick", progress=False)
    t = get_task(task)
    limit, metric = t.train_config("quick").eval_rows, t.headline_metric
    fresh = build_model(task, "teacher", z.tokenizer, seed=1)
    trained = evaluate(task, z.model, z.tokenizer, limit=limit)[metric]
    untrained = evaluate(task, fresh, z.tokenizer, limit=limit)[metric]
    if t.lower_is_better: assert trained < 0.5 * untrained, (trained, untrained)
    else: assert trained > untrained + MARGIN[task], (trained, untrained)
    assert trained == pytest.approx(z.metric)  # the cached record is what the loaded model scores
    if get_task(task).kind == "generation":  # teacher-forced loss on held-out targets
        t = get_task(task)
        rows = t.rows("test")[:64]
        batch = pad_batch(encode_sft(z.tokenizer, [t.prompt(r) for r in rows], [t.target_text(r) for r in rows], 96), z.tokenizer.pad_token_id)
        with torch.no_grad(): lt, lu = z.model(**batch).loss.item(), fresh(**batch).loss.item()
        assert lt < 0.3 * lu, (lt, lu)

# arith and corpus teachers are read by no notebook or test the suite runs, and their quick budgets cost about 200 s and
# 140 s of CI on 2 cores; their recipe is checked on a bounded budget here, and the zoo benchmark
# (benchmarks/results/zoo_*.json, tabulated in nbs/13_zoo.ipynb) records what the full quick and full budgets reach.
@pytest.mark.parametrize("task,steps,ratio", [("arith", 40, 0.35), ("corpus", 60, 0.85)])
def test_zoo_recipe_on_a_bounded_budget_learns_the_task(task, steps, ratio):
    "The task's own quick config, cut to `steps`: held-out loss falls well below the same architecture untrained."
    t, tok = get_task(task), get_tokenizer(task)
    cfg = replace(t.train_config("quick"), steps=steps)
    model, fresh = build_model(task, "teacher", tok, seed=0), build_model(task, "teacher", tok, seed=0)
    train_supervised(model, make_batcher(t, tok, cfg), cfg, progress=False)
    held = make_batcher(t, tok, replace(cfg, batch_size=64), split="test")(random.Random(0))
    with torch.no_grad(): trained, untrained = model.eval()(**held).loss.item(), fresh.eval()(**held).loss.item()
    assert trained < ratio * untrained, (trained, untrained)

def test_cache_holds_only_safetensors_and_json():
    z = get_teacher("digits", profile="quick", progress=False)
    assert sorted(p.suffix for p in z.path.iterdir()) == [".json", ".json", ".safetensors"]

def test_corrupted_cache_entry_is_retrained_with_a_warning():
    z = get_teacher("digits", profile="quick", progress=False)
    (z.path/"model.safetensors").write_bytes(b"not a safetensors file")
    with pytest.warns(UserWarning, match="corrupted"):
        z2 = get_teacher("digits", profile="quick", progress=False)
    assert z2.path == z.path and z2.metric == pytest.approx(z.metric)
    (z.path/"zoo.json").write_text("{")
    with pytest.warns(UserWarning, match="corrupted"):
        get_teacher("digits", profile="quick", progress=False)

def test_tokenizer_is_deterministic_across_processes(tmp_path):
    code = "from fastdistill.models import train_tokenizer; from fastdistill.tasks import get_task; print(train_tokenizer(get_task('text2sql').texts(), 800).backend_tokenizer.to_str())"
    outs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={**os.environ, "PYTHONHASHSEED": str(s)}).stdout for s in (1, 2)}
    assert len(outs) == 1

def test_alt_tokenizer_really_differs():
    main, alt = get_tokenizer("text2sql"), get_tokenizer("text2sql", "alt")
    assert len(main) != len(alt) and main.pad_token_id != alt.pad_token_id
    assert main("SELECT name FROM singer").input_ids != alt("SELECT name FROM singer").input_ids

def test_unknown_task_or_size_lists_choices():
    with pytest.raises(KeyError, match="choose one of: arith, corpus, digits, text2sql, topics"): get_teacher("squad")
    with pytest.raises(KeyError, match="choose one of: teacher, student, tiny"): get_teacher("arith", size="huge")
    with pytest.raises(ValueError, match="choose one of quick, full"): get_teacher("arith", profile="medium")

def test_topics_teacher_clearly_beats_small_student_trained_on_small_labelled_split():
    """The premise of the topics task: the large teacher beats a small student trained from scratch on the small
    labelled split, and the same student learns clearly more from the large labelled set — so a teacher's labels on
    the transfer set have something to give."""
    task = get_task("topics")
    cfg = task.train_config("quick")
    teacher = get_teacher("topics", profile="quick", progress=False)
    accs = {}
    for split in ("train", "teacher_train"):
        s = get_student("topics", "student-2", seed=0)
        train_supervised(s.model, make_batcher(task, s.tokenizer, cfg, split=split), cfg, progress=False)
        accs[split] = evaluate("topics", s.model, s.tokenizer)["accuracy"]
    assert teacher.metric > accs["train"] + 0.1, (teacher.metric, accs)
    assert accs["teacher_train"] > accs["train"] + 0.1, accs

def test_two_processes_sharing_a_cache_train_an_entry_once(tmp_path):
    "The zoo's cache lock: a second process waits for the first's training and then loads its entry."
    script = f"""
import json, sys, time
from pathlib import Path
from fastdistill.zoo import _cached
folder, log = Path({str(tmp_path/'entry')!r}), Path({str(tmp_path/'trained.log')!r})
def train():
    with log.open("a") as f: f.write(sys.argv[1] + "\\n")
    time.sleep(2)
    folder.mkdir(); (folder/"x.txt").write_text("weights")
    (folder/"zoo.json").write_text(json.dumps({{"files": {{"x.txt": __import__("fastdistill.core").core.file_sha256(folder/"x.txt")}}}}))
    return "trained"
print(_cached(folder, False, lambda info: "loaded", train, threads=1))
"""
    procs = [subprocess.Popen([sys.executable, "-c", script, str(i)], stdout=subprocess.PIPE, text=True) for i in range(2)]
    outs = sorted(p.communicate(timeout=120)[0].strip() for p in procs)
    assert outs == ["loaded", "trained"] and len((tmp_path/"trained.log").read_text().split()) == 1

def test_a_model_folder_missing_its_tokenizer_or_weights_is_named_at_config_time(tmp_path, capsys):
    "Before: a student folder with only config.json failed deep in transformers ('Couldn't instantiate the backend"
    " tokenizer'), naming neither the key nor the folder."
    import yaml
    from fastdistill.cli import main
    from fastdistill.models import ModelFolderError, load_model_folder, model_folder_problem
    from fastdistill.testing import own_tokenizer, tiny_causal_lm
    full = tiny_causal_lm(tmp_path/"full", "llama", own_tokenizer(get_task("text2sql").texts("train")[:50], style="llama"))
    only_cfg = tmp_path/"only_cfg"; only_cfg.mkdir(); (only_cfg/"config.json").write_text((full/"config.json").read_text())
    no_weights = tmp_path/"no_weights"; no_weights.mkdir()
    for f in full.iterdir():
        if not f.name.endswith(".safetensors"): (no_weights/f.name).write_bytes(f.read_bytes())
    (no_weights/"pytorch_model.bin").write_bytes(b"x")
    assert model_folder_problem(full) is None
    assert model_folder_problem(only_cfg).startswith("no tokenizer files")
    assert "found pytorch_model.bin: pickle files are not loaded" in model_folder_problem(no_weights)
    with pytest.raises(ModelFolderError, match=r"distill.student '.*only_cfg': no tokenizer files"):
        load_model_folder(only_cfg, "distill.student")
    (tmp_path/"run.yaml").write_text(yaml.safe_dump({"distill": {"student": str(only_cfg)}}))
    assert main(["run", str(tmp_path/"run.yaml"), "--artifacts-dir", str(tmp_path/"a"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "distill.student: " in err and "only_cfg" in err and "no tokenizer files" in err and "Traceback" not in err
