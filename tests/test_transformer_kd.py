"""Transformer KD (issue 16): layer maps, initialisation from teacher blocks, BERT's masking, the masked-LM and patient
losses, with exact values; these are the fast tests the mutation check runs for the transformer-KD pieces."""
import torch
import pytest
from transformers import BertConfig, BertForMaskedLM
from fastdistill.encoders import init_from_teacher, layer_map
from fastdistill.losses import DistillInputError, masked_ce, pkd_loss
from fastdistill.models import mlm_mask

def _bert(layers, hidden=32, heads=2, seed=0, vocab=40):
    torch.manual_seed(seed)
    return BertForMaskedLM(BertConfig(vocab_size=vocab, hidden_size=hidden, num_hidden_layers=layers,
                                      num_attention_heads=heads, intermediate_size=64, max_position_embeddings=32,
                                      hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0))

class _Tok:  # what mlm_mask reads from a tokenizer
    all_special_ids, mask_token_id = [0, 1, 2, 3], 3
    def __len__(self): return 40

def test_layer_maps_are_the_papers():
    assert layer_map(4, 12, "uniform") == [2, 5, 8, 11]  # TinyBERT g(m) = 3m
    assert layer_map(6, 12, "skip") == [1, 3, 5, 7, 9] and layer_map(6, 12, "last") == [6, 7, 8, 9, 10]  # PKD
    assert layer_map(3, 6, "alternate") == [0, 2, 4] and layer_map(3, 6, "uniform") == [1, 3, 5]
    with pytest.raises(DistillInputError, match="every other"): layer_map(4, 6, "alternate")

def test_init_from_teacher_copies_exactly_the_intended_blocks():
    t, s = _bert(6, seed=0), _bert(3, seed=1)
    init_from_teacher(s, t, layer_map(3, 6, "alternate"))
    for i, l in enumerate([0, 2, 4]):
        for p, q, r in zip(s.bert.encoder.layer[i].parameters(), t.bert.encoder.layer[l].parameters(),
                           t.bert.encoder.layer[l + 1].parameters()):
            assert torch.equal(p, q) and (p.ndim < 2 or not torch.equal(p, r))  # biases start equal (zero)
    assert torch.equal(s.bert.embeddings.word_embeddings.weight, t.bert.embeddings.word_embeddings.weight)
    assert torch.equal(s.cls.predictions.transform.dense.weight, t.cls.predictions.transform.dense.weight)
    with pytest.raises(DistillInputError, match="cannot be initialised"): init_from_teacher(_bert(2, hidden=16), t, [0, 2])

def test_mlm_mask_chooses_only_ordinary_tokens_and_splits_80_10_10():
    g = torch.Generator().manual_seed(0)
    ids = torch.randint(4, 40, (400, 50), generator=g)
    ids[:, 0], ids[:, -1], ids[:, 30:] = 1, 2, 0  # cls, sep, padding
    m, lab = mlm_mask(ids, _Tok(), torch.Generator().manual_seed(1))
    chosen = lab != -100
    special = ids < 4
    assert not chosen[special].any() and torch.equal(m[special], ids[special])
    assert torch.equal(lab[chosen], ids[chosen]) and torch.equal(m[~chosen], ids[~chosen])
    assert abs(chosen.sum() / (~special).sum() - 0.15) < 0.01
    frac = lambda x: float(x.sum() / chosen.sum())
    assert abs(frac(m[chosen] == 3) - 0.8) < 0.03 and abs(frac(m[chosen] == ids[chosen]) - 0.1 - 0.1 / 36) < 0.03
    assert not (m[chosen] < 3).any()  # random replacements are ordinary tokens

def test_masked_ce_does_not_shift():
    lg = torch.randn(1, 3, 5); lab = torch.tensor([[4, -100, 1]])
    lp = torch.log_softmax(lg, -1)
    assert torch.allclose(masked_ce(lg, lab), -(lp[0, 0, 4] + lp[0, 2, 1]) / 2)

def test_pkd_loss_is_the_distance_of_l2_normalised_states():
    g = torch.Generator().manual_seed(0)
    a0, a1, b0, b1 = (torch.randn(3, 8, generator=g) * 3 for _ in range(4))
    d = lambda a, b: ((a / a.norm(dim=-1, keepdim=True) - b / b.norm(dim=-1, keepdim=True)) ** 2).sum(-1).mean()
    assert torch.allclose(pkd_loss([a0, a1], [b0, b1]), d(a0, b0) + d(a1, b1), atol=1e-6)
    assert torch.allclose(pkd_loss(a0, 5 * a0), torch.tensor(0.0), atol=1e-6)  # only directions meet
    assert layer_map(3, 6, "last") == [3, 4] and layer_map(3, 6, "skip") == [1, 3]

