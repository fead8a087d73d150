"""Mutation check: inject plausible wrong implementations into the methods, one at a time; the tests must catch each.

    python tools/mutants.py            # every variant; exit 1 if any survives (or the unmutated copy fails)
    python tools/mutants.py --list     # the variants, by method, with the mistake each one stands for
    python tools/mutants.py -k lit     # only variants whose method or name contains "lit"
    python tools/mutants.py -j 2       # two variants at a time, one torch thread each (what .ci/run does)

Each variant is a text substitution in the exported package (`fastdistill/…py`, which nbdev writes from the
notebooks). It is applied to a scratch copy of the package; the fast mechanism tests (`tests/test_mechanisms.py`,
those selected for the variant's method) then run against that copy in a fresh interpreter. A variant is *killed*
when a test fails (pytest exit status 1); a collection or import error does not count as a kill — the substitution
must leave importable code. Before any variant, the same tests run on the unmutated copy and must pass, so a
kill is the variant's doing. Every future method issue adds its own variants here.
"""
from __future__ import annotations
import argparse, os, shutil, subprocess, sys, tempfile, time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TESTS = "tests/test_mechanisms.py"
SELECT = {  # method -> the mechanism tests that speak for it (pytest -k)
    "losses": "kd_term or divergence or temperature",
    "hinton": "kd_term or temperature or hinton or hard_label or argmax",
    "fitnets": "fitnet",
    "born_again": "ban or cwtm or dkpp or generation",
    "lit": "lit or student_from_teacher",
    "sparse_kd": "stored_topk or sft_labels or distill_student or seed_budget",
    "seeds": "compare_seeds or seed_spread or results_diff",
    # reliability (issue 14): (test file, -k) where the tests live outside the mechanism tests
    "faults": ("tests/test_faults.py", "hand_edited or second_writer or auth_failure or losses_reject"),
    # packed top-k storage (issue 15)
    "topk": ("tests/test_topk.py", "round_trip or adversarial or bad_rows"),
    # transformer KD (issue 16): layer maps, initialisation, BERT masking, masked-LM and patient losses
    "transformer_kd": ("tests/test_transformer_kd.py", "layer_maps or init_from_teacher or mlm_mask or masked_ce or pkd"),
    "distilbert": ("tests/test_transformer_kd.py", "distilbert"),
    "pkd": ("tests/test_transformer_kd.py", "pkd"),
    "minilm": ("tests/test_transformer_kd.py", "minilm and not minilmv2"),
    "minilmv2": ("tests/test_transformer_kd.py", "minilmv2"),
    "tinybert": ("tests/test_transformer_kd.py", "tinybert"),
    "transformer_compare": ("tests/test_transformer_kd.py", "transformer_compare"),
    # synthetic training sets (issue 17): the functional core, DD, MTT, the generative prior
    "synthetic": ("tests/test_synthetic.py", "synthetic"),
    "dataset_distillation": ("tests/test_synthetic.py", "dd_"),
    "mtt": ("tests/test_synthetic.py", "mtt_"),
    "generative_prior": ("tests/test_synthetic.py", "generative_prior or elbo"),
    # arm identity (issue 33): what each arm starts from, which terms it trains, what the next stage starts from
    "distilbert_arms": ("tests/test_arms.py", "distilbert"),
    "pkd_arms": ("tests/test_arms.py", "pkd"),
    "minilm_arms": ("tests/test_arms.py", "minilm_arms"),
    "minilmv2_arms": ("tests/test_arms.py", "minilmv2"),
    "tinybert_arms": ("tests/test_arms.py", "tinybert"),
    "lit_arms": ("tests/test_arms.py", "lit"),
    "sparse_kd_arms": ("tests/test_arms.py", "kd_and_sft"),
    "generative_prior_arms": ("tests/test_arms.py", "generative_prior"),
    # results pinning (issue 33): zoo models train on pinned threads, results files name the models they used
    "zoo_pinning": ("tests/test_results.py", "empty_model_cache"),
}

@dataclass
class Mutant:
    method: str  # a key of SELECT
    name: str
    why: str  # the mistake it stands for
    file: str  # path in the package
    old: str  # text that occurs `count` times in the file (every occurrence is replaced)
    new: str
    count: int = 1

