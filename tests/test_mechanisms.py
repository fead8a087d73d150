"""Tests that know the right answer for each mechanism the foundational methods depend on.

Each test computes the paper's quantity by hand (closed form, or a spy on the exact tensors a block receives) and
compares it with what the method code does through its public path, so that a plausible wrong implementation — a
reversed KL, a temperature on one side only, a missing τ², an off-by-one layer, a warm start where the paper starts
fresh — fails here. `tools/mutants.py` injects such mistakes one at a time and checks that this module catches each.
All tests run in seconds on tiny random tensors and models.
"""
import os
from pathlib import Path
import pytest
import torch
import torch.nn.functional as F
import fastdistill

from fastdistill.artifacts import ArtifactStore
from fastdistill.distiller import plan_signals, run_signals
from fastdistill.losses import SparseTeacher, distill_divergence, forward_kl, kd_term, reverse_kl
from fastdistill.methods import born_again as ban
from fastdistill.methods.born_again import _probs_term, born_again, load_generation
from fastdistill.methods.fitnets import fitnet_terms, train_fitnet
from fastdistill.methods.hinton import DigitsTransfer, hard_label_term, hinton_terms
from fastdistill.methods.lit import ResidualMLP, lit_term, student_from_teacher
from fastdistill.models import MLPClassifier

# tools/mutants.py runs this module against a mutated copy of the package: make sure that copy is what was imported
if os.environ.get("FASTDISTILL_EXPECT_PACKAGE"):
    assert Path(fastdistill.__file__).parent.resolve() == Path(os.environ["FASTDISTILL_EXPECT_PACKAGE"]).resolve()

def kl(p, q):
    "KL(p ‖ q) per row for probability rows."
    return (p * (p.log() - q.log())).sum(-1)

@pytest.fixture(params=[False, True], ids=["no-grad", "grad"])
def logits(request):
    """An asymmetric pair: a peaked teacher and a flat-ish student over 5 classes, 4 rows. With `grad`, the student
    logits require gradients, which sends divergences down their memory-saving chunked path."""
    g = torch.Generator().manual_seed(0)
    zt = torch.randn(4, 5, generator=g) * 3
    zs = (torch.randn(4, 5, generator=g) * 0.5).requires_grad_(request.param)
    return zs, zt

def tiny_data(n=96, n_test=40, seed=0):
    "Digits-shaped random data (64 features, 10 classes), every 10th label kept, as DigitsTransfer."
    g = torch.Generator().manual_seed(seed)
    X, Xt = torch.randn(n, 64, generator=g), torch.randn(n_test, 64, generator=g)
    y, yt = torch.randint(0, 10, (n,), generator=g), torch.randint(0, 10, (n_test,), generator=g)
    keep = torch.zeros(n, dtype=torch.bool); keep[::10] = True
    return DigitsTransfer(X, y, torch.where(keep, y, torch.full_like(y, -1)), Xt, yt, batch_size=16)

# ---------------------------------------------------------------- divergences and Hinton KD

def test_kd_term_is_forward_kl_from_teacher_to_student(logits):
    zs, zt = logits
    p, q = F.softmax(zt, -1), F.softmax(zs, -1)
    got = kd_term("kd")({"student.logits": zs, "teacher.logits": zt})
    torch.testing.assert_close(got, kl(p, q).mean())
    assert abs(float((kl(p, q).mean() - kl(q, p).mean()).detach())) > 0.1  # the example tells the two directions apart
    rev = kd_term("kd", divergence="reverse_kl")({"student.logits": zs, "teacher.logits": zt})
    torch.testing.assert_close(rev, kl(q, p).mean())

def test_public_divergences_name_their_direction(logits):
    zs, zt = logits
    p, q = F.softmax(zt, -1), F.softmax(zs, -1)
    torch.testing.assert_close(forward_kl(zs, zt), kl(p, q).mean())
    torch.testing.assert_close(reverse_kl(zs, zt), kl(q, p).mean())

@pytest.mark.parametrize("tau", [1.0, 2.0, 4.0])
def test_temperature_softens_both_sides_and_scales_by_tau_squared(logits, tau):
    zs, zt = logits
    want = tau ** 2 * kl(F.softmax(zt / tau, -1), F.softmax(zs / tau, -1)).mean()
    got = kd_term("kd", temperature=tau)({"student.logits": zs, "teacher.logits": zt})
    torch.testing.assert_close(got, want)