# DistilBERT (nbs/methods/distilbert.ipynb)
import torch.nn.functional as F
from fastdistill.methods.distilbert import distilbert_student, distilbert_terms, finetune_encoder, hidden_cosine_term
from fastdistill.methods.distilbert import soft_ce_term
from fastdistill.models import build_model, get_tokenizer

def _kl(t, s, tau):  # KL(softmax(t/τ) ‖ softmax(s/τ)) for one position, by hand
    p, q = F.softmax(t / tau, -1), F.softmax(s / tau, -1)
    return float((p * (p.log() - q.log())).sum())

def test_distilbert_soft_ce_is_tau2_kl_at_masked_positions_only():
    torch.manual_seed(0)
    t, s = torch.randn(2, 4, 7) * 3, torch.randn(2, 4, 7) * 3
    labels = torch.full((2, 4), -100); labels[0, 2], labels[1, 0] = 5, 1
    sig = {"student.logits": s, "teacher.logits": t, "batch.mlm_labels": labels}
    want = 5.0 * 4.0 * (_kl(t[0, 2], s[0, 2], 2.0) + _kl(t[1, 0], s[1, 0], 2.0)) / 2  # weight 5, τ² = 4, mean of two
    assert soft_ce_term()(sig).item() == pytest.approx(want, rel=1e-5)
    assert soft_ce_term(temperature=1.0, weight=1.0)(sig).item() == pytest.approx(
        (_kl(t[0, 2], s[0, 2], 1.0) + _kl(t[1, 0], s[1, 0], 1.0)) / 2, rel=1e-5)

def test_distilbert_hidden_cosine_ignores_padding_and_scale():
    torch.manual_seed(0)
    h = torch.randn(1, 3, 8)
    g = h.clone(); g[0, 2] = -h[0, 2]  # the last position points the other way, but it is padding
    mask = torch.tensor([[1, 1, 0]])
    sig = {"student.hidden_states@-1": 2 * g, "teacher.hidden_states@-1": h, "batch.attention_mask": mask}
    assert hidden_cosine_term()(sig).item() == pytest.approx(0.0, abs=1e-6)
    sig["batch.attention_mask"] = torch.ones(1, 3, dtype=torch.long)  # now it counts: 1 - cos = 2 at one of 3 tokens
    assert hidden_cosine_term()(sig).item() == pytest.approx(2 / 3, rel=1e-5)

def test_distilbert_terms_weights_and_ablation():
    assert [(t.name, t.weight) for t in distilbert_terms()] == [("soft_ce", 5.0), ("mlm", 2.0), ("cos", 1.0)]
    assert distilbert_terms()[0].params == {"temperature": 2.0}
    assert [t.name for t in distilbert_terms(w_ce=0, w_cos=0)] == ["mlm"]

def test_distilbert_student_takes_every_other_teacher_block():
    tok = get_tokenizer("topics")
    teacher = build_model("topics", "teacher", tok, seed=0, head="mlm")
    student, copied = distilbert_student(teacher, tok, seed=1)
    assert [copied[f"bert.encoder.layer.{i}"] for i in range(3)] == [f"bert.encoder.layer.{l}" for l in (0, 2, 4)]
    for i, l in enumerate((0, 2, 4)):
        for p, q in zip(student.bert.encoder.layer[i].parameters(), teacher.bert.encoder.layer[l].parameters()):
            assert torch.equal(p, q)
    assert torch.equal(student.bert.embeddings.word_embeddings.weight, teacher.bert.embeddings.word_embeddings.weight)
    random_student, none = distilbert_student(teacher, tok, init="random", seed=1)
    assert none == {} and not torch.equal(random_student.bert.embeddings.word_embeddings.weight,
                                          teacher.bert.embeddings.word_embeddings.weight)

def test_distilbert_finetune_starts_from_the_distilled_encoder():
    tok = get_tokenizer("topics")
    enc = build_model("topics", "student-3", tok, seed=3, head="mlm")
    clf, _ = finetune_encoder(enc, tok, steps=0, seed=0)
    for p, q in zip(clf.bert.encoder.parameters(), enc.bert.encoder.parameters()): assert torch.equal(p, q)
    assert torch.equal(clf.bert.embeddings.word_embeddings.weight, enc.bert.embeddings.word_embeddings.weight)

# Patient KD (nbs/methods/pkd.ipynb)
from fastdistill.methods.pkd import cls_patient_term, pkd_terms, train_pkd
from fastdistill.encoders import encoder_data

def _unit(x): return x / x.norm(dim=-1, keepdim=True)