M = Mutant
MUTANTS = [
    # transformer KD (nbs/17_encoders.ipynb; the masking in nbs/03_models.ipynb, the losses in nbs/10_losses.ipynb)
    M("transformer_kd", "init-from-the-first-blocks", "the student copies the teacher's first M blocks, not every other",
      "fastdistill/encoders.py", "return [2 * i for i in range(M)]", "return list(range(M))"),
    M("transformer_kd", "pkd-skip-off-by-one", "PKD-Skip maps to the block after the intended one",
      "fastdistill/encoders.py", "if scheme == \"skip\": return [m * N // M - 1 for m in range(1, M)]",
      "if scheme == \"skip\": return [m * N // M for m in range(1, M)]"),
    M("transformer_kd", "pkd-last-off-by-one", "PKD-Last takes the teacher's top block among its targets",
      "fastdistill/encoders.py", "if scheme == \"last\": return [N - M + m - 1 for m in range(1, M)]",
      "if scheme == \"last\": return [N - M + m for m in range(1, M)]"),
    M("transformer_kd", "pkd-unnormalised", "the patient loss between raw, not L2-normalised, states",
      "fastdistill/losses.py", "(F.normalize(s, dim=-1) - F.normalize(t, dim=-1)).pow(2)", "(s - t).pow(2)"),
    M("transformer_kd", "specials-maskable", "BERT masking that may choose <cls>, <sep> or padding",
      "fastdistill/models.py", "chosen = (r < p) & can", "chosen = r < p"),
    M("transformer_kd", "mlm-shifted", "the masked-LM loss with a causal shift",
      "fastdistill/losses.py", "return F.cross_entropy(logits.flatten(0, 1).float(), labels.flatten(), ignore_index=-100)",
      "return causal_ce(logits, labels)"),
    # DistilBERT (nbs/methods/distilbert.ipynb)
    M("distilbert", "soft-ce-every-position", "the soft-target loss over every position, not only the masked ones",
      "fastdistill/methods/distilbert.py", "mask=s[labels] != -100,", "mask=None,"),
    M("distilbert", "soft-ce-without-t2", "the soft-target loss without the τ² factor",
      "fastdistill/methods/distilbert.py", "temperature=temperature)", "temperature=temperature, scale_t2=False)"),
    M("distilbert", "soft-ce-reversed", "KL(student ‖ teacher) instead of the teacher's distribution as the target",
      "fastdistill/methods/distilbert.py", '"forward_kl", mask=', '"reverse_kl", mask='),
    M("distilbert", "cosine-over-padding", "the hidden-state cosine averaged over padding positions too",
      "fastdistill/methods/distilbert.py", 'cosine_hidden(s[s_sig], s[t_sig], s["batch.attention_mask"])', "cosine_hidden(s[s_sig], s[t_sig], None)"),
    M("distilbert", "init-from-upper-blocks", "the student initialised from teacher blocks 1, 3, 5 (uniform map)",
      "fastdistill/methods/distilbert.py", 'teacher_mlm.config.num_hidden_layers, "alternate")', 'teacher_mlm.config.num_hidden_layers, "uniform")'),
    M("distilbert", "finetune-from-scratch", "fine-tuning a fresh classifier instead of the distilled encoder",
      "fastdistill/encoders.py", "if encoder is not None: init_from_teacher(clf, encoder,", "if False: init_from_teacher(clf, encoder,"),
    M("distilbert", "weights-swapped", "the soft-target and masked-LM weights swapped (2 : 5 instead of 5 : 2)",
      "fastdistill/methods/distilbert.py", "w_ce: float = 5.0, w_mlm: float = 2.0", "w_ce: float = 2.0, w_mlm: float = 5.0"),
    # Patient KD (nbs/methods/pkd.ipynb)
    M("pkd", "mean-pooled-states", "the patient loss on mean-pooled states instead of the [CLS] position",
      "fastdistill/methods/pkd.py", "[h[:, 0] for h in as_list(s[s_sig])]", "[h.mean(1) for h in as_list(s[s_sig])]"),
    M("pkd", "last-student-block-taught", "the patient pairs shifted up: the student's last block included, its first left out",
      "fastdistill/methods/pkd.py", "cls_patient_term(range(n_student - 1),", "cls_patient_term(range(1, n_student),"),
    M("pkd", "ce-not-weighted", "the label cross-entropy at weight 1 instead of 1 − α",
      "fastdistill/methods/pkd.py", 'sft_term("ce", 1 - alpha)', 'sft_term("ce", 1.0)'),
    M("pkd", "soft-targets-without-t2", "the soft-target KL without the T² factor",
      "fastdistill/methods/pkd.py", "weight=alpha, temperature=temperature))", "weight=alpha, temperature=temperature, scale_t2=False))"),
    M("pkd", "init-from-top-blocks", "the student initialised from the teacher's top blocks instead of its first ones",
      "fastdistill/methods/pkd.py", "layers=range(n_s),", "layers=range(n_t - n_s, n_t),"),
    # MiniLM (nbs/methods/minilm.ipynb)
    M("minilm", "attention-kl-reversed", "KL(student ‖ teacher) between the attention distributions",
      "fastdistill/methods/minilm.py", "minilm_attention_kl(s[s_sig], s[t_sig],", "minilm_attention_kl(s[t_sig], s[s_sig],"),
    M("minilm", "relation-of-keys", "the value relation computed on the keys (the q/k/v tuple's wrong slot)",
      "fastdistill/methods/minilm.py", "relation_kl(s[s_sig][2], s[t_sig][2],", "relation_kl(s[s_sig][1], s[t_sig][1],"),
    M("minilm", "relation-one-head", "the value relation over the whole width instead of per attention head",
      "fastdistill/methods/minilm.py", "s[t_sig][2], n_heads,", "s[t_sig][2], 1,"),
    M("minilm", "first-teacher-block", "the attention of the teacher's first block instead of its last",
      "fastdistill/methods/minilm.py", 'teacher_layer: int = -1, name: str = "at"', 'teacher_layer: int = 0, name: str = "at"'),
    M("minilm", "student-skips-the-assistant", "the student distilled from the teacher although an assistant was trained",
      "fastdistill/methods/minilm.py", 'else source, data,', 'else teacher, data,'),
    # MiniLMv2 (nbs/methods/minilmv2.ipynb)
    M("minilmv2", "relation-heads-are-attention-heads", "the relations split by each model's attention heads, not R",
      "fastdistill/methods/minilmv2.py", "relation_kl(s[s_sig][i], s[t_sig][i], n_relation_heads,", "relation_kl(s[s_sig][i], s[t_sig][i], 2,"),
    M("minilmv2", "student-q-against-teacher-k", "the student's queries against the teacher's keys (slots crossed)",
      "fastdistill/methods/minilmv2.py", "relation_kl(s[s_sig][i], s[t_sig][i],", "relation_kl(s[s_sig][i], s[t_sig][(i + 1) % 3],"),
    M("minilmv2", "upper-middle-off-by-one", "the upper-middle block counted one too high (7/8 of the depth, 1-based)",
      "fastdistill/methods/minilmv2.py", "round(n_blocks * 7 / 8) - 1)", "round(n_blocks * 7 / 8))"),
    M("minilmv2", "upper-middle-ignored", "the teacher's last block used whatever the arm asks for",
      "fastdistill/methods/minilmv2.py", 'layer = n_t - 1 if block == "last" else upper_middle_block(n_t)', "layer = n_t - 1"),
    # TinyBERT (nbs/methods/tinybert.ipynb)
    M("tinybert", "attention-after-softmax", "the attention loss on softmax probabilities, not the raw scores",
      "fastdistill/methods/tinybert.py", "attention_mse(a, b, m)", "attention_mse(a.softmax(-1), b.softmax(-1), m)"),
    M("tinybert", "one-projection-for-everything", "the embeddings mapped by the hidden states' W_h, not their own W_e",
      "fastdistill/methods/tinybert.py", 'embedding_term(projections["w_e"])', 'embedding_term(projections["w_h"])'),
    M("tinybert", "g-m-from-the-bottom", "student block m learns from teacher block m, not m·N/M",
      "fastdistill/methods/tinybert.py", 'g = layer_map(n_student, n_teacher, "uniform")', "g = list(range(n_student))"),
    M("tinybert", "temperature-on-the-student-only", "the teacher's logits not divided by the temperature",
      "fastdistill/methods/tinybert.py", "F.softmax(teacher_logits.float() / temperature, -1)",
      "F.softmax(teacher_logits.float(), -1)"),
    M("tinybert", "protected-tokens-replaced", "augmentation may replace the tokens a task protects",
      "fastdistill/methods/tinybert.py", "keep = torch.tensor(sorted(set(tokenizer.all_special_ids) | set(protected)),",
      "keep = torch.tensor(sorted(set(tokenizer.all_special_ids)),"),
    M("tinybert", "word-pieces-replaced", "pieces of a multi-piece word replaced one by one",
      "fastdistill/methods/tinybert.py", "if w is None or counts[w] != 1: out[i, j] = False", "if w is None: out[i, j] = False"),
    M("tinybert", "original-is-a-candidate", "the masked word itself counted among its replacements",
      "fastdistill/methods/tinybert.py", "ok[torch.arange(len(g)), orig] = False", "pass"),
    M("tinybert", "no-aug-arm-augments", "the no-augmentation arm reads the augmented split",
      "fastdistill/methods/tinybert.py", '"no augmentation": (True, False)', '"no augmentation": (True, True)'),
    # the five transformer-KD methods compared (nbs/methods/transformer_compare.ipynb)
    M("transformer_compare", "second-stage-gets-the-whole-budget", "DistilBERT's fine-tuning not charged to the budget",
      "fastdistill/methods/transformer_compare.py", '"finetune": budget - half}, "PKD-Skip"', '"finetune": budget}, "PKD-Skip"'),
    M("transformer_compare", "tinybert-prediction-uncharged", "TinyBERT's prediction stage given the whole task half",
      "fastdistill/methods/transformer_compare.py", '"prediction": budget - half - quarter}', '"prediction": budget - half}'),
    M("transformer_compare", "minilm-at-its-own-size", "MiniLM trains its notebook's student-2, not the shared student",
      "fastdistill/methods/transformer_compare.py", 'st["relation"], st["finetune"], size=size)\n    elif arm == "MiniLMv2"',
      'st["relation"], st["finetune"])\n    elif arm == "MiniLMv2"'),
    # divergences (nbs/10_losses.ipynb): what every KD method builds on
    M("losses", "student-not-softened", "temperature applied to the teacher only (fused kernel)",
      "fastdistill/losses.py", "lq, lp = F.log_softmax(x if tau == 1 else x / tau, -1)", "lq, lp = F.log_softmax(x, -1)"),
    M("losses", "reference-student-not-softened", "temperature applied to the teacher only (autograd kernel)",
      "fastdistill/losses.py", "lq_full = F.log_softmax(s_logits.to(dt) / temperature, dim=-1)",
      "lq_full = F.log_softmax(s_logits.to(dt), dim=-1)"),
    M("losses", "tau-not-squared", "gradient scale τ instead of τ²",
      "fastdistill/losses.py", "scale = temperature ** 2 if scale_t2 else 1.0", "scale = temperature if scale_t2 else 1.0"),
    M("losses", "forward-kl-reversed", "KL(student ‖ teacher) under the name forward KL",
      "fastdistill/losses.py", '"forward_kl": lambda lp, lq: _plogr(lp, lq)', '"forward_kl": lambda lp, lq: _plogr(lq, lp)'),
    M("losses", "fused-kernels-swapped", "the fused forward-KL kernel computes reverse KL and vice versa",
      "fastdistill/losses.py", 'return self.divergence if self.divergence in ("forward_kl", "reverse_kl") else None',
      'return {"forward_kl": "reverse_kl", "reverse_kl": "forward_kl"}.get(self.divergence)'),
    M("losses", "fused-grad-not-over-tau", "the fused gradient forgets the 1/τ of the softened logits",
      "fastdistill/losses.py", "if g is not None: g.mul_((w / tau)[:, None])", "if g is not None: g.mul_(w[:, None])"),
    M("losses", "rkl-grad-no-centering", "reverse-KL gradient q(log q - log p) without subtracting the KL",
      "fastdistill/losses.py", "if g is not None: g.mul_(d.sub_(loss[:, None]))", "if g is not None: g.mul_(d)"),
    M("losses", "bucket-grad-tail-ignored", "stored top-k, bucket tail: the tail term's gradient is dropped",
      "fastdistill/losses.py", "g.scatter_add_(-1, ids, rho * qk - pk)", "g.scatter_add_(-1, ids, -pk)"),
    M("losses", "chunked-path-unscaled", "the memory-saving (gradient) path forgets the τ² scale",
      "fastdistill/losses.py", "return _FusedDivergence.apply(plan, m, wscale, reduction == \"none\", student_logits, *t_parts)",
      "return _FusedDivergence.apply(plan, m, wscale / scale, reduction == \"none\", student_logits, *t_parts)"),
    M("losses", "teacher-grad-dropped", "a teacher that requires grad gets none through the fused path",
      "fastdistill/losses.py", "need = tuple(bool(k) for k in ctx.needs_input_grad[4:])",
      "need = (bool(ctx.needs_input_grad[4]),) + (False,) * len(t_parts)"),
    # Hinton KD (nbs/methods/hinton_kd.ipynb)
    M("hinton", "reverse-kl", "the soft term distils with reverse KL",
      "fastdistill/methods/hinton.py", 'kd_term("soft", temperature=temperature, weight=alpha)',
      'kd_term("soft", divergence="reverse_kl", temperature=temperature, weight=alpha)'),
    M("hinton", "no-tau-squared", "the soft term is not multiplied by τ²",
      "fastdistill/methods/hinton.py", 'kd_term("soft", temperature=temperature, weight=alpha)',
      'kd_term("soft", temperature=temperature, weight=alpha, scale_t2=False)'),
    M("hinton", "alpha-swapped", "α weights the hard term instead of the soft one",
      "fastdistill/methods/hinton.py", 'weight=alpha), hard_label_term(1 - alpha)]',
      'weight=1 - alpha), hard_label_term(alpha)]'),
    M("hinton", "hard-mean-over-batch", "the hard-label CE is averaged over all rows, labelled or not",
      "fastdistill/methods/hinton.py", "/ (y >= 0).sum().clamp_min(1)", "/ len(y)"),
    M("hinton", "argmax-of-student", "the pseudo-label control takes the student's top-1, not the teacher's",
      "fastdistill/methods/hinton.py", 'F.cross_entropy(s["student.logits"], s["teacher.logits"].argmax(-1))',
      'F.cross_entropy(s["student.logits"], s["student.logits"].argmax(-1))'),
    M("hinton", "transfer-ignored", "the small-transfer-set setting still trains on every image",
      "fastdistill/methods/hinton.py", 'labelled_only=method == "hard" or transfer == "labelled"',
      'labelled_only=method == "hard"'),
    # FitNets (nbs/methods/fitnets.ipynb)
    M("fitnets", "guided-off-by-one", "the guided layer is the one after the intended index",
      "fastdistill/methods/fitnets.py", 'hint_term = LossTerm("hint", lambda s: hint_mse(s[f"student.hidden_states@{guided}"],',
      'guided += 1\n    hint_term = LossTerm("hint", lambda s: hint_mse(s[f"student.hidden_states@{guided}"],'),
    M("fitnets", "no-hint-stage", "KD from the first step: the hint stage is skipped",
      "fastdistill/methods/fitnets.py", "callbacks=[StageSchedule({0: st1, s1: st2})]",
      "callbacks=[StageSchedule({0: st2})]"),
    M("fitnets", "stage-two-at-tau-1", "the second stage's KD forgets the temperature",
      "fastdistill/methods/fitnets.py", 'kd_term("kd", temperature=temperature, weight=alpha)', 'kd_term("kd", weight=alpha)'),
    M("fitnets", "hint-layer-last", "the teacher's hint is its last hidden layer, not the chosen one",
      "fastdistill/methods/fitnets.py", 's[f"teacher.hidden_states@{hint}"], reg)', 's[f"teacher.hidden_states@-1"], reg)'),
    # Born-Again networks (nbs/methods/born_again.ipynb)
    M("born_again", "warm-start", "each generation starts from its teacher's weights instead of a fresh init",
      "fastdistill/methods/born_again.py", "            student = MLPClassifier(64, hidden, 10)\n",
      "            student = MLPClassifier(64, hidden, 10)\n"
      "            if parent is not None: student.load_state_dict(load_generation(store, parent).state_dict())\n"),
    M("born_again", "teacher-always-first", "every generation learns from generation 0, not from its predecessor",
      "fastdistill/methods/born_again.py", "load_generation(store, parent)", "load_generation(store, chain[0])"),
    M("born_again", "one-init-seed", "all generations share one initialisation",
      "fastdistill/methods/born_again.py", "torch.manual_seed(seed * 1000 + g)", "torch.manual_seed(seed)"),
    M("born_again", "ban-reverse-kl", "the BAN term distils with KL(student ‖ teacher)",
      "fastdistill/methods/born_again.py", "kl = (pt * (pt.clamp_min(1e-30).log() - lq)).sum(-1).mean()",
      "kl = (lq.exp() * (lq - pt.clamp_min(1e-30).log())).sum(-1).mean()"),
    M("born_again", "cwtm-batch-mean", "CWTM weights averaged over the batch instead of normalised by their sum",
      "fastdistill/methods/born_again.py", "* w / w.sum()).sum()", "* w).mean()"),
    M("born_again", "dkpp-moves-top", "DKPP permutes the top class too",
      "fastdistill/methods/born_again.py", "rand = torch.rand(pt.shape, device=pt.device).scatter_(-1, top, -1.0)",
      "rand = torch.rand(pt.shape, device=pt.device)"),
    # LIT (nbs/methods/lit.ipynb)
    M("lit", "section-ends-shifted", "sections end at k·i instead of k·(i+1) − 1",
      "fastdistill/methods/lit.py", "ends = [k * (i + 1) - 1 for i in range(len(student.blocks))]",
      "ends = [k * i for i in range(len(student.blocks))]"),
    M("lit", "inputs-are-outputs", "each block reads its own section's output instead of its input",
      "fastdistill/methods/lit.py", 'ins = [s["teacher.module:stem"]] + outs[:-1]', "ins = outs"),
    M("lit", "student-chain", "blocks are chained on the student's own outputs (not the teacher's inputs)",
      "fastdistill/methods/lit.py",
      "return sum(F.mse_loss(b(i.detach()), o.detach()) for b, i, o in zip(student.blocks, ins, outs))",
      "h, tot = ins[0].detach(), 0\n"
      "        for b, o in zip(student.blocks, outs): h = b(h); tot = tot + F.mse_loss(h, o.detach())\n"
      "        return tot"),
    M("lit", "blocks-copied", "the student's blocks start as copies of the teacher's first blocks",
      "fastdistill/methods/lit.py", "s.stem.load_state_dict(teacher.stem.state_dict());",
      "[b.load_state_dict(tb.state_dict()) for b, tb in zip(s.blocks, teacher.blocks)]; "
      "s.stem.load_state_dict(teacher.stem.state_dict());"),
    M("lit", "head-not-copied", "the student's head is a fresh init instead of the teacher's",
      "fastdistill/methods/lit.py", "; s.head.load_state_dict(teacher.head.state_dict())", ""),
    # sparse KD from stored top-k (nbs/methods/sparse_kd.ipynb, and the offline batches it trains on)
    M("sparse_kd", "topk-shifted", "the stored top-k sits at the token's own position, not the one predicting it",
      "fastdistill/distiller.py", "P - 1:P - 1 + C", "P:P + C", count=3),
    M("sparse_kd", "sft-on-prompt", "the SFT labels include the prompt tokens",
      "fastdistill/distiller.py", "labels[b, P:P + C] = ids[b, P:P + C]", "labels[b, :P + C] = ids[b, :P + C]"),
    M("sparse_kd", "kd-unmasked", "KD also runs on prompt and padding positions",
      "fastdistill/methods/sparse_kd.py", 'kd_term("kd", teacher="batch.topk", mask="batch.kd_mask", tail="bucket",',
      'kd_term("kd", teacher="batch.topk", tail="bucket",'),
    M("sparse_kd", "weights-swapped", "the KD term carries the SFT weight",
      "fastdistill/methods/sparse_kd.py", "temperature=d.temperature, weight=d.kd_weight",
      "temperature=d.temperature, weight=d.sft_weight"),
    M("sparse_kd", "temperature-ignored", "the configured temperature never reaches the KD term",
      "fastdistill/methods/sparse_kd.py", "temperature=d.temperature, weight=d.kd_weight", "weight=d.kd_weight"),
    M("sparse_kd", "budget-checked-late", "the seed budget is checked against time spent, not the next seed's end",
      "fastdistill/methods/sparse_kd.py", "stop = bool(i and budget and spent + spent / i > budget)",
      "stop = bool(i and budget and spent > budget)"),
    # seeds and recorded results (nbs/07_eval.ipynb, nbs/15_results.ipynb): what every comparison and table rests on
    M("seeds", "no-sign-check", "a mean difference above the spread counts even when seeds disagree in sign",
      "fastdistill/eval.py", 'out["exceeds"] = abs(d) > spread and one_sign', 'out["exceeds"] = abs(d) > spread'),
    M("seeds", "population-std", "the spread is the population standard deviation (n), not the sample one (n − 1)",
      "fastdistill/eval.py", '"std": statistics.stdev(v) if len(v) > 1 else None',
      '"std": statistics.pstdev(v) if len(v) > 1 else None'),
    M("seeds", "unpaired", "arms compared on all their seeds, not the seeds they share",
      "fastdistill/eval.py", "sa, sb = seed_spread({s: a[s] for s in seeds}), seed_spread({s: b[s] for s in seeds})",
      "sa, sb = seed_spread(a), seed_spread(b)"),
    M("seeds", "diff-one-direction", "a reproduced value that went up is not reported",
      "fastdistill/results.py", "return abs(a - b) <= tol", "return a - b <= tol"),
    M("seeds", "diff-misses-new-rows", "rows only the fresh run has are not reported",
      "fastdistill/results.py", 'for k in b.keys() - a.keys(): out.append(f"{name(k)}: only in the fresh results")', ""),
    # reliability (nbs/01_artifacts, 05_pipeline, 10_losses): the guards a crash, a second writer or a bad reply meet
    M("faults", "read-unverified", "a finished stage is read without checking it against its manifest",
      "fastdistill/artifacts.py", "    stats = _file_stats(d, m)  # also refuses shard names outside the folder",
      "    return m"),
    M("faults", "writer-unlocked", "a stage writer does not take its run's lock",
      "fastdistill/artifacts.py", "self._lock = store.lock(run_id); self._lock.__enter__()", "self._lock = None"),
    M("faults", "errors-never-retried", "a rerun keeps the errored teacher rows of the earlier attempt",
      "fastdistill/pipeline.py", "    if not todo: return 0", "    if True: return 0"),
    M("faults", "student-nan-unchecked", "NaN student logits reach the loss",
      "fastdistill/losses.py", "bad = _nonfinite_rows(s_logits)", "bad = torch.zeros(B, T, dtype=torch.bool)"),
    M("topk", "id-bits-short", "vocabulary ids packed in one bit too few",
      "fastdistill/artifacts.py", "def id_bits(self) -> int: return max(1, (self.vocab_size - 1).bit_length())",
      "def id_bits(self) -> int: return max(1, (self.vocab_size - 1).bit_length() - 1)"),
    M("topk", "tail-ignored", "the decoder normalises the k entries to one, forgetting the stored tail mass",
      "fastdistill/artifacts.py", "top = np.log(np.clip(1.0 - np.exp(log_tail), 0.0, 1.0)) - np.log(",
      "top = 0.0 * log_tail - np.log("),
    M("topk", "scale-rounded-down", "the float16 range is rounded to nearest, so the largest gap can overflow its code",
      "fastdistill/artifacts.py", "    r16[low] = np.nextafter(r16[low], np.float16(np.inf))", "    pass"),
    M("topk", "unsorted", "entries are packed in the order given, so gaps below the first can be negative",
      "fastdistill/artifacts.py", "    order = np.lexsort((-flat_lp, pos_of))", "    order = np.arange(len(flat_lp))"),
    # synthetic training sets (nbs/18_synthetic.ipynb; methods dataset_distillation, mtt, generative_prior)
    M("synthetic", "first-order", "the unrolled steps without create_graph: the images' gradient loses every step's "
      "dependence on them", "fastdistill/synthetic.py", "create_graph=graph)", "create_graph=False)"),
    M("synthetic", "one-rate-for-all-steps", "every step uses the first learned rate",
      "fastdistill/synthetic.py", "lr = lrs[k if len(lrs) > 1 else 0]", "lr = lrs[0]"),
    M("synthetic", "flat-in-dict-order", "parameters flattened in dict order: a snapshot read back from safetensors "
      "(keys sorted) no longer lines up", "fastdistill/synthetic.py",
      "return torch.cat([params[n].reshape(-1) for n in sorted(params)])",
      "return torch.cat([p.reshape(-1) for p in params.values()])"),
    M("synthetic", "truncation-off-by-one", "truncated unrolling keeps one step fewer than asked",
      "fastdistill/synthetic.py", "graph = k >= steps - keep", "graph = k > steps - keep"),
    M("synthetic", "k-centers-from-first", "k-centers starts from the class's first example, not the one nearest its mean",
      "fastdistill/synthetic.py", "chosen = [int((Xc - Xc.mean(0)).norm(dim=1).argmin())]", "chosen = [0]"),
    M("dataset_distillation", "random-init-reuses-start", "random-init DD that starts every unroll from the same θ0",
      "fastdistill/methods/dataset_distillation.py", 'if self.init == "fixed": return init_params(self.net)',
      'if self.init in ("fixed", "random"): return init_params(self.net)'),
    M("dataset_distillation", "step-sizes-fixed", "the step sizes are a constant, not learned",
      "fastdistill/methods/dataset_distillation.py", "self.log_lrs = nn.Parameter(torch.full((steps,), math.log(lr)))",
      'self.register_buffer("log_lrs", torch.full((steps,), math.log(lr)))'),
    M("dataset_distillation", "output-from-the-start", "the real batch is scored by θ0, not by the network after the steps",
      "fastdistill/methods/dataset_distillation.py", "return functional_call(self.net, self.trained(), (x,))",
      "return functional_call(self.net, self.start(), (x,))"),
    M("mtt", "unnormalised-distance", "the parameter distance not divided by how far the expert moved",
      "fastdistill/methods/mtt.py",
      "return ((student_end - expert_end) ** 2).sum() / ((expert_start - expert_end) ** 2).sum()",
      "return ((student_end - expert_end) ** 2).sum()"),
    M("mtt", "target-one-epoch-late", "the target is the expert at t + M + 1",
      "fastdistill/methods/mtt.py", '"target": flat(trajectories[s][t + expert_epochs])[None]',
      '"target": flat(trajectories[s][min(t + expert_epochs + 1, len(trajectories[s]) - 1)])[None]'),
    M("mtt", "fresh-start", "the synthetic steps start from a fresh network instead of the expert at epoch t",
      "fastdistill/methods/mtt.py", "p = sgd_unroll(self.net, unflat(start[0], self.like),",
      "p = sgd_unroll(self.net, self.like,"),
    M("mtt", "rate-not-learned", "the synthetic steps use a constant rate, not the learned α",
      "fastdistill/methods/mtt.py", "self.log_lr.exp().reshape(1), self.syn_steps", "torch.tensor([0.1]), self.syn_steps"),
    M("generative_prior", "decoder-trainable", "the generator is not frozen: its weights learn with the latents",
      "fastdistill/methods/generative_prior.py", "self.generator = generator.eval().requires_grad_(False)",
      "self.generator = generator.eval()"),
    M("generative_prior", "random-latents", "latents start as noise, not at the encoded real images",
      "fastdistill/methods/generative_prior.py", "with torch.no_grad(): mu, _ = generator.encode(X[idx])",
      "mu = torch.randn(len(idx), generator.decoder[0].in_features)"),
    M("generative_prior", "decoder-logits-as-pixels", "the images are the decoder's logits, not pixels in 0–1",
      "fastdistill/methods/generative_prior.py", "def images(self) -> Tensor: return self.generator.decode(self.latents)",
      "def images(self) -> Tensor: return self.generator.decoder(self.latents)"),
    M("generative_prior", "elbo-kl-sign", "the generator's ELBO adds the KL with the wrong sign",
      "fastdistill/zoo.py", "return rec - beta * 0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum() / len(mu)",
      "return rec + beta * 0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum() / len(mu)"),
    # Arm identity (issue 33): wiring mistakes that leave every formula right
    M("distilbert_arms", "mlm-only-keeps-cosine", "the 'MLM only' ablation quietly keeps the hidden-state cosine term",
      "fastdistill/methods/distilbert.py", "distilbert_terms(w_ce=0, w_cos=0)", "distilbert_terms(w_ce=0)"),
    M("distilbert_arms", "random-init-copies-teacher", "the 'random init' arm starts from the teacher's blocks anyway",
      "fastdistill/methods/distilbert.py", '"random init": ("random", "triple")', '"random init": ("teacher", "triple")'),
    M("distilbert_arms", "finetune-from-teacher", "the task stage starts from the teacher's blocks, not the distilled student",
      "fastdistill/methods/distilbert.py", 'finetune_encoder(encoder, tok, finetune_steps', 'finetune_encoder(teacher_mlm, tok, finetune_steps'),
    M("pkd_arms", "kd-arm-keeps-patient-term", "the 'KD' arm keeps the patient term it is named for removing",
      "fastdistill/methods/pkd.py", '"KD": {"scheme": None}', '"KD": {"scheme": "skip"}'),
    M("pkd_arms", "finetune-keeps-soft-targets", "'fine-tune only' keeps the soft targets (α left at 0.5)",
      "fastdistill/methods/pkd.py", '"fine-tune only": {"scheme": None, "alpha": 0.0}', '"fine-tune only": {"scheme": None}'),
    M("pkd_arms", "last-is-skip", "'PKD-Last' runs the skip map",
      "fastdistill/methods/pkd.py", '"PKD-Last": {"scheme": "last"}', '"PKD-Last": {"scheme": "skip"}'),
    M("minilm_arms", "direct-uses-assistant", "'MiniLM direct' goes through the assistant too",
      "fastdistill/methods/minilm.py", 'if arm == "MiniLM via assistant":', 'if arm != "fine-tune only":'),
    M("minilm_arms", "assistant-bypassed", "the student learns from the teacher even when an assistant was trained",
      "fastdistill/methods/minilm.py", 'None if arm == "fine-tune only" else source,', 'None if arm == "fine-tune only" else teacher,'),
    M("minilm_arms", "finetune-from-fresh", "fine-tuning a fresh student instead of the one the relations taught",
      "fastdistill/methods/minilm.py", "finetune_encoder(student, data.tokenizer", "finetune_encoder(None, data.tokenizer"),
    M("minilmv2_arms", "upper-middle-is-last", "the 'upper-middle' arm reads the teacher's last block",
      "fastdistill/methods/minilmv2.py", 'n_t - 1 if block == "last" else upper_middle_block(n_t)', "n_t - 1"),
    M("minilmv2_arms", "finetune-from-fresh", "fine-tuning a fresh student instead of the one the relations taught",
      "fastdistill/methods/minilmv2.py", "finetune_encoder(student, data.tokenizer", "finetune_encoder(None, data.tokenizer"),
    M("tinybert_arms", "projections-not-trained", "W_e and W_h left out of the optimizer (the student fits frozen random maps)",
      "fastdistill/methods/tinybert.py", "steps, lr, modules=proj:", "steps, lr, modules=None:"),
    M("tinybert_arms", "task-only-runs-general", "the 'task only' arm runs general distillation too",
      "fastdistill/methods/tinybert.py", '"task only": (False, True)', '"task only": (True, True)'),
    M("lit_arms", "finetune-from-fresh", "the fine-tuning stage starts from a fresh student, not the LIT-trained one",
      "fastdistill/methods/lit.py", "Distiller(s, kd, teacher=teacher, lr=lr / 3,",
      "Distiller(student_from_teacher(teacher, n_blocks, seed), kd, teacher=teacher, lr=lr / 3,"),
    M("lit_arms", "scratch-from-teacher", "the 'scratch' arm starts from the teacher's stem and head",
      "fastdistill/methods/lit.py", "s = ResidualMLP(teacher.stem.in_features, teacher.stem.out_features, n_blocks, 10)",
      "s = student_from_teacher(teacher, n_blocks, seed)"),
    M("sparse_kd_arms", "baseline-other-init", "the SFT baseline starts from another initialisation than the KD student",
      "fastdistill/methods/sparse_kd.py", "model, tok = load_student(cfg, seed)", "model, tok = load_student(cfg, seed + (not kd))"),
    M("generative_prior_arms", "decoder-trains", "the generator's decoder is not frozen: it learns along with the latents",
      "fastdistill/methods/generative_prior.py", "self.generator = generator.eval().requires_grad_(False)",
      "self.generator = generator.eval()"),
    M("generative_prior_arms", "other-real-images", "the latents start from other real images than the pixel run's",
      "fastdistill/methods/generative_prior.py", "idx = random_subset(y, ipc, seed)\n        with torch.no_grad(): mu",
      "idx = random_subset(y, ipc, seed + 1)\n        with torch.no_grad(): mu"),
    M("zoo_pinning", "threads-not-pinned", "a zoo model trains on whatever threads the process has (the cache key says 1)",
      "fastdistill/zoo.py", "with torch_threads(threads): z = train()", "with torch_threads(None): z = train()"),
    M("zoo_pinning", "models-not-pinned", "the results file does not name the zoo models its rows used",
      "fastdistill/zoo.py", "    _note_model(z)\n    return z", "    return z"),
]

