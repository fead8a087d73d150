"""Arm identity (issue 33): each arm of every study is what its name says.

For each arm, through its public training function and a recorder on `Distiller.fit` (the `fits` fixture): what each
stage starts from (a fresh initialisation, the teacher's blocks, or the previous stage's student — by parameter
equality), which loss terms are active and at what weight, which parameters receive updates, and what the next stage
starts from. A notebook check that stops at the end of the distillation stage cannot see a fine-tuning stage that
ignores it; these can. `tools/mutants.py` keeps the likely wiring mistakes as variants that these tests must kill.
"""
import pytest
import torch
from fastdistill.encoders import encoder_data
from fastdistill.models import build_model, get_tokenizer

STEPS = 2

def same(a: dict, b: dict, prefix: str = "", rename=lambda n: n) -> bool:
    "Every parameter of `a` under `prefix` equals `b`'s parameter of the (renamed) same name."
    keys = [n for n in a if n.startswith(prefix)]
    return bool(keys) and all(torch.equal(a[n], b[rename(n)]) for n in keys)

def params(model) -> dict: return {n: p.detach().clone() for n, p in model.named_parameters()}

@pytest.fixture(scope="module")
def enc():
    "An untrained 6-block task teacher, its masked-LM twin, the tokenizer and small encoder data."
    tok = get_tokenizer("topics")
    teacher = build_model("topics", "teacher", tok, seed=0)
    mlm = build_model("topics", "teacher", tok, seed=1, head="mlm")
    return tok, teacher, mlm, encoder_data(tok, batch_size=4, eval_limit=8).with_teacher(teacher)

def _block(prefix, i): return f"{prefix}.encoder.layer.{i}."

# ---------------------------------------------------------------- DistilBERT
@pytest.mark.parametrize("arm", ["DistilBERT", "random init", "MLM only", "fine-tune only"])
def test_distilbert_arms_start_train_and_hand_over_as_named(enc, fits, arm):
    from fastdistill.methods.distilbert import train_distilbert
    tok, teacher, mlm, data = enc
    train_distilbert(arm, 3, mlm, data, general_steps=STEPS, finetune_steps=STEPS)
    terms = {"DistilBERT": {"soft_ce": 5.0, "mlm": 2.0, "cos": 1.0}, "random init": {"soft_ce": 5.0, "mlm": 2.0, "cos": 1.0},
             "MLM only": {"mlm": 2.0}}
    tune = fits[-1]
    assert tune.terms == {"ce": 1.0} and tune.teacher is None  # the task stage has no teacher
    if arm == "fine-tune only":
        assert len(fits) == 1
        fresh = params(build_model("topics", "student-3", tok, seed=3))
        assert same(tune.start, fresh)  # a fresh classifier, nothing copied
        return
    assert len(fits) == 2
    g = fits[0]
    assert g.terms == terms[arm] and g.teacher is mlm  # the general stage distils the masked-LM teacher
    teacher_p = params(mlm)
    copied = all(same(g.start, teacher_p, _block("bert", i), lambda n, i=i, j=j: n.replace(f"layer.{i}.", f"layer.{j}."))
                 for i, j in enumerate((0, 2, 4)))
    assert copied == (arm != "random init"), "the general stage starts from every other teacher block (or fresh)"
    if arm == "random init": assert same(g.start, params(build_model("topics", "student-3", tok, seed=3, head="mlm")))
    assert any(n.startswith(_block("bert", 0)) for n in g.changed)  # the encoder trains in the general stage
    assert same(tune.start, g.end, "bert.encoder.") and same(tune.start, g.end, "bert.embeddings.")  # fine-tunes *it*

# ---------------------------------------------------------------- Patient KD
@pytest.mark.parametrize("arm", ["PKD-Skip", "PKD-Last", "KD", "fine-tune only"])
def test_pkd_arms_start_from_the_teachers_first_blocks_with_their_terms(enc, fits, arm):
    from fastdistill.methods.pkd import train_pkd
    tok, teacher, mlm, data = enc
    train_pkd(arm, 2, teacher, data, steps=STEPS)
    (f,) = fits
    want = {"PKD-Skip": {"ce": 0.5, "ds": 0.5, "pt": 10.0}, "PKD-Last": {"ce": 0.5, "ds": 0.5, "pt": 10.0},
            "KD": {"ce": 0.5, "ds": 0.5}, "fine-tune only": {"ce": 1.0}}[arm]
    assert f.terms == pytest.approx(want)
    if "pt" in want:
        assert f.needs["pt"][1] == "teacher.hidden_states@" + ("1,3" if arm == "PKD-Skip" else "3,4")
    tp = params(teacher)
    assert all(same(f.start, tp, _block("bert", i)) for i in range(3)) and same(f.start, tp, "bert.embeddings.")
    assert any(n.startswith("classifier") for n in f.changed)