def test_pkd_patient_term_reads_cls_of_the_mapped_blocks_only():
    g = torch.Generator().manual_seed(0)
    s0, s1, t1, t3 = (torch.randn(3, 5, 8, generator=g) for _ in range(4))
    sig = {"student.hidden_states@0,1": [s0, s1], "teacher.hidden_states@1,3": [t1, t3]}
    want = sum(((_unit(a[:, 0]) - _unit(b[:, 0])) ** 2).sum(-1).mean() for a, b in ((s0, t1), (s1, t3)))
    term = cls_patient_term([0, 1], [1, 3], weight=10.0)
    assert term(sig).item() == pytest.approx(10 * want.item(), rel=1e-5)
    s0b = s0.clone(); s0b[:, 1:] = torch.randn(3, 4, 8, generator=g)  # tokens after [CLS] do not count
    assert term({**sig, "student.hidden_states@0,1": [s0b, s1]}).item() == pytest.approx(10 * want.item(), rel=1e-5)
    one = cls_patient_term([0], [3], weight=1.0)  # a single pair: the tap hands over a tensor, not a list
    assert one({"student.hidden_states@0": s0, "teacher.hidden_states@3": t3}).item() == pytest.approx(
        float(((_unit(s0[:, 0]) - _unit(t3[:, 0])) ** 2).sum(-1).mean()), rel=1e-5)

def test_pkd_terms_map_skip_and_last_and_weigh_by_alpha():
    skip, last = pkd_terms("skip", 3, 6, alpha=0.3, temperature=4.0, beta=7.0), pkd_terms("last", 3, 6)
    assert [(t.name, t.weight) for t in skip] == [("ce", pytest.approx(0.7)), ("ds", 0.3), ("pt", 7.0)]
    assert skip[2].needs == ("student.hidden_states@0,1", "teacher.hidden_states@1,3")
    assert last[2].needs == ("student.hidden_states@0,1", "teacher.hidden_states@3,4")
    assert pkd_terms("skip", 4, 12)[2].needs == ("student.hidden_states@0,1,2", "teacher.hidden_states@2,5,8")
    assert [t.name for t in pkd_terms(None)] == ["ce", "ds"] and [t.name for t in pkd_terms(None, alpha=0)] == ["ce"]
    torch.manual_seed(0)
    s, t = torch.randn(4, 6) * 2, torch.randn(4, 6) * 2
    p, q = F.softmax(t / 4, -1), F.softmax(s / 4, -1)
    kl = float((p * (p.log() - q.log())).sum(-1).mean())
    sig = {"student.logits": s, "teacher.logits": t, "batch.labels": torch.tensor([0, 1, 2, 3])}
    assert skip[1](sig).item() == pytest.approx(0.3 * 16 * kl, rel=1e-5)  # α · T² · KL(teacher ‖ student) at T
    assert skip[0](sig).item() == pytest.approx(0.7 * float(F.cross_entropy(s, sig["batch.labels"])), rel=1e-5)

def test_pkd_student_starts_from_the_teachers_first_blocks():
    tok = get_tokenizer("topics")
    teacher = build_model("topics", "teacher", tok, seed=0)
    data = encoder_data(tok, batch_size=4, eval_limit=8).with_teacher(teacher)
    row, h = train_pkd("PKD-Skip", 1, teacher, data, steps=0)
    student = h["model"]
    for i in range(3):
        for p, q in zip(student.bert.encoder.layer[i].parameters(), teacher.bert.encoder.layer[i].parameters()):
            assert torch.equal(p, q)
    assert torch.equal(student.bert.embeddings.word_embeddings.weight, teacher.bert.embeddings.word_embeddings.weight)
    assert row["method"] == "PKD-Skip" and 0 <= row["agreement"] <= 1

def test_pkd_terms_train_a_users_distilbert_pair():
    "Another architecture than the zoo's (DistilBERT blocks, q_lin/k_lin names): the patient term taps and falls."
    from transformers import DistilBertConfig, DistilBertForSequenceClassification
    from fastdistill.distiller import Distiller
    def make(layers, seed):
        torch.manual_seed(seed)
        return DistilBertForSequenceClassification(DistilBertConfig(
            vocab_size=60, dim=32, n_layers=layers, n_heads=2, hidden_dim=64, max_position_embeddings=32, num_labels=3,
            dropout=0.0, attention_dropout=0.0))
    teacher, student = make(4, 0), make(2, 1)  # a random student: its [CLS] directions start far from the teacher's
    g = torch.Generator().manual_seed(0)
    batch = {"input_ids": torch.randint(4, 60, (8, 12), generator=g), "attention_mask": torch.ones(8, 12, dtype=torch.long),
             "labels": torch.randint(0, 3, (8,), generator=g)}
    terms = pkd_terms("skip", 2, 4, beta=10.0)
    assert terms[2].needs == ("student.hidden_states@0", "teacher.hidden_states@1")
    hist = Distiller(student, terms, teacher=teacher, lr=3e-3, seed=0, progress=False, log_every=1,
                     term_grad_norms=False).fit(lambda rng: batch, 30)
    pt = [v for _, v in hist.column("pt")]
    assert len(pt) == 30 and pt[-1] < 0.2 * pt[0], pt