def check_applies(m: Mutant, root: Path = ROOT) -> str:
    "The file's text with the variant applied; raises if `old` does not occur exactly once."
    text = (root/m.file).read_text()
    n = text.count(m.old)
    if n != m.count:
        raise ValueError(f"mutant {m.method}/{m.name}: its text occurs {n} times in {m.file} (need {m.count})")
    return text.replace(m.old, m.new)

def _pytest_args(select: str | tuple) -> list:
    tests, select = select if isinstance(select, tuple) else (TESTS, select)
    return [tests, "-q", "-x", "-p", "no:cacheprovider", "-k", select, "-o", "addopts=", "--timeout", "300"]

def _run_tests(pkg_root: Path, select: str) -> tuple:
    "Run the selected tests against the package under `pkg_root`: (pytest exit status, its last line)."
    if hasattr(os, "fork"): return _run_forked(pkg_root, select)
    # -P: do not put the working directory (this checkout) ahead of PYTHONPATH (the scratch copy)
    env = {**os.environ, "PYTHONPATH": str(pkg_root) + os.pathsep + os.environ.get("PYTHONPATH", ""),
           "FASTDISTILL_EXPECT_PACKAGE": str(pkg_root/"fastdistill")}
    r = subprocess.run([sys.executable, "-P", "-m", "pytest", *_pytest_args(select)], cwd=ROOT, env=env,
                       capture_output=True, text=True)
    return r.returncode, (r.stdout + r.stderr).strip().splitlines()[-1:] or [""]

