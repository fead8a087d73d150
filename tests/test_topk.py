"""Packed top-k storage (issue 15): the codec's round trip and fidelity, adversarial rows, the pipeline writing packed
stages with a fidelity report, and old plain stages still reading — the same `SparseTeacher` either way."""
import numpy as np
import pytest
import torch
from fastdistill import pipeline as P
from fastdistill.artifacts import ArtifactStore, TopKCodec, row_topk, topk_fidelity, topk_summary, unpack_topk
from fastdistill.distiller import OfflineTeacherData
from fastdistill.tasks import get_task
from fastdistill.teachers import DecodeProfile, HFTeacher
from fastdistill.testing import own_tokenizer, tiny_causal_lm

pytestmark = pytest.mark.xdist_group("topk")  # its module fixtures train once, on one worker

def _lm_rows(P_, k, V=32000, seed=0, scale=3.0):
    "Top-k of log-softmax rows of random logits (a proper distribution: top-k mass ≤ 1)."
    rng = np.random.default_rng(seed)
    ids, lps = [], []
    for _ in range(P_):
        z = rng.standard_normal(V) * scale
        lp = z - (np.log(np.exp(z - z.max()).sum()) + z.max())
        top = np.argsort(-lp, kind="stable")[:k]
        ids.append(top.tolist()); lps.append(lp[top].tolist())
    return ids, lps

@pytest.mark.parametrize("k,bits", [(1, 8), (20, 6), (20, 8), (64, 8), (64, 10), (20, 12), (20, 16)])
def test_round_trip_ids_exact_logprobs_within_half_a_step(k, bits):
    ids, lps = _lm_rows(24, k, seed=k + bits)
    c = TopKCodec(32000, bits)
    blob = c.encode(ids, lps)
    got_ids, got_lps = c.decode(blob)
    assert got_ids == ids
    # each gap below the top is quantised to half a step of the position's range; the decoder's normalisation
    # (entries + stored tail sum to one) moves all of a position's entries by one common small shift
    for x, y in zip(lps, got_lps):
        x, y = np.array(x), np.array(y)
        step = (x[0] - x[-1]) / (2 ** bits - 2) if k > 1 else 0.0
        shift = y[0] - x[0]  # the top entry has no gap: its change is the common shift
        assert np.abs((y - x) - shift).max() <= step / 2 * 1.01 + 1e-3 * step + 1e-9
        assert abs(shift) < 0.01
    kl = topk_fidelity(lps, blob, c)["kl"]
    assert max(kl) <= 1e-3 and min(kl) >= 0
    id_bits = 15
    expected = 12 + 4 * 24 + (24 * k * id_bits + 7) // 8 + (24 * (k - 1) * bits + 7) // 8
    assert len(blob) == expected  # header, tail + scale per position, ids, gaps: nothing else

def test_bytes_per_token_at_k20_within_budget_and_fidelity():
    ids, lps = _lm_rows(64, 20, seed=1)
    c = TopKCodec(32000, 8)
    blob = c.encode(ids, lps)
    assert len(blob) / 64 <= 80 and max(topk_fidelity(lps, blob, c)["kl"]) <= 1e-3

def test_adversarial_rows_ties_minus_inf_full_vocabulary_varying_k():
    c = TopKCodec(11, 8)
    ids = [[3, 1, 7], [0, 2, 5, 9], [4], list(range(11)), [6, 8]]
    lps = [[-2.0, -2.0, -2.0], [0.0, -np.inf, -np.inf, -np.inf], [-0.5], np.log(np.full(11, 1 / 11)).tolist(),
           [-np.inf, -np.inf]]
    got_ids, got_lps = c.decode(c.encode(ids, lps))
    assert got_ids == ids  # ties keep their order; -inf entries stay at the end
    for x, y in zip(lps, got_lps):
        np.testing.assert_allclose(y, x, atol=2e-3)
    assert unpack_topk(c.encode(ids, lps)) == (got_ids, got_lps)
    # unsorted input is stored in descending order, pairs kept
    g_ids, g_lps = c.decode(c.encode([[5, 2, 9]], [[-3.0, -0.5, -1.5]]))
    assert g_ids == [[2, 9, 5]] and np.allclose(g_lps, [[-0.5, -1.5, -3.0]], atol=0.02)