# MiniLM (nbs/methods/minilm.ipynb)
from fastdistill.methods import minilm as minilm_mod
from fastdistill.methods.minilm import attention_term, minilm_terms, value_relation_term

def _row_kl_by_hand(t_logits, s_logits, mask):  # mean over (batch, head, valid query) of KL over valid keys
    out = []
    for b in range(t_logits.shape[0]):
        n = int(mask[b].sum())
        for h in range(t_logits.shape[1]):
            for q in range(n):
                p, r = F.softmax(t_logits[b, h, q, :n], -1), F.softmax(s_logits[b, h, q, :n], -1)
                out.append(float((p * (p.log() - r.log())).sum()))
    return sum(out) / len(out)

def test_minilm_attention_term_is_kl_teacher_to_student_over_valid_keys_of_the_last_blocks():
    g = torch.Generator().manual_seed(0)
    t, s = torch.randn(2, 3, 5, 5, generator=g) * 2, torch.randn(2, 3, 5, 5, generator=g) * 2
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]])
    term = attention_term()
    assert term.needs == ("student.attn_scores@-1", "teacher.attn_scores@-1", "batch.attention_mask")
    sig = {"student.attn_scores@-1": s, "teacher.attn_scores@-1": t, "batch.attention_mask": mask}
    assert term(sig).item() == pytest.approx(_row_kl_by_hand(t, s, mask), rel=1e-5)
    with pytest.raises(DistillInputError, match="same number of heads"):
        term({**sig, "student.attn_scores@-1": s[:, :2]})

