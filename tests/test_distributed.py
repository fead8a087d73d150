"""The Distiller under DDP (two CPU processes on gloo) against one process with the same global batch."""
import json, os, subprocess, sys
from pathlib import Path
import pytest
from safetensors.torch import load_file

SCRIPT = Path(__file__).parent/"scripts"/"ddp_digits.py"
TOL = 1e-5  # float32 sums in another order; measured differences are ≈ 6e-8 after 25 AdamW steps

def _run(cmd, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env, cwd=tmp_path)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]

@pytest.mark.timeout(900)
def test_ddp_matches_single_process(tmp_path):
    one, two = tmp_path/"one", tmp_path/"two"
    _run([sys.executable, str(SCRIPT), str(one)], tmp_path)
    # `accelerate launch --num_processes 2 --cpu` starts a single process unless mpirun is set up (accelerate's simple
    # launcher); `--multi_gpu` starts torchrun, and the Distiller's Accelerator(cpu=True) runs DDP on gloo.
    _run([sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
          "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", "29517", str(SCRIPT), str(two)], tmp_path)
    h1, h2 = (json.loads((d/"history.json").read_text()) for d in (one, two))
    assert (h1["processes"], h2["processes"], h2["backend"]) == (1, 2, "gloo")
    w1, w2 = (load_file(str(d/"weights.safetensors")) for d in (one, two))
    assert w1.keys() == w2.keys() and any(k.startswith("modules.") for k in w1)  # the hint projection is compared too
    diffs = {k: float((w1[k] - w2[k]).abs().max()) for k in w1}
    assert max(diffs.values()) < TOL, diffs
    assert max(abs(a["loss"] - b["loss"]) for a, b in zip(h1["rows"], h2["rows"])) < TOL
    # and the run really trained: the weights moved from their initialisation in both
    assert h1["rows"][-1]["loss"] < h1["rows"][0]["loss"]

@pytest.mark.timeout(900)
def test_fastdistill_run_as_two_processes_is_one_pipeline_and_the_same_student(tmp_path):
    "`fastdistill run` launched as two CPU processes (torchrun through accelerate) against one process."
    import yaml
    from fastdistill.artifacts import ArtifactStore
    cfg = {"run_id": "two", "limit": 16, "decode": {"n": 1, "max_tokens": 48}, "gate": {"mode": "warn"},
           "distill": {"steps": 12, "batch_size": 16, "baseline": False}, "eval": {"limit": 12, "speed_prompts": 0}}
    (tmp_path/"run.yaml").write_text(yaml.safe_dump(cfg))
    one, two = tmp_path/"one", tmp_path/"two"
    _run([sys.executable, "-m", "fastdistill.cli", "run", str(tmp_path/"run.yaml"), "--artifacts-dir", str(one),
          "--no-progress"], tmp_path)
    _run([sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
          "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", "29518", "-m", "fastdistill.cli",
          "run", str(tmp_path/"run.yaml"), "--artifacts-dir", str(two), "--no-progress"], tmp_path)
    s1, s2 = (json.loads((d/"runs"/"two"/"reports"/"summary.json").read_text()) for d in (one, two))
    store = ArtifactStore(two)
    assert store.runs() == ["two"] and len(store.load("two", "generate")) == 16  # one pipeline, not one per process
    assert "2 process(es)" in (two/"runs"/"two"/"run.log").read_text()
    # both trained the same student: the held-out KL to the teacher moved from the untrained value by the same amount
    # (within 2 % of the move). Weights are not compared elementwise: each process averages its KD and SFT losses over
    # its own tokens (a mean of means, not the global mean), and AdamW turns small gradient differences into ±lr steps.
    e1, e2 = ({e["key"]: e for e in s["evaluation"]} for s in (s1, s2))
    moved = e1["student-untrained"]["heldout_kl"] - e1["student-kd-sft"]["heldout_kl"]
    assert moved > 0.3 and abs(e1["student-kd-sft"]["heldout_kl"] - e2["student-kd-sft"]["heldout_kl"]) < 0.02 * moved
    assert abs(e1["student-kd-sft"]["token_agreement"] - e2["student-kd-sft"]["token_agreement"]) < 0.01
    w2 = load_file(str(two/"runs"/"two"/"students"/"student-kd-sft"/"model.safetensors"))  # saved once, whole
    assert set(w2) == set(load_file(str(one/"runs"/"two"/"students"/"student-kd-sft"/"model.safetensors")))
