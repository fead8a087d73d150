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