def _formula(name, zs, zt, tau, beta=0.3):
    "The divergence per row written out from its definition (autograd gives the reference gradient)."
    p, q = F.softmax(zt / tau, -1), F.softmax(zs / tau, -1)
    if name == "forward_kl": return kl(p, q)
    if name == "reverse_kl": return kl(q, p)
    m = beta * p + (1 - beta) * q
    return beta * kl(p, m) + (1 - beta) * kl(q, m)

@pytest.mark.parametrize("chunk", [4, None], ids=["fused", "reference"])
@pytest.mark.parametrize("name", ["forward_kl", "reverse_kl", "generalized_jsd"])
def test_fused_divergences_value_and_gradient_equal_the_formula(name, chunk):
    """The fused path's hand-derived gradients (sign, softmax Jacobian, 1/τ, τ², mask, chunk edges) against autograd
    of the definition; the unfused reference (chunk_size=None, also the per-chunk autograd kernel) too."""
    g = torch.Generator().manual_seed(3)
    zt, z0 = torch.randn(3, 7, 13, generator=g, dtype=torch.float64) * 2, torch.randn(3, 7, 13, generator=g, dtype=torch.float64)
    mask = (torch.rand(3, 7, generator=g) > 0.3).long()
    a, b = z0.clone().requires_grad_(), z0.clone().requires_grad_()
    got = distill_divergence(a, zt, name, mask=mask, temperature=2.0, chunk_size=chunk,
                             **({"beta": 0.3} if name == "generalized_jsd" else {}))
    want = 4.0 * (_formula(name, b, zt, 2.0) * mask).sum() / mask.sum()
    torch.testing.assert_close(got, want)
    got.backward(); want.backward()
    torch.testing.assert_close(a.grad, b.grad)

@pytest.mark.parametrize("tail", ["renormalize", "bucket"])
def test_fused_divergences_sparse_topk_gradient_equals_the_formula(tail):
    "Stored top-k: renormalised over the k ids, or the rest of the vocabulary as one bucket."
    g = torch.Generator().manual_seed(4)
    zt, z0 = torch.randn(2, 5, 17, generator=g, dtype=torch.float64) * 2, torch.randn(2, 5, 17, generator=g, dtype=torch.float64)
    lp_full = F.log_softmax(zt, -1)
    top = lp_full.topk(4, -1)
    a, b = z0.clone().requires_grad_(), z0.clone().requires_grad_()
    got = distill_divergence(a, SparseTeacher(top.indices, top.values), tail=tail, temperature=2.0, chunk_size=3)
    lq = F.log_softmax(b / 2.0, -1).gather(-1, top.indices)
    if tail == "renormalize":
        p, lqn = F.softmax(top.values / 2.0, -1), lq - torch.logsumexp(lq, -1, keepdim=True)
        want = 4.0 * (p * (p.log() - lqn)).sum(-1).mean()
    else:
        tail_p = 1 - top.values.exp().sum(-1, keepdim=True)
        p = F.softmax(torch.cat([top.values, tail_p.log()], -1) / 2.0, -1)
        qq = torch.cat([lq.exp(), 1 - lq.exp().sum(-1, keepdim=True)], -1)
        want = 4.0 * kl(p, qq).mean()
    torch.testing.assert_close(got, want)
    got.backward(); want.backward()
    torch.testing.assert_close(a.grad, b.grad)

def test_divergences_send_gradients_wherever_they_are_needed():
    "Per-token losses keep their graph; a teacher that requires grad gets one, with or without a student gradient."
    g = torch.Generator().manual_seed(5)
    zs, zt = torch.randn(2, 3, 6, generator=g, dtype=torch.float64), torch.randn(2, 3, 6, generator=g, dtype=torch.float64)
    a = zs.clone().requires_grad_()
    per = forward_kl(a, zt, reduction="none")
    assert per.shape == (2, 3) and per.requires_grad
    per[1, 2].backward()
    b = zs.clone().requires_grad_()
    kl(F.softmax(zt, -1), F.softmax(b, -1))[1, 2].backward()
    torch.testing.assert_close(a.grad, b.grad)
    for student_grad in (True, False):
        t1, t2 = zt.clone().requires_grad_(), zt.clone().requires_grad_()
        loss = reverse_kl(zs.clone().requires_grad_(student_grad), t1)
        assert loss.requires_grad
        loss.backward()
        kl(F.softmax(zs, -1), F.softmax(t2, -1)).mean().backward()
        torch.testing.assert_close(t1.grad, t2.grad)