def _preload():
    """Import the package once in this process, so its dependencies (torch, transformers' lazily loaded model
    classes, datasets, …) are loaded before forking; each child drops every `fastdistill` module and imports the
    scratch copy afresh."""
    import pytest, fastdistill.methods.born_again, fastdistill.methods.fitnets  # noqa: F401
    import fastdistill.methods.hinton, fastdistill.methods.lit, fastdistill.methods.sparse_kd  # noqa: F401
    import fastdistill.encoders, fastdistill.methods.generative_prior  # noqa: F401

def _start_forked(pkg_root: Path, select: str, threads: int = 0) -> tuple:
    """Fork (the dependencies are already imported), import fastdistill from `pkg_root` in the child, run pytest;
    returns (pid, log file) at once (`threads`: the child's torch threads, 0 = unchanged)."""
    out = tempfile.NamedTemporaryFile("w+", suffix=".log", delete=False); out.close()
    pid = os.fork()
    if pid == 0:  # child
        code = 3
        try:
            fd = os.open(out.name, os.O_WRONLY | os.O_TRUNC)
            os.dup2(fd, 1); os.dup2(fd, 2)
            os.chdir(ROOT)
            if threads:
                import torch
                torch.set_num_threads(threads)
            sys.path[:] = [str(pkg_root)] + [p for p in sys.path if Path(p or ".").resolve() != ROOT]
            os.environ["FASTDISTILL_EXPECT_PACKAGE"] = str(pkg_root/"fastdistill")
            for name in [n for n in sys.modules if n == "fastdistill" or n.startswith("fastdistill.")]:
                del sys.modules[name]
            import pytest
            code = int(pytest.main(_pytest_args(select)))
            sys.stdout.flush(); sys.stderr.flush()
        finally: os._exit(code)
    return pid, out.name

