"""Recorded tables are data: every method study has stored results that match its profiles, and no table is typed.

Whether a stored quick file is reproduced bit for bit is checked where the quick run already happens: each method
notebook's table is `reproduce(STUDY, profile)`, which compares the fresh rows with `<study>-quick.json` and asserts
they are identical when the machine fingerprint (processor, instruction set, torch, threads) is the one that stored
them (`tests/test_notebooks.py` runs every notebook). This module checks the files and the notebooks' wiring.
"""
import json, re
from pathlib import Path
import pytest
from fastdistill.results import FINGERPRINT, get_study, read_results, results_path, STUDIES

ROOT = Path(__file__).resolve().parent.parent
get_study("fitnets")  # imports every method module, which registers its study
METHODS = sorted(n for n in STUDIES if (ROOT/"nbs"/"methods"/f"{n}.ipynb").exists())

def test_every_method_notebook_has_a_study():
    nbs = sorted(p.stem for p in (ROOT/"nbs"/"methods").glob("*.ipynb"))
    assert METHODS == nbs, (METHODS, nbs)

@pytest.mark.parametrize("profile", ["quick", "full"])
@pytest.mark.parametrize("name", METHODS)
def test_stored_results_match_the_study(name, profile):
    s = get_study(name)
    doc = read_results(results_path(name, profile, ROOT), name)
    assert doc["profile"] == profile and doc["keys"] == list(s.keys)
    assert doc["config"] == s.config(profile), "the profile changed since the file was stored: regenerate it"
    keys = [tuple(json.dumps(r.get(k)) for k in s.keys) for r in doc["rows"]]
    assert len(keys) == len(set(keys)) and keys, "rows must be unique by the study's keys"
    seeds = {r["seed"] for r in doc["rows"] if r.get("seed") is not None}
    assert set(doc["config"]["seeds"]) <= seeds, (doc["config"]["seeds"], seeds)
    assert all(doc["machine"].get(k) for k in ("fastdistill", "commit", *FINGERPRINT)), doc["machine"]
    assert "dirty" not in str(doc["machine"]["commit"]), "results must come from committed code"

@pytest.mark.parametrize("name", METHODS)
def test_notebook_renders_from_its_results_and_reproduces_its_quick_run(name):
    cells = json.loads((ROOT/"nbs"/"methods"/f"{name}.ipynb").read_text())["cells"]
    code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
    assert "reproduce(STUDY, profile" in code and "assert rep.exact" in code
    assert f'recorded("{name}", "full")' in code

@pytest.mark.parametrize("nb", sorted((ROOT/"nbs"/"methods").glob("*.ipynb")), ids=lambda p: p.stem)
def test_no_typed_results_tables(nb):
    "A markdown table row holding two or more measured-looking numbers (0.9059, 0.0031) is a typed result."
    cells = json.loads(nb.read_text())["cells"]
    rows = [line for c in cells if c["cell_type"] == "markdown" for line in "".join(c["source"]).splitlines()
            if line.startswith("|") and len(re.findall(r"\b\d\.\d{3,}\b", line)) >= 2]
    assert not rows, rows

@pytest.mark.parametrize("args,msg", [(["--threads", "-3"], "threads must be a whole number ≥ 1, got -3"),
                                      (["--tol", "nan"], "tol must be a finite number ≥ 0, got nan"),
                                      (["--tol", "-1"], "tol must be a finite number ≥ 0, got -1.0")])
def test_reproduce_refuses_bad_threads_and_tolerances_in_one_line(args, msg, capsys):
    "Before: --threads -3 crashed with a traceback; --tol nan called every difference identical."
    from fastdistill.cli import main
    assert main(["reproduce", "fitnets", "--profile", "quick", *args]) == 2
    err = capsys.readouterr().err
    assert err.strip() == f"fastdistill: {msg}", err

def test_a_stored_results_file_holding_nan_is_refused(tmp_path):
    "Before: NaN in a stored file compared as identical to any fresh value."
    from fastdistill.results import ResultsError, diff_rows
    doc = json.loads(results_path("fitnets", "quick", ROOT).read_text())
    doc["rows"][0][next(k for k, v in doc["rows"][0].items() if isinstance(v, float))] = float("nan")
    (tmp_path/"fitnets-quick.json").write_text(json.dumps(doc))  # json writes NaN
    with pytest.raises(ResultsError, match="fitnets-quick.json: holds NaN"): read_results(tmp_path/"fitnets-quick.json")
    assert diff_rows([{"k": 1, "v": float("nan")}], [{"k": 1, "v": float("nan")}], ("k",)) == ["k=1: v nan → nan (+nan)"]

def test_a_quick_study_reproduces_from_an_empty_model_cache_whatever_threads_filled_the_first(tmp_path, monkeypatch):
    """Before: zoo models trained on whatever threads the process had, so a cache filled by another process (here two
    threads) gave other weights than an empty cache, and the results file did not say which models it used. Now every
    zoo model trains on its profile's pinned threads (`ZOO_THREADS`, part of its cache key), the file pins the models
    (folder, key hash, threads, weights hash), and `reproduce` from an empty cache is exact, models included."""
    from fastdistill.models import torch_threads
    from fastdistill.results import reproduce
    from fastdistill.zoo import ZOO_THREADS, get_generator
    root = tmp_path/"project"
    monkeypatch.setenv("FASTDISTILL_MODEL_CACHE_DIR", str(tmp_path/"cache-a"))
    with torch_threads(2): filled = get_generator("quick", progress=False)  # another process, two threads
    assert filled.info["key"]["threads"] == filled.info["train"]["torch_threads"] == ZOO_THREADS["quick"] == 1
    other = get_generator("quick", progress=False, threads=2)  # asked for explicitly: its own entry, named in its key
    assert other.path != filled.path and other.info["key"]["threads"] == other.info["train"]["torch_threads"] == 2
    first = reproduce("generative_prior", "quick", root=root, write=True, threads=1)
    doc = read_results(first.path, "generative_prior")
    assert [(m["folder"], m["threads"], m["weights_sha256"]) for m in doc["models"]] == \
        [(filled.path.name, 1, filled.info["files"]["model.safetensors"])]
    monkeypatch.setenv("FASTDISTILL_MODEL_CACHE_DIR", str(tmp_path/"cache-b"))
    with torch_threads(2): again = reproduce("generative_prior", "quick", root=root)
    assert (tmp_path/"cache-b"/"zoo"/filled.path.name).is_dir()  # trained afresh into the empty cache
    assert again.exact and again.models == doc["models"], again.summary()
    # a file pinning other weights is reported as such, before any row
    doc["models"][0]["weights_sha256"] = "0" * 64
    first.path.write_text(json.dumps(doc))
    moved = reproduce("generative_prior", "quick", root=root)
    assert not moved.exact and moved.summary().splitlines()[1].strip().startswith(
        f"zoo model {filled.path.name}: weights_sha256 000000000000 → "), moved.summary()