def test_hinton_objective_is_alpha_tau2_kl_plus_ce_on_labelled_rows(logits):
    zs, zt = logits
    y = torch.tensor([2, -1, 0, -1])  # two rows carry a label
    tau, alpha = 3.0, 0.7
    sig = {"student.logits": zs, "teacher.logits": zt, "batch.labels": y}
    got = sum(t(sig) for t in hinton_terms(tau, alpha))
    soft = tau ** 2 * kl(F.softmax(zt / tau, -1), F.softmax(zs / tau, -1)).mean()
    hard = -(F.log_softmax(zs, -1)[[0, 2], [2, 0]]).mean()  # at τ = 1, over the labelled rows only
    torch.testing.assert_close(got, alpha * soft + (1 - alpha) * hard)

def test_hard_label_term_averages_over_labelled_rows_and_is_zero_without_labels(logits):
    zs, _ = logits
    y = torch.tensor([1, -1, -1, 4])
    got = hard_label_term()({"student.logits": zs, "batch.labels": y})
    torch.testing.assert_close(got, -(F.log_softmax(zs, -1)[[0, 3], [1, 4]]).mean())
    none = hard_label_term()({"student.logits": zs, "batch.labels": torch.full((4,), -1)})
    assert float(none.detach()) == 0.0

# ---------------------------------------------------------------- FitNets

def test_fitnet_hint_reads_the_guided_and_hint_layers_through_the_regressor():
    torch.manual_seed(0)
    student, teacher = MLPClassifier(64, (8, 8, 8, 8), 10), MLPClassifier(64, (32, 16), 10)
    st1, st2, reg = fitnet_terms(8, 32, guided=2, hint=0)
    assert [t.name for t in st1] == ["hint"] and set(st1[0].needs) == {"student.hidden_states@2",
                                                                       "teacher.hidden_states@0"}
    x = torch.randn(5, 64)
    plan = plan_signals(st1)
    sig = {**run_signals(student, {"x": x}, plan["student"], "student", st1),
           **run_signals(teacher, {"x": x}, plan["teacher"], "teacher", st1)}
    # by hand: the guided layer's output is the student's third Linear; the hint is the teacher's first Linear
    h = x
    for i in range(3): h = student.layers[i](torch.relu(h) if i else h)
    hint = teacher.layers[0](x)
    torch.testing.assert_close(st1[0](sig), (reg(h) - hint).pow(2).mean())
    assert (reg.in_features, reg.out_features) == (8, 32)

def test_fitnet_stage_two_is_hinton_kd_at_tau_4(logits):
    zs, zt = logits
    _, st2, _ = fitnet_terms(8, 32, guided=2, hint=0, temperature=4.0, alpha=0.9)
    y = torch.tensor([0, 1, 2, 3])
    got = sum(t({"student.logits": zs, "teacher.logits": zt, "batch.labels": y}) for t in st2)
    soft = 16 * kl(F.softmax(zt / 4, -1), F.softmax(zs / 4, -1)).mean()
    torch.testing.assert_close(got, 0.9 * soft + 0.1 * F.cross_entropy(zs, y))

def test_train_fitnet_trains_hints_first_then_kd_and_sizes_the_regressor_from_the_layers():
    data = tiny_data()
    torch.manual_seed(1)
    teacher = MLPClassifier(64, (24, 12), 10)
    _, h = train_fitnet("FitNet", 0, data, teacher, s1=2, s2=3, hidden=(8, 8, 6, 8, 8), guided=2, hint=0)
    logged = [r for r in h.rows if "loss" in r]
    first, last = logged[0], logged[-1]
    assert first["step"] == 0 and "hint" in first and "kd" not in first
    assert last["step"] == 4 and {"kd", "ce"} <= set(last) and "hint" not in last

# ---------------------------------------------------------------- Born-Again networks

def test_ban_loss_is_half_ce_plus_half_forward_kl(logits):
    zs, zt = logits
    y = torch.tensor([0, 1, 2, 3])
    got = _probs_term("ban")({"student.logits": zs, "teacher.logits": zt, "batch.labels": y})
    want = 0.5 * F.cross_entropy(zs, y) + 0.5 * kl(F.softmax(zt, -1), F.softmax(zs, -1)).mean()
    torch.testing.assert_close(got, want)