@pytest.mark.parametrize("ids,lps,msg", [([[1, 2]], [[-1.0, float("nan")]], "position 0: a log-probability is NaN"),
                                         ([[1, 11]], [[-1.0, -2.0]], "id 11 is outside the vocabulary of 11"),
                                         ([[1, 2]], [[-1.0]], "position 0: 2 ids but 1 log-probabilities"),
                                         ([[1]], [[float("inf")]], "+inf")])
def test_bad_rows_are_refused_naming_the_position(ids, lps, msg):
    with pytest.raises(ValueError, match=msg.replace("+", r"\+")): TopKCodec(11, 8).encode(ids, lps)

def test_a_corrupt_or_future_value_is_refused():
    blob = TopKCodec(11, 8).encode([[1]], [[-0.1]])
    with pytest.raises(ValueError, match="bad magic"): unpack_topk(b"ZZ" + blob[2:])
    with pytest.raises(ValueError, match="format 9"): unpack_topk(blob[:2] + bytes([9]) + blob[3:])

@pytest.fixture(scope="module")
def tiny_teacher(tmp_path_factory):
    task = get_task("text2sql")
    tok = own_tokenizer(task.texts("train")[:200], style="llama")
    folder = tiny_causal_lm(tmp_path_factory.mktemp("m")/"llama", "llama", tok)
    return HFTeacher.from_pretrained(folder, dtype="float32", device="cpu"), task

def _gen(store, run, teacher, task, storage):
    P.canonicalize(store, run, task, rows=task.rows("train")[:10]); P.dedup(store, run)
    P.generate(store, run, teacher, DecodeProfile(max_tokens=10, top_logprobs=16), topk_storage=storage)
    return store.load(run, "generate").to_list()

def test_pipeline_packed_stage_reports_fidelity_and_reads_as_the_plain_one(tiny_teacher, tmp_path):
    teacher, task = tiny_teacher
    store = ArtifactStore(tmp_path)
    plain = _gen(store, store.create_run("plain"), teacher, task, "plain")  # the old format
    packed = _gen(store, store.create_run("packed"), teacher, task, "packed")
    assert len(plain) == len(packed) == 10 and all(r["topk_packed"] for r in packed)
    assert all(not r["topk_ids"] for r in packed)  # stored once, packed
    man = store.manifest("packed", "generate")
    assert man.config["topk_storage"] == {"format": "topk-packed", "version": 1, "vocab_size": len(teacher.tokenizer),
                                          "bits": 8, "id_bits": (len(teacher.tokenizer) - 1).bit_length()}
    fid = store.reports("packed", "generate")["quality"]["topk_fidelity"]
    positions = sum(len(r["token_ids"]) for r in packed)
    assert fid["positions"] == positions and fid["k_mean"] == 16 and fid["kl"]["max"] <= 1e-3
    assert fid["bytes_per_token"] < fid["plain_bytes_per_token"] / 4
    assert topk_summary(plain) is None
    # the same teacher data: ids equal, log-probabilities within the quantisation error
    by_id = {r["gen_id"]: r for r in plain}
    for r in packed:
        q = by_id[r["gen_id"]]
        p_ids, p_lps = row_topk(r)
        assert p_ids == q["topk_ids"]
        np.testing.assert_allclose(np.array(p_lps), np.array(q["topk_logprobs"]), atol=0.05)
    def batch(rows):
        data = [{"sample_id": r["gen_id"], "prompt_ids": r["prompt_ids"], "completion_ids": r["token_ids"],
                 **({"topk_packed": r["topk_packed"]} if r.get("topk_packed") else
                    {"topk_ids": r["topk_ids"], "topk_logprobs": r["topk_logprobs"]})} for r in rows]
        return next(iter(OfflineTeacherData(sorted(data, key=lambda d: d["sample_id"]), batch_size=10)))
    a, b = batch(plain), batch(packed)
    assert torch.equal(a["topk_ids"], b["topk_ids"]) and torch.equal(a["kd_mask"], b["kd_mask"])
    torch.testing.assert_close(a["topk_logprobs"], b["topk_logprobs"], atol=0.05, rtol=0)