# ---------------------------------------------------------------- MiniLM and MiniLMv2
@pytest.mark.parametrize("arm", ["MiniLM via assistant", "MiniLM direct", "fine-tune only"])
def test_minilm_arms_chain_teacher_assistant_student_then_fine_tune(enc, fits, arm):
    from fastdistill.methods.minilm import train_minilm
    tok, teacher, mlm, data = enc
    train_minilm(arm, 1, teacher, data, distil_steps=STEPS, finetune_steps=STEPS)
    relation = [f for f in fits if set(f.terms) == {"at", "vr"}]
    tune = fits[-1]
    assert tune.terms == {"ce": 1.0} and len(fits) == len(relation) + 1
    fresh = params(build_model("topics", "student-2", tok, seed=1))
    if arm == "fine-tune only":
        assert relation == [] and same(tune.start, fresh, "bert.")
        return
    sources = [f.teacher for f in relation]
    if arm == "MiniLM direct": assert sources == [teacher]
    else: assert len(relation) == 2 and sources == [teacher, relation[0].student]  # the assistant teaches the student
    last = relation[-1]
    assert same(last.start, fresh) and last.changed  # a fresh student-2, trained by the relation stage
    assert same(tune.start, last.end, "bert.encoder.") and same(tune.start, last.end, "bert.embeddings.")

@pytest.mark.parametrize("arm,layer", [("R=8 · last block", 5), ("R=8 · upper-middle block", 4), ("R=32 · last block", 5),
                                       ("fine-tune only", None)])
def test_minilmv2_arms_read_their_teacher_block_then_fine_tune_the_same_student(enc, fits, arm, layer):
    from fastdistill.methods.minilmv2 import train_minilmv2
    tok, teacher, mlm, data = enc
    train_minilmv2(arm, 1, teacher, data, distil_steps=STEPS, finetune_steps=STEPS)
    tune = fits[-1]
    assert tune.terms == {"ce": 1.0}
    if layer is None: assert len(fits) == 1; return
    rel = fits[0]
    assert len(fits) == 2 and set(rel.terms) == {"qq", "kk", "vv"} and rel.teacher is teacher
    assert {rel.needs[k][1] for k in rel.terms} == {f"teacher.qkv@{layer}"}
    assert same(tune.start, rel.end, "bert.encoder.") and same(tune.start, rel.end, "bert.embeddings.")

# ---------------------------------------------------------------- TinyBERT
def _tinybert_data(data):
    from fastdistill.methods.tinybert import TinyBertData
    return TinyBertData(general=data.transfer, small=data.finetune, augmented=data.transfer, n_small=1, n_augmented=2)

@pytest.mark.parametrize("arm", ["TinyBERT", "no augmentation", "task only", "fine-tune only"])
def test_tinybert_stages_hand_the_same_student_and_projections_on(enc, fits, arm):
    from fastdistill.methods.tinybert import train_tinybert
    tok, teacher, mlm, data = enc
    train_tinybert(arm, 4, teacher, data, _tinybert_data(data), general_steps=STEPS, intermediate_steps=STEPS,
                   prediction_steps=STEPS)
    fresh = params(build_model("topics", "student-2", tok, seed=4))
    assert same(fits[0].start, fresh)  # every arm starts from the same fresh student-2
    if arm == "fine-tune only":
        assert [f.terms for f in fits] == [{"ce": 1.0}]; return
    stages = [set(f.terms) for f in fits]
    inter = {"emb", "att", "hid"}
    assert stages == ([inter] if arm != "task only" else []) + [inter, {"pred"}]
    assert all(f.modules == ["w_e", "w_h"] for f in fits[:-1]) and fits[-1].modules == []  # W_e, W_h train alongside
    for a, b in zip(fits, fits[1:]): assert same(b.start, a.end)  # each stage continues the previous one's student
    if arm != "task only":  # the task stage's intermediate step continues the general stage's projections
        assert same(fits[1].modules_start, fits[0].modules_end) and fits[0].modules_start != {}
    assert all(f.teacher is teacher for f in fits)