def test_cwtm_weights_each_example_by_the_teachers_max_probability(logits):
    zs, zt = logits
    y = torch.tensor([4, 3, 2, 1])
    got = _probs_term("cwtm")({"student.logits": zs, "teacher.logits": zt, "batch.labels": y})
    w = F.softmax(zt, -1).max(-1).values
    torch.testing.assert_close(got, (w * F.cross_entropy(zs, y, reduction="none")).sum() / w.sum())

def test_dkpp_keeps_the_top_class_and_permutes_only_the_others():
    torch.manual_seed(0)
    zs = torch.randn(200, 6)
    y = torch.randint(0, 6, (200,))
    # the non-top classes share one logit: any permutation of them leaves the loss equal to BAN's
    flat = torch.zeros(200, 6); flat[torch.arange(200), torch.randint(0, 6, (200,))] = 4.0
    sig = {"student.logits": zs, "teacher.logits": flat, "batch.labels": y}
    torch.testing.assert_close(_probs_term("dkpp")(sig), _probs_term("ban")(sig))
    # with distinct non-top probabilities the permutation changes the loss (it does permute)
    distinct = torch.randn(200, 6) * 2
    sig["teacher.logits"] = distinct
    assert abs(float(_probs_term("dkpp")(sig) - _probs_term("ban")(sig))) > 1e-3

def test_each_generation_starts_fresh_and_learns_from_the_previous_one(tmp_path, monkeypatch):
    seen = []
    class Spy(ban.Distiller):
        def __init__(self, student, terms, teacher=None, **kw):
            seen.append({"student": {k: v.clone() for k, v in student.state_dict().items()},
                         "teacher": None if teacher is None else {k: v.clone() for k, v in teacher.state_dict().items()},
                         "terms": [t.name for t in terms]})
            super().__init__(student, terms, teacher=teacher, **kw)
    monkeypatch.setattr(ban, "Distiller", Spy)
    store, seed = ArtifactStore(tmp_path), 3
    chain = born_again(store, tiny_data(), generations=2, steps=2, hidden=(16,), seed=seed, prefix="t")
    assert len(chain) == 3 == len(seen)
    for g, rec in enumerate(seen):
        torch.manual_seed(seed * 1000 + g)
        fresh = MLPClassifier(64, (16,), 10).state_dict()
        assert all(torch.equal(rec["student"][k], fresh[k]) for k in fresh), f"generation {g} is not a fresh init"
    assert seen[0]["teacher"] is None and seen[0]["terms"] == ["ce"]
    for g in (1, 2):
        parent = load_generation(store, chain[g - 1]).state_dict()
        assert all(torch.equal(seen[g]["teacher"][k], parent[k]) for k in parent), f"generation {g}'s teacher"
        assert seen[g]["terms"] == ["ban"]
    assert [store.run_info(r).get("parent_run_id") for r in chain] == [None, chain[0], chain[1]]

# ---------------------------------------------------------------- LIT

def _teacher_chain(teacher, x):
    "The teacher's residual stream: stem output, then after each block."
    h = [teacher.stem(x)]
    for b in teacher.blocks: h.append(b(h[-1]))
    return h

def test_lit_blocks_receive_exactly_the_teachers_section_inputs():
    torch.manual_seed(0)
    teacher = ResidualMLP(64, 8, 6, 10).eval()
    student = student_from_teacher(teacher, 3, seed=1)
    term = lit_term(student, 6)
    x = torch.randn(7, 64)
    sig = run_signals(teacher, {"x": x}, plan_signals([term])["teacher"], "teacher", [term])
    got = []
    hooks = [b.register_forward_hook(lambda m, i, o: got.append((i[0].detach().clone(), o.detach().clone())))
             for b in student.blocks]
    loss = term(sig)
    for hk in hooks: hk.remove()
    with torch.no_grad(): h = _teacher_chain(teacher, x)
    # 6 teacher blocks in 3 sections of 2: section i starts at h[2i] and ends at h[2i + 2]
    assert len(got) == 3
    for i, (inp, out) in enumerate(got):
        torch.testing.assert_close(inp, h[2 * i], msg=f"student block {i} does not read the teacher's section input")
    want = sum(F.mse_loss(out, h[2 * i + 2]) for i, (_, out) in enumerate(got))
    torch.testing.assert_close(loss, want)