def test_minilm_value_relation_splits_heads_and_reads_values_only():
    g = torch.Generator().manual_seed(1)
    vt, vs = torch.randn(2, 5, 16, generator=g), torch.randn(2, 5, 8, generator=g)
    mask = torch.tensor([[1, 1, 1, 1, 0], [1, 1, 1, 1, 1]])
    rel = lambda x, H: torch.stack([x[:, :, h * (x.shape[-1] // H):(h + 1) * (x.shape[-1] // H)] for h in range(H)], 1)
    logits = lambda x, H: rel(x, H) @ rel(x, H).transpose(-1, -2) / (x.shape[-1] // H) ** 0.5
    term = value_relation_term(4)
    assert term.needs == ("student.qkv@-1", "teacher.qkv@-1", "batch.attention_mask")
    other = torch.randn(2, 5, 16, generator=g)
    sig = {"student.qkv@-1": (other[..., :8], other[..., 8:], vs), "teacher.qkv@-1": (other, other, vt),
           "batch.attention_mask": mask}
    want = _row_kl_by_hand(logits(vt, 4), logits(vs, 4), mask)
    assert term(sig).item() == pytest.approx(want, rel=1e-5)
    assert want != pytest.approx(_row_kl_by_hand(logits(vt, 1), logits(vs, 1), mask), rel=1e-3)  # heads matter
    assert [t.name for t in minilm_terms(4)] == ["at", "vr"]

def test_minilm_student_learns_from_the_assistant_that_learnt_from_the_teacher(monkeypatch):
    tok = get_tokenizer("topics")
    teacher = build_model("topics", "teacher", tok, seed=0)
    data = encoder_data(tok, batch_size=4, eval_limit=8).with_teacher(teacher)
    calls = []
    def fake(student, source, terms, steps, batches, **kw):
        calls.append((student.config.hidden_size, student.config.num_hidden_layers, source))
        return None
    monkeypatch.setattr(minilm_mod, "distil_encoder", fake)
    minilm_mod.train_minilm("MiniLM via assistant", 0, teacher, data, distil_steps=3, finetune_steps=0)
    (a_w, a_l, a_src), (s_w, s_l, s_src) = calls
    assert (a_w, a_l, s_w, s_l) == (112, 4, 96, 2) and a_src is teacher and s_src is not teacher
    assert s_src.config.hidden_size == 112  # the student's source is the assistant just distilled
    calls.clear()
    minilm_mod.train_minilm("MiniLM direct", 0, teacher, data, distil_steps=3, finetune_steps=0)
    assert len(calls) == 1 and calls[0][:2] == (96, 2) and calls[0][2] is teacher
    calls.clear()
    minilm_mod.train_minilm("fine-tune only", 0, teacher, data, distil_steps=3, finetune_steps=0)
    assert calls == []

# MiniLMv2 (nbs/methods/minilmv2.ipynb)
from fastdistill.methods import minilmv2 as minilmv2_mod
from fastdistill.methods.minilmv2 import qkv_relation_terms, upper_middle_block

def test_minilmv2_relations_pair_q_with_q_k_with_k_v_with_v_at_r_heads():
    g = torch.Generator().manual_seed(2)
    t = tuple(torch.randn(2, 5, 16, generator=g) for _ in range(3))
    s = tuple(torch.randn(2, 5, 12, generator=g) for _ in range(3))
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]])
    def rel(x, R):
        d = x.shape[-1] // R
        xr = torch.stack([x[:, :, r * d:(r + 1) * d] for r in range(R)], 1)
        return xr @ xr.transpose(-1, -2) / d ** 0.5
    terms = qkv_relation_terms(4, teacher_layer=4)
    assert [x.name for x in terms] == ["qq", "kk", "vv"]
    assert all(x.needs == ("student.qkv@-1", "teacher.qkv@4", "batch.attention_mask") for x in terms)
    sig = {"student.qkv@-1": s, "teacher.qkv@4": t, "batch.attention_mask": mask}
    for i, x in enumerate(terms):
        assert x(sig).item() == pytest.approx(_row_kl_by_hand(rel(t[i], 4), rel(s[i], 4), mask), rel=1e-5), x.name
    assert terms[0](sig).item() != pytest.approx(_row_kl_by_hand(rel(t[0], 2), rel(s[0], 2), mask), rel=1e-3)
    assert upper_middle_block(24) == 20 and upper_middle_block(6) == 4 and upper_middle_block(1) == 0

def test_minilmv2_arms_choose_the_teacher_block_and_relation_heads(monkeypatch):
    tok = get_tokenizer("topics")
    teacher = build_model("topics", "teacher", tok, seed=0)
    data = encoder_data(tok, batch_size=4, eval_limit=8).with_teacher(teacher)
    calls = []
    monkeypatch.setattr(minilmv2_mod, "distil_encoder",
                        lambda student, source, terms, *a, **kw: calls.append((student.config, source, terms)))
    for arm in ("R=8 · last block", "R=8 · upper-middle block", "R=32 · last block", "fine-tune only"):
        minilmv2_mod.train_minilmv2(arm, 0, teacher, data, distil_steps=3, finetune_steps=0)
    assert len(calls) == 3 and all(src is teacher for _, src, _ in calls)
    assert all((c.hidden_size, c.num_attention_heads) == (96, 3) for c, _, _ in calls)
    assert [terms[0].needs[1] for _, _, terms in calls] == ["teacher.qkv@5", "teacher.qkv@4", "teacher.qkv@5"]
    g = torch.Generator().manual_seed(0)
    x = torch.randn(1, 4, 96, generator=g), torch.randn(1, 4, 128, generator=g)
    sig = lambda terms: {"student.qkv@-1": (x[0],) * 3, terms[0].needs[1]: (x[1],) * 3,
                         "batch.attention_mask": torch.ones(1, 4)}
    r8, r32 = calls[0][2], calls[2][2]
    assert r8[0](sig(r8)).item() == pytest.approx(qkv_relation_terms(8, 5)[0](sig(r8)).item())
    assert r32[0](sig(r32)).item() == pytest.approx(qkv_relation_terms(32, 5)[0](sig(r32)).item())
    assert r8[0](sig(r8)).item() != pytest.approx(r32[0](sig(r32)).item(), rel=1e-3)

def test_minilm_and_minilmv2_terms_train_a_users_distilbert_pair():
    "DistilBERT blocks (q_lin/k_lin/v_lin, its own attention class): attention and Q/K/V relations tap and fall."
    from transformers import DistilBertConfig, DistilBertForSequenceClassification
    from fastdistill.distiller import Distiller
    def make(layers, dim, heads, seed):
        torch.manual_seed(seed)
        return DistilBertForSequenceClassification(DistilBertConfig(
            vocab_size=60, dim=dim, n_layers=layers, n_heads=heads, hidden_dim=2 * dim, max_position_embeddings=32,
            num_labels=3, dropout=0.0, attention_dropout=0.0))
    g = torch.Generator().manual_seed(0)
    mask = torch.ones(8, 12, dtype=torch.long); mask[:4, 9:] = 0
    batch = {"input_ids": torch.randint(4, 60, (8, 12), generator=g), "attention_mask": mask}
    teacher = make(4, 32, 4, 0)
    for student, terms in ((make(2, 16, 4, 1), minilm_terms(4)), (make(2, 24, 3, 1), qkv_relation_terms(8, 2))):
        hist = Distiller(student, terms, teacher=teacher, lr=1e-2, seed=0, progress=False, log_every=1,
                         term_grad_norms=False).fit(lambda rng: batch, 40)
        for t in terms:
            v = [x for _, x in hist.column(t.name)]
            assert len(v) == 40 and sum(v[-5:]) < 0.5 * sum(v[:5]), (t.name, v[:5], v[-5:])

# --- TinyBERT (nbs/methods/tinybert.ipynb) ---
from fastdistill.methods import tinybert as tinybert_mod
from fastdistill.methods.tinybert import (augment, intermediate_terms, mlm_candidates, prediction_term,
                                          soft_cross_entropy, tinybert_projections)

def _mse_by_hand(s, t, mask):  # mean over valid tokens of the mean over features
    m = mask.bool()
    return float(((s - t).pow(2).mean(-1) * m).sum() / m.sum())

def test_tinybert_intermediate_terms_pair_block_m_with_teacher_block_m_n_over_m_through_their_own_projections():
    torch.manual_seed(0)
    proj = tinybert_projections(6, 8)
    emb, att, hid = intermediate_terms(proj, 2, 6)
    assert [x.name for x in (emb, att, hid)] == ["emb", "att", "hid"]
    assert emb.needs == ("student.hidden_states@emb", "teacher.hidden_states@emb", "batch.attention_mask")
    assert att.needs == ("student.attn_scores@0,1", "teacher.attn_scores@2,5", "batch.attention_mask")
    assert hid.needs == ("student.hidden_states@0,1", "teacher.hidden_states@2,5", "batch.attention_mask")
    assert intermediate_terms(proj, 3, 6)[1].needs[1] == "teacher.attn_scores@1,3,5"
    g = torch.Generator().manual_seed(1)
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0]])
    hs, ht = [torch.randn(2, 4, 6, generator=g) for _ in range(2)], [torch.randn(2, 4, 8, generator=g) for _ in range(2)]
    es, et = torch.randn(2, 4, 6, generator=g), torch.randn(2, 4, 8, generator=g)
    a_s, a_t = [torch.randn(2, 3, 4, 4, generator=g) * 3 for _ in range(2)], [torch.randn(2, 3, 4, 4, generator=g) * 3
                                                                           for _ in range(2)]
    sig = {"student.hidden_states@emb": es, "teacher.hidden_states@emb": et, "student.hidden_states@0,1": hs,
           "teacher.hidden_states@2,5": ht, "student.attn_scores@0,1": a_s, "teacher.attn_scores@2,5": a_t,
           "batch.attention_mask": mask}
    with torch.no_grad():
        want_emb = _mse_by_hand(proj["w_e"](es), et, mask)
        want_hid = sum(_mse_by_hand(proj["w_h"](s), t, mask) for s, t in zip(hs, ht))
        assert emb(sig).item() == pytest.approx(want_emb, rel=1e-5)
        assert emb(sig).item() != pytest.approx(_mse_by_hand(proj["w_h"](es), et, mask), rel=1e-3)  # W_e is its own
        assert hid(sig).item() == pytest.approx(want_hid, rel=1e-5)
    pair = mask.bool()[:, None, :, None] & mask.bool()[:, None, None, :]  # valid (query, key) pairs, every head
    want_att = sum(float(((s - t).pow(2) * pair).sum() / pair.expand_as(s).sum()) for s, t in zip(a_s, a_t))
    assert att(sig).item() == pytest.approx(want_att, rel=1e-5)  # raw scores, not softmax probabilities