def _finish_forked(pid: int, log: str) -> tuple:
    "Wait for a child of `_start_forked`: (pytest exit status, its last line)."
    _, status = os.waitpid(pid, 0)
    rc = os.waitstatus_to_exitcode(status)
    lines = Path(log).read_text(errors="replace").strip().splitlines()
    os.unlink(log)
    return rc, lines[-1:] or [""]

def _run_forked(pkg_root: Path, select: str) -> tuple:
    return _finish_forked(*_start_forked(pkg_root, select))

def _verdict(m: Mutant, rc: int, tail: list, seconds: float) -> bool:
    "Print one variant's line; True when it was killed."
    verdict = "killed" if rc == 1 else "SURVIVED" if rc == 0 else f"ERROR (pytest exit {rc})"
    print(f"{verdict:9s} {m.method:11s} {m.name:24s} {seconds:5.1f}s  {tail[0][:80]}", flush=True)
    return rc == 1

def _baselines(chosen: list, scratch: Path, jobs: int) -> list:
    """The chosen methods' selections on the unmutated copy, one pytest per test file (its selections or-ed, so a
    module's fixtures are built once), `jobs` files at a time; [(selection, exit status, last line)]."""
    by_file: dict = {}
    for method in dict.fromkeys(m.method for m in chosen):
        tests, sel = SELECT[method] if isinstance(SELECT[method], tuple) else (TESTS, SELECT[method])
        by_file.setdefault(tests, []).append(f"({sel})")
    todo = [(tests, " or ".join(sels)) for tests, sels in by_file.items()]
    if jobs <= 1 or not hasattr(os, "fork"): return [(t, *_run_tests(scratch, t)) for t in todo]
    out, running = [], {}
    while todo or running:
        while todo and len(running) < jobs:
            t = todo.pop(0)
            pid, log = _start_forked(scratch, t, 1)
            running[pid] = (t, log)
        pid, status = os.wait()
        if pid not in running: continue
        t, log = running.pop(pid)
        lines = Path(log).read_text(errors="replace").strip().splitlines()
        os.unlink(log)
        out.append((t, os.waitstatus_to_exitcode(status), lines[-1:] or [""]))
    return out