def test_student_from_teacher_copies_stem_and_head_and_starts_blocks_fresh():
    torch.manual_seed(0)
    teacher = ResidualMLP(64, 8, 6, 10)
    s = student_from_teacher(teacher, 3, seed=5)
    for part in ("stem", "head"):
        a, b = getattr(s, part).state_dict(), getattr(teacher, part).state_dict()
        assert all(torch.equal(a[k], b[k]) for k in a), part
    torch.manual_seed(5)
    fresh = ResidualMLP(64, 8, 3, 10)
    for i in range(3):
        a, b = s.blocks[i].state_dict(), fresh.blocks[i].state_dict()
        assert all(torch.equal(a[k], b[k]) for k in a), f"block {i} is not a fresh init"

# ---------------------------------------------------------------- sparse KD from stored top-k (the main job)

from types import SimpleNamespace
from fastdistill.distiller import OfflineTeacherData
from fastdistill.methods import sparse_kd
from fastdistill.methods.sparse_kd import RunConfig
from fastdistill.losses import SparseTeacher, distill_divergence

def _rows():
    "Two offline rows whose teacher puts its top-1 on the completion token it is asked to predict."
    out = []
    for sid, prompt, comp in (("a", [1, 5, 6], [7, 8, 2]), ("b", [1, 9], [10, 2])):
        out.append({"sample_id": sid, "prompt_ids": prompt, "completion_ids": comp,
                    "topk_ids": [[c, 3] for c in comp], "topk_logprobs": [[-0.1, -2.5] for _ in comp]})
    return out

def test_stored_topk_sits_at_the_position_that_predicts_its_token():
    b = OfflineTeacherData(_rows(), batch_size=2, pad_id=0).collate(_rows())
    for i, r in enumerate(_rows()):
        P, C = len(r["prompt_ids"]), len(r["completion_ids"])
        pos = b["kd_mask"][i].nonzero()[:, 0].tolist()
        assert pos == list(range(P - 1, P - 1 + C))  # logits at t predict token t + 1
        for j, t in enumerate(pos):
            assert int(b["input_ids"][i, t + 1]) == r["completion_ids"][j] == int(b["topk_ids"][i, t, 0])
            torch.testing.assert_close(b["topk_logprobs"][i, t], torch.tensor(r["topk_logprobs"][j]))

def test_sft_labels_cover_the_completion_only():
    b = OfflineTeacherData(_rows(), batch_size=2, pad_id=0).collate(_rows())
    for i, r in enumerate(_rows()):
        P, C = len(r["prompt_ids"]), len(r["completion_ids"])
        assert b["labels"][i, :P].eq(-100).all() and b["labels"][i, P + C:].eq(-100).all()
        assert b["labels"][i, P:P + C].tolist() == r["completion_ids"]

def test_distill_student_kd_is_masked_bucketed_forward_kl_at_the_configured_weights(monkeypatch):
    seen = {}
    class Stop(Exception): pass
    class Spy:
        def __init__(self, model, terms, **kw): seen["terms"] = terms; raise Stop
    tok = SimpleNamespace(pad_token_id=0)
    monkeypatch.setattr(sparse_kd, "Distiller", Spy)
    monkeypatch.setattr(sparse_kd, "get_student", lambda *a, **k: SimpleNamespace(model=None, tokenizer=tok))
    cfg = RunConfig()
    cfg.distill.kd_weight, cfg.distill.sft_weight, cfg.distill.temperature = 0.7, 0.2, 2.0
    with pytest.raises(Stop): sparse_kd.distill_student(cfg, _rows(), kd=True)
    kd, sft = seen["terms"]
    assert (kd.name, kd.weight, sft.name, sft.weight) == ("kd", 0.7, "sft", 0.2)
    b = OfflineTeacherData(_rows(), batch_size=2, pad_id=0).collate(_rows())
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(*b["input_ids"].shape, 12, generator=g)
    sig = {"student.logits": logits, **{f"batch.{k}": v for k, v in b.items()}}
    want = distill_divergence(logits, SparseTeacher(b["topk_ids"], b["topk_logprobs"]), "forward_kl",
                              mask=b["kd_mask"], temperature=2.0, tail="bucket")
    torch.testing.assert_close(kd(sig), 0.7 * want)
    with pytest.raises(Stop): sparse_kd.distill_student(cfg, _rows(), kd=False)
    assert [t.name for t in seen["terms"]] == ["sft"]

# ---------------------------------------------------------------- Hinton's controls