def test_tinybert_prediction_is_soft_cross_entropy_at_temperature():
    s, t = torch.tensor([[1.0, 0.0, -1.0], [0.5, 2.0, 0.0]]), torch.tensor([[2.0, 1.0, 0.0], [0.0, 0.0, 3.0]])
    for T in (1.0, 2.0):
        p, lq = torch.softmax(t / T, -1), torch.log_softmax(s / T, -1)
        want = float(-(p * lq).sum(-1).mean())
        assert soft_cross_entropy(s, t, T).item() == pytest.approx(want, rel=1e-6)
        assert prediction_term(T)({"student.logits": s, "teacher.logits": t}).item() == pytest.approx(want, rel=1e-6)
    # the teacher is the target: cross-entropy ≥ the teacher's entropy, with equality when the student matches
    assert soft_cross_entropy(t, t).item() == pytest.approx(float(-(torch.softmax(t, -1) * torch.log_softmax(t, -1))
                                                                  .sum(-1).mean()), rel=1e-6)
    with pytest.raises(DistillInputError, match="student logits"): soft_cross_entropy(s, t[:, :2])

def _tiny_mlm(tok, seed=0):
    torch.manual_seed(seed)
    return BertForMaskedLM(BertConfig(vocab_size=len(tok), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                                      intermediate_size=64, max_position_embeddings=64))

