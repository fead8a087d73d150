"""Method recipes: what is robust at small scale (the notebooks assert their own results when the suite runs them)."""
import copy
import pytest
import torch
from fastdistill.artifacts import ArtifactStore
from fastdistill.distiller import run_signals
from fastdistill.methods.born_again import born_again, load_generation, chain_report
from fastdistill.methods.fitnets import train_fitnet
from fastdistill.methods.hinton import digits_transfer, hard_label_term
from fastdistill.methods.lit import ResidualMLP, lit_term
from fastdistill.zoo import get_teacher

pytestmark = pytest.mark.xdist_group("methods")  # its module fixtures train once, on one worker

@pytest.fixture(scope="module")
def data(): return digits_transfer()

def test_born_again_chain_of_three_is_a_lineage_with_teacher_swap(tmp_path, data):
    store = ArtifactStore(tmp_path)
    chain = born_again(store, data, generations=2, steps=30, hidden=(16,), seed=0)
    assert len(chain) == 3 and store.lineage(chain[-1]) == chain
    assert [store.run_info(r)["parent_run_id"] for r in chain] == [None, chain[0], chain[1]]
    assert [store.run_info(r)["config"]["generation"] for r in chain] == [0, 1, 2]
    assert store.descendants(chain[0]) == chain[1:]
    rows, ens = chain_report(store, chain, data.y_test)
    assert [r["generation"] for r in rows] == [0, 1, 2] and 0 <= ens["ensemble_accuracy"] <= 1
    again = born_again(store, data, generations=2, steps=30, hidden=(16,), seed=0)  # finished generations are reused
    assert again == chain
    w = store.run_dir(chain[1])/"weights"/"student.safetensors"
    w.write_bytes(w.read_bytes()[:-1] + bytes([w.read_bytes()[-1] ^ 1]))
    with pytest.raises(ValueError, match="SHA-256 differs"): load_generation(store, chain[1])

def test_lit_loss_is_exactly_zero_for_a_copy_of_the_teacher():
    torch.manual_seed(0)
    teacher = ResidualMLP(64, 32, 4)
    sig = run_signals(teacher, {"x": torch.randn(8, 64)}, {"module:stem", "hidden_states@0,1,2,3"}, "teacher")
    assert float(lit_term(copy.deepcopy(teacher), 4)(sig)) == 0.0
    sig2 = run_signals(teacher, {"x": torch.randn(8, 64)}, {"module:stem", "hidden_states@1,3"}, "teacher")
    assert float(lit_term(ResidualMLP(64, 32, 2), 4)(sig2)) > 0  # and not for another student
    with pytest.raises(ValueError, match="do not split"): lit_term(ResidualMLP(64, 32, 3), 4)

def test_fitnet_hint_loss_decreases(data):
    teacher = get_teacher("digits", profile="quick", progress=False).model
    _, h = train_fitnet("FitNet", 0, data, teacher, s1=60, s2=5)
    hint = [v for _, v in h.column("hint")]
    assert len(hint) >= 10 and hint[-1] < 0.5 * hint[0], hint

def test_hard_label_term_ignores_unlabelled_rows():
    z = torch.randn(4, 10)
    y = torch.tensor([3, -1, 7, -1])
    ce = hard_label_term()({"student.logits": z, "batch.labels": y})
    torch.testing.assert_close(ce, torch.nn.functional.cross_entropy(z[[0, 2]], y[[0, 2]]))
    assert float(hard_label_term()({"student.logits": z, "batch.labels": torch.full((4,), -1)})) == 0.0