def _run_parallel(chosen: list, tmp: Path, jobs: int) -> list:
    """Every variant in its own forked child, `jobs` at a time (each on its own copy of the package and one torch
    thread); returns the variants that survived."""
    slots = []
    for j in range(jobs):
        shutil.copytree(ROOT/"fastdistill", tmp/f"w{j}"/"fastdistill", ignore=shutil.ignore_patterns("__pycache__"))
        slots.append(None)
    todo, survived = list(chosen), []
    while todo or any(slots):
        for j, slot in enumerate(slots):
            if slot is None and todo:
                m = todo.pop(0)
                path = tmp/f"w{j}"/m.file
                original = path.read_text()
                path.write_text(check_applies(m))
                slots[j] = (m, path, original, time.perf_counter(), *_start_forked(tmp/f"w{j}", SELECT[m.method], 1))
        pid, status = os.wait()
        j = next(i for i, s in enumerate(slots) if s is not None and s[4] == pid)
        m, path, original, t0, _, log = slots[j]
        slots[j] = None
        path.write_text(original)
        rc = os.waitstatus_to_exitcode(status)
        lines = Path(log).read_text(errors="replace").strip().splitlines()
        os.unlink(log)
        if not _verdict(m, rc, lines[-1:] or [""], time.perf_counter() - t0): survived.append(m)
    return survived