from fastdistill.methods import hinton
from fastdistill.methods.hinton import argmax_terms, run_digits

def test_argmax_control_is_hintons_objective_with_the_teachers_top1_as_a_hard_target(logits):
    zs, zt = logits
    y = torch.tensor([2, -1, 0, -1])
    got = sum(t({"student.logits": zs, "teacher.logits": zt, "batch.labels": y}) for t in argmax_terms(0.8))
    pseudo = -(F.log_softmax(zs, -1)[torch.arange(4), zt.argmax(-1)]).mean()
    hard = -(F.log_softmax(zs, -1)[[0, 2], [2, 0]]).mean()
    torch.testing.assert_close(got, 0.8 * pseudo + 0.2 * hard)

@pytest.mark.parametrize("method", ["hard", "argmax", "KD T=2"])
@pytest.mark.parametrize("transfer", ["all", "labelled"])
def test_hinton_arms_draw_from_the_intended_transfer_set(monkeypatch, method, transfer):
    import random
    seen = {}
    class Spy:
        def __init__(self, student, terms, teacher=None, **kw): seen["teacher"], seen["terms"] = teacher, terms
        def fit(self, batches, steps): seen["batches"] = batches
    monkeypatch.setattr(hinton, "Distiller", Spy)
    data = tiny_data()
    teacher = MLPClassifier(64, (8,), 10)
    run_digits(method, 0, data, teacher, steps=1, hidden=(8,), transfer=transfer)
    rng = random.Random(0)
    labels = torch.cat([seen["batches"](rng)["labels"] for _ in range(20)])
    only_labelled = method == "hard" or transfer == "labelled"
    assert bool((labels >= 0).all()) == only_labelled  # unlabelled rows (label -1) appear exactly when they should
    assert (seen["teacher"] is None) == (method == "hard")

# --- seeds and recorded results: what every "A beats B" and every recorded table rests on --------------------------

def test_compare_seeds_pairs_by_seed_uses_the_sample_std_and_needs_one_sign():
    import statistics
    from fastdistill.eval import compare_seeds, seed_spread
    s = seed_spread({0: 0.2, 1: 0.4})
    assert s["std"] == pytest.approx(statistics.stdev([0.2, 0.4])) and s["std"] == pytest.approx(2 ** 0.5 / 10)
    # b has an extra seed that a lacks: only the shared seeds are compared
    c = compare_seeds({0: 0.40, 1: 0.42, 2: 0.41}, {0: 0.30, 1: 0.31, 2: 0.32, 3: 0.99})
    assert c["seeds"] == [0, 1, 2] and c["difference"] == pytest.approx(0.10)
    assert c["spread"] == pytest.approx(0.01) and c["exceeds"]
    flip = compare_seeds({0: 0.50, 1: 0.29, 2: 0.50}, {0: 0.30, 1: 0.30, 2: 0.30})
    assert abs(flip["difference"]) > flip["spread"] and not flip["exceeds"]

def test_results_diff_reports_moves_both_ways_and_rows_on_either_side():
    from fastdistill.results import diff_rows
    a = [{"m": "x", "seed": 0, "acc": 0.5}, {"m": "x", "seed": 1, "acc": 0.5}]
    b = [{"m": "x", "seed": 0, "acc": 0.6}, {"m": "x", "seed": 2, "acc": 0.5}]
    d = diff_rows(a, b, ("m", "seed"))
    assert d == ["m=x, seed=0: acc 0.5 → 0.6 (+0.1)", "m=x, seed=1: only in the stored results",
                 "m=x, seed=2: only in the fresh results"]
    assert diff_rows(b, a, ("m", "seed"))[0] == "m=x, seed=0: acc 0.6 → 0.5 (-0.1)"
    assert diff_rows(a, a, ("m", "seed")) == []

def test_seed_budget_stops_before_a_seed_that_would_end_past_it():
    import time
    from fastdistill.core import read_config
    from fastdistill.methods.sparse_kd import RunConfig, _seeds_within_budget
    cfg, note, got = read_config(RunConfig, {"distill": {"seeds": [0, 1, 2], "budget_s": 0.05}}), {}, []
    for s in _seeds_within_budget(cfg, note):
        got.append(s); time.sleep(0.03)  # the second seed would end near 0.06 s > 0.05 s
    assert got == [0] and note["seeds_note"].startswith("trained 1 of 3 seeds")
