"""The mutation check's list stays applicable: every variant's text occurs exactly once in the current package.

The check itself (`python tools/mutants.py`, about a minute) runs as its own step in `.ci/run`; this test only
keeps the list from rotting silently when a method's code changes.
"""
import importlib.util, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("mutants", ROOT/"tools"/"mutants.py")
mutants = importlib.util.module_from_spec(spec); sys.modules["mutants"] = mutants; spec.loader.exec_module(mutants)

@pytest.mark.parametrize("m", mutants.MUTANTS, ids=lambda m: f"{m.method}/{m.name}")
def test_variant_applies_and_changes_the_code(m):
    new = mutants.check_applies(m)
    assert new != (ROOT/m.file).read_text()
    compile(new, m.file, "exec")  # the variant is still Python

def test_every_method_notebook_has_at_least_three_variants():
    methods = [p.stem for p in (ROOT/"fastdistill"/"methods").glob("*.py") if not p.stem.startswith("_")]
    counts = {k: sum(m.method == k for m in mutants.MUTANTS) for k in mutants.SELECT}
    covered = {"hinton", "fitnets", "born_again", "lit", "sparse_kd", "distilbert", "pkd", "minilm", "minilmv2", "tinybert",
               "transformer_compare", "dataset_distillation", "mtt", "generative_prior"}
    assert covered == set(methods)  # a new method notebook brings its own variants
    assert all(counts[k] >= 3 for k in covered | {"losses", "seeds", "synthetic"}), counts
    assert set(counts) == set(mutants.SELECT) and all(m.method in mutants.SELECT for m in mutants.MUTANTS)