def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--list", action="store_true")
    ap.add_argument("-k", default="", help="only variants whose method or name contains this text")
    ap.add_argument("-j", "--jobs", type=int, default=1, help="variants run at a time (one torch thread each)")
    a = ap.parse_args(argv)
    chosen = [m for m in MUTANTS if a.k in m.method or a.k in m.name]
    if a.list:
        for m in chosen: print(f"{m.method:11s} {m.name:24s} {m.why}")
        return 0
    for m in chosen: check_applies(m)
    if hasattr(os, "fork"): _preload()
    survived, failed_base = [], []
    with tempfile.TemporaryDirectory(prefix="fd-mutants-") as tmp:
        scratch = Path(tmp)
        shutil.copytree(ROOT/"fastdistill", scratch/"fastdistill", ignore=shutil.ignore_patterns("__pycache__"))
        for sel, rc, tail in _baselines(chosen, scratch, a.jobs):  # the unmutated copy passes every selection
            if rc != 0: failed_base.append(sel); print(f"BASELINE FAILS {sel}: rc={rc} {tail[0]}")
        if failed_base: return 1
        if a.jobs > 1 and hasattr(os, "fork"): survived = _run_parallel(chosen, scratch, a.jobs)
        else:
            for m in chosen:
                path = scratch/m.file
                original = path.read_text()
                path.write_text(check_applies(m))
                t0 = time.perf_counter()
                try: rc, tail = _run_tests(scratch, SELECT[m.method])
                finally: path.write_text(original)
                if not _verdict(m, rc, tail, time.perf_counter() - t0): survived.append(m)
    print(f"{len(chosen) - len(survived)} of {len(chosen)} variants killed")
    return 1 if survived else 0

if __name__ == "__main__": sys.exit(main())