class _FavouringMLM(torch.nn.Module):  # a masked LM that always ranks the texts' own tokens first
    def __init__(self, tok, texts):
        super().__init__()
        self.base = torch.zeros(len(tok))
        self.base[sorted(set(sum(tok(list(texts)).input_ids, [])))] = 10.0
    def forward(self, input_ids, attention_mask):
        from types import SimpleNamespace
        return SimpleNamespace(logits=self.base.expand(*input_ids.shape, -1))

def test_tinybert_augmentation_replaces_only_single_piece_words_never_protected_special_or_padding():
    tok = get_tokenizer("topics")
    texts = ["opera jazz report the zzqxv map", "trip visa backpack yesterday opera"]
    protected = tok.convert_tokens_to_ids(["Ġopera", "Ġmap"])
    # 6 allowed tokens of each kind (after a space or not) are ranked first: the original would be among the top 6
    c = mlm_candidates(_FavouringMLM(tok, texts), tok, texts, [3, 1], k=6, max_len=16, protected=protected)
    tokens = [tok.convert_ids_to_tokens(r) for r in c.input_ids]
    want = [[t in ("opera", "Ġjazz", "Ġreport", "Ġthe") for t in tokens[0]],  # not the 6 pieces of zzqxv, not map
            [t in ("trip", "Ġvisa", "Ġbackpack", "Ġyesterday") for t in tokens[1]]]  # not the protected opera
    assert c.replaceable.tolist() == want
    specials = set(tok.all_special_ids) | set(protected)
    marked = lambda x: tok.convert_ids_to_tokens(x).startswith("Ġ")  # a word after a space stays one
    for i, j in c.replaceable.nonzero().tolist():
        cand = c.cands[i, j].tolist()
        assert len(set(cand)) == 6 and int(c.input_ids[i, j]) not in cand and not specials & set(cand), (i, j, cand)
        assert all(marked(x) == marked(int(c.input_ids[i, j])) for x in cand)
    a = augment(c, n_aug=3, p=1.0, seed=0)
    N = len(texts)
    assert a.input_ids.shape == (4 * N, 16) and a.labels.tolist() == [3, 1] * 4
    changed = a.input_ids != c.input_ids.repeat(4, 1)
    assert not changed[:N].any() and (changed[N:] == c.replaceable.repeat(3, 1)).all()  # p = 1: every word, only
    assert all(int(a.input_ids[r, j]) in c.cands[r % N, j].tolist() for r, j in changed.nonzero().tolist())
    assert (augment(c, 2, p=0.0).input_ids == c.input_ids.repeat(3, 1)).all()
    half = augment(c, 50, p=0.4, seed=1).input_ids[N:] != c.input_ids.repeat(50, 1)
    assert 0.33 < half.sum() / (50 * c.replaceable.sum()) < 0.47
    for stride in (None, 2):  # a real (random) masked LM, one word per pass or every other word together
        c2 = mlm_candidates(_tiny_mlm(tok), tok, texts, [3, 1], k=4, max_len=16, protected=protected, stride=stride)
        assert (c2.replaceable == c.replaceable).all() and (c2.cands[~c2.replaceable] == -1).all()

def test_tinybert_arms_run_their_stages_on_their_data(monkeypatch):
    tok = get_tokenizer("topics")
    teacher = build_model("topics", "teacher", tok, seed=0)
    data = encoder_data(tok, batch_size=4, eval_limit=8).with_teacher(teacher)
    tb = tinybert_mod.TinyBertData(general="general", small="small", augmented="augmented", n_small=1, n_augmented=2)
    calls = []
    monkeypatch.setattr(tinybert_mod, "distil_encoder", lambda student, source, terms, steps, batches, **kw:
                        calls.append((tuple(t.name for t in terms), batches, steps, kw["modules"] is not None)))
    monkeypatch.setattr(tinybert_mod, "finetune_encoder", lambda enc, tok_, steps, task, size, **kw:
                        calls.append(("ce", kw["batches"], steps)) or (build_model("topics", size, tok), None))
    monkeypatch.setattr(tinybert_mod, "held_out_terms", lambda *a, **kw: {"att": 0.0})
    monkeypatch.setattr(tinybert_mod, "score_student", lambda model, data: {})
    inter, pred = ("emb", "att", "hid"), ("pred",)
    want = {"TinyBERT": [(inter, "general", 5, True), (inter, "augmented", 3, True), (pred, "augmented", 2, False)],
            "no augmentation": [(inter, "general", 5, True), (inter, "small", 3, True), (pred, "small", 2, False)],
            "task only": [(inter, "augmented", 3, True), (pred, "augmented", 2, False)],
            "fine-tune only": [("ce", "small", 5)]}
    for arm in tinybert_mod.TINYBERT_ARMS:
        calls.clear()
        tinybert_mod.train_tinybert(arm, 0, teacher, data, tb, general_steps=5, intermediate_steps=3, prediction_steps=2)
        assert calls == want[arm], arm

