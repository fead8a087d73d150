"""`fastdistill bench`: the command runs cases in fresh processes and prints one table; missing cases say why."""
import json
import pytest
from fastdistill import bench
from fastdistill.cli import main

def test_bench_command_prints_one_table_and_writes_the_results(tmp_path, capsys):
    out = tmp_path/"bench.json"
    assert main(["bench", "--quick", "--only", "stored top-20", "--no-progress", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "| stored top-20 (V=32000, 8-bit log-probabilities) | bytes per token, packed |" in text
    res = json.loads(out.read_text())
    row = next(r for r in res["figures"] if r["figure"] == "bytes per token, packed")
    assert row["cpu"]["median"] < 80 and res["profile"] == "quick"
    # every raw measurement is kept, one fresh process per case and repetition
    assert [c["case"] for c in res["cases"]] == ["topk_storage"] * 2  # the 8-bit and the 6-bit rows
    assert sorted(c["params"]["bits"] for c in res["cases"]) == [6, 8] and all(len(c["runs"]) == 1 for c in res["cases"])

def test_unavailable_cases_and_empty_selections_are_reported(capsys):
    assert main(["bench", "--only", "no such figure", "--no-progress"]) == 2
    assert "no figure matches" in capsys.readouterr().err
    r = bench.run_case("divergence", {"impl": "fastdistill", "device": "cuda", "B": 1, "T": 1, "V": 4})
    assert r == {"skipped": "no CUDA device"} or "cold_s" in r  # a GPU machine measures it
    res = {"profile": "full", "repeats": 1, "torch": "x", "threads": 2, "cpu_count": 2, "cuda": None,
           "figures": [{"group": "g", "figure": "f", "target": "≤ 1", "cpu": {"unavailable": "TRL is not installed"},
                        "cuda": {"unavailable": "no CUDA device"}}]}
    assert "| g | f | — (TRL is not installed) | — (no CUDA device) | ≤ 1 |  |" in bench.render_table(res)

@pytest.mark.parametrize("args,msg", [
    (["--repeats", "-1"], "--repeats: must be ≥ 1, got -1"), (["--repeats", "0"], "--repeats: must be ≥ 1, got 0"),
    (["--json", "/no/such/folder/out.json"], "no folder /no/such/folder"),
    (["--json", "/proc/out.json"], "/proc/out.json: cannot write there"),
    (["--device", "cuda"], "--device cuda: torch")])
def test_bad_bench_arguments_stop_before_measuring(args, msg, capsys):
    "Before: --repeats -1 printed a table of dashes (exit 0); --device cuda without a GPU printed CPU figures (exit 0);"
    " --json to an unwritable path failed with a traceback after the whole benchmark, its results lost."
    import time, torch
    from fastdistill.bench import main
    if args[0] == "--device" and torch.cuda.is_available(): pytest.skip("a CUDA device is present")
    t0 = time.monotonic()
    with pytest.raises(SystemExit) as e: main(["--quick", "--only", "dense", *args])
    err = capsys.readouterr().err
    assert e.value.code == 2 and msg in err and "Traceback" not in err, err
    assert time.monotonic() - t0 < 5  # refused before any case ran
