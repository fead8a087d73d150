"""`fastdistill bench`: the command runs cases in fresh processes and prints one table; missing cases say why."""
import json
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