# ---------------------------------------------------------------- LIT
@pytest.fixture(scope="module")
def lit_setup():
    from fastdistill.methods.lit import ResidualMLP
    from fastdistill.methods.hinton import digits_transfer
    torch.manual_seed(7)
    return ResidualMLP(64, 64, 6).eval(), digits_transfer(batch_size=16)

@pytest.mark.parametrize("arm", ["LIT + FT", "KD only", "scratch"])
def test_lit_arms_start_from_the_teachers_stem_and_head_and_fine_tune_the_lit_student(lit_setup, fits, arm):
    from fastdistill.methods.lit import train_lit
    teacher, data = lit_setup
    train_lit(arm, 5, data, teacher, lit_steps=STEPS, ft_steps=STEPS)
    tp = params(teacher)
    first = fits[0]
    from_teacher = same(first.start, tp, "stem.") and same(first.start, tp, "head.")
    assert from_teacher == (arm != "scratch")
    if arm == "scratch": assert [f.terms for f in fits] == [{"ce": 1.0}] and fits[0].steps == 2 * STEPS; return
    if arm == "KD only":
        assert [f.terms for f in fits] == [{"kd": 0.9, "ce": pytest.approx(0.1)}] and fits[0].steps == 2 * STEPS
        return
    lit, ft = fits
    assert set(lit.terms) == {"lit"} and ft.terms == {"kd": 0.9, "ce": pytest.approx(0.1)}
    assert not any(n.startswith(("stem.", "head.")) for n in lit.changed)  # the LIT stage trains the blocks only
    assert same(ft.start, lit.end) and ft.lr == pytest.approx(lit.lr / 3)  # fine-tunes the LIT student, at lr / 3

# ---------------------------------------------------------------- the main job: KD + SFT vs SFT
def test_kd_and_sft_students_start_identical_and_differ_only_in_the_kd_term(fits):
    from fastdistill.methods.sparse_kd import RunConfig, distill_student
    from fastdistill.core import config_from_dict
    tok = get_tokenizer("text2sql")
    ids = tok("SELECT name FROM singer", add_special_tokens=False)["input_ids"]
    rows = [{"sample_id": f"s{i}", "prompt_ids": ids[:3], "completion_ids": ids,
             "topk_ids": [[t, 0] for t in ids], "topk_logprobs": [[-0.1, -2.4]] * len(ids)} for i in range(8)]
    cfg = config_from_dict(RunConfig, {"distill": {"steps": STEPS, "batch_size": 4}})
    distill_student(cfg, rows, tok, kd=True, seed=1); distill_student(cfg, rows, tok, kd=False, seed=1)
    kd, sft = fits
    assert set(kd.terms) == {"kd", "sft"} and set(sft.terms) == {"sft"} and kd.terms["sft"] == sft.terms["sft"]
    assert kd.start.keys() == sft.start.keys() and same(kd.start, sft.start)  # one initialisation for both arms

# ---------------------------------------------------------------- generative prior
def test_generative_prior_learns_latents_only_from_the_pixel_runs_real_images():
    from fastdistill.methods.generative_prior import LatentSet
    from fastdistill.synthetic import SyntheticSet, digits_data, random_subset
    from fastdistill.zoo import DigitsVAE
    data = digits_data()
    torch.manual_seed(0)
    vae = DigitsVAE()
    lat, pix = LatentSet.from_real(vae, data.X, data.y, 2, seed=3), SyntheticSet.from_real(data.X, data.y, 2, seed=3)
    idx = random_subset(data.y, 2, 3)
    with torch.no_grad(): mu, _ = vae.encode(data.X[idx])
    assert torch.equal(lat.latents, mu) and torch.equal(lat.labels, pix.labels)  # the same real images, encoded
    assert torch.equal(pix.images().detach(), data.X[idx])
    assert [n for n, p in lat.named_parameters() if p.requires_grad] == ["latents"]  # the decoder is frozen
    before = params(vae)
    lat.images().pow(2).sum().backward()
    assert lat.latents.grad is not None and all(p.grad is None for p in vae.parameters())
    assert same(params(vae), before)