def test_tinybert_terms_train_a_users_distilbert_pair():
    "A narrower DistilBERT student of a DistilBERT teacher: every intermediate term and the prediction term fall."
    from transformers import DistilBertConfig, DistilBertForSequenceClassification
    from fastdistill.distiller import Distiller
    def make(layers, dim, seed):
        torch.manual_seed(seed)
        return DistilBertForSequenceClassification(DistilBertConfig(
            vocab_size=60, dim=dim, n_layers=layers, n_heads=4, hidden_dim=2 * dim, max_position_embeddings=32,
            num_labels=3, dropout=0.0, attention_dropout=0.0))
    g = torch.Generator().manual_seed(0)
    mask = torch.ones(8, 12, dtype=torch.long); mask[:4, 9:] = 0
    batch = {"input_ids": torch.randint(4, 60, (8, 12), generator=g), "attention_mask": mask}
    teacher, student = make(4, 32, 0), make(2, 16, 1)
    with torch.no_grad():
        teacher.classifier.weight.mul_(30)  # confident predictions: the soft cross-entropy has room above its floor
        z = teacher(**batch).logits
    floor = float(-(torch.softmax(z, -1) * torch.log_softmax(z, -1)).sum(-1).mean())  # the teacher's entropy
    proj = tinybert_projections(16, 32)
    for terms, modules in ((intermediate_terms(proj, 2, 4), proj), ([prediction_term()], None)):
        hist = Distiller(student, terms, teacher=teacher, lr=1e-2, seed=0, progress=False, log_every=1, modules=modules,
                         term_grad_norms=False).fit(lambda rng: batch, 40)
        for t in terms:
            v = [x - (floor if t.name == "pred" else 0.0) for _, x in hist.column(t.name)]
            assert len(v) == 40 and sum(v[-5:]) < 0.7 * sum(v[:5]), (t.name, v[:5], v[-5:])

# --- the five methods compared (nbs/methods/transformer_compare.ipynb) ---
from fastdistill.methods import transformer_compare as summary_mod

def test_transformer_compare_gives_every_method_the_same_student_and_budget(monkeypatch):
    for budget in (1, 60, 401):
        assert all(sum(summary_mod.stage_steps(a, budget).values()) == budget for a in summary_mod.SUMMARY_ARMS)
    calls = {}
    def fake(name):
        def train(arm, seed, teacher, data, *steps, size="student-2", **kw):
            calls[name] = (teacher, [s for s in steps if isinstance(s, int)], size)
            return {"method": arm}, {}
        return train
    for fn in ("train_distilbert", "train_pkd", "train_tinybert", "train_minilm", "train_minilmv2"):
        monkeypatch.setattr(summary_mod, fn, fake(fn))
    monkeypatch.setattr(summary_mod, "finetune_encoder", lambda enc, tok, steps, task, size, **kw:
                        calls.__setitem__("finetune", (enc, [steps], size)) or (None, None))
    monkeypatch.setattr(summary_mod, "score_student", lambda model, data: {})
    data = type("D", (), {"finetune": "labelled", "tokenizer": None, "task": "topics"})()
    for arm in summary_mod.SUMMARY_ARMS:
        row, _ = summary_mod.train_summary_arm(arm, 0, "teacher", "mlm", data, "general", 101)
        assert row == {"method": arm, "seed": 0, "steps": 101}
    assert {k: sum(v[1]) for k, v in calls.items()} == dict.fromkeys(calls, 101) and len(calls) == 6
    assert {v[2] for v in calls.values()} == {"student-3"}  # one student size for every method
    assert calls["train_distilbert"][0] == "mlm" and calls["train_pkd"][0] == "teacher"
    assert calls["train_tinybert"][1] == [50, 25, 26] and calls["finetune"][0] is None
