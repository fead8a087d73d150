"""Every notebook is a test: run each one with papermill on its quick parameters."""
import json, os, re
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted([ROOT/"index.ipynb", *(p for p in (ROOT/"nbs").rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)])
NOTEBOOK_TIMEOUT = int(os.environ.get("FASTDISTILL_NOTEBOOK_TIMEOUT", "900"))  # seconds per notebook

def _parameters_cell(nb_path):
    cells = json.loads(nb_path.read_text())["cells"]
    return next((c for c in cells if "parameters" in c.get("metadata", {}).get("tags", [])), None)

@pytest.mark.parametrize("nb", [p for p in NOTEBOOKS if p.name != "index.ipynb"], ids=lambda p: str(p.relative_to(ROOT)))
def test_notebook_has_quick_parameters(nb):
    cell = _parameters_cell(nb)
    assert cell is not None, f"{nb.relative_to(ROOT)} has no cell tagged 'parameters'"
    src = "".join(cell["source"])
    assert re.search(r'^profile: str = "quick"', src, re.M), f"{nb.relative_to(ROOT)}: parameters must default to the quick profile"
    # typed, so `papermill --help-notebook` shows each parameter's type
    untyped = [l for l in src.splitlines() if re.match(r"^\w+\s*=", l)]
    assert not untyped, f"{nb.relative_to(ROOT)}: parameters without a type annotation: {untyped}"

@pytest.mark.notebook
@pytest.mark.timeout(NOTEBOOK_TIMEOUT)
@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: str(p.relative_to(ROOT)))
def test_notebook_runs_quick(nb, tmp_path):
    import papermill as pm
    params = {"profile": "quick"} if _parameters_cell(nb) is not None else {}
    out = Path(os.environ.get("FASTDISTILL_EXECUTED_DIR", tmp_path))/nb.relative_to(ROOT)
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(f".running-{os.getpid()}-{out.name}")  # papermill writes as it goes; the docs-site test
    pm.execute_notebook(str(nb), str(partial), parameters=params, kernel_name="python3",  # (maybe on another worker)
                        cwd=str(nb.parent), execution_timeout=NOTEBOOK_TIMEOUT, progress_bar=False)  # sees only whole
    partial.replace(out)  # executed notebooks; a failed one stays as .running-* for a person to read
