"""Synthetic training sets (nbs/18_synthetic.ipynb and the dataset-distillation method notebooks): the mechanisms each
paper depends on, with answers known in advance, fast enough for the mutation check."""
import json, math, random
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call
from fastdistill.artifacts import ArtifactStore
from fastdistill.synthetic import (ImageData, SyntheticSet, digits_data, digits_net, evaluate_set, flat, graph_bytes,
                                   init_params, k_centers, load_synthetic_set, load_trajectories, random_subset,
                                   record_experts, save_synthetic_set, sgd_unroll, train_expert, unflat)
from fastdistill.methods.dataset_distillation import UnrolledLearner, distill_dd
from fastdistill.methods.mtt import TrajectoryMatcher, distill_mtt, segment_batches, trajectory_distance
from fastdistill.methods.generative_prior import LatentSet
from fastdistill.zoo import DigitsVAE, elbo_term

@pytest.fixture(scope="module")
def data(): return digits_data()

def _toy():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)).double()
    xs = torch.randn(5, 3, dtype=torch.float64, requires_grad=True)
    lrs = torch.tensor([0.3, 0.2], dtype=torch.float64, requires_grad=True)
    xr, yr = torch.randn(7, 3, dtype=torch.float64), torch.randint(0, 2, (7,))
    ys = torch.tensor([0, 1, 0, 1, 1])
    def real_loss(x, l, keep=None):
        return F.cross_entropy(functional_call(net, sgd_unroll(net, init_params(net), x, ys, l, keep_graph=keep), (xr,)), yr)
    return real_loss, xs, lrs

def _fd(f, v, eps=1e-6):
    out = torch.zeros_like(v).view(-1)
    for i in range(v.numel()):
        e = torch.zeros_like(v).view(-1); e[i] = eps
        out[i] = (f(v + e.view_as(v)) - f(v - e.view_as(v))) / (2 * eps)
    return out.view_as(v)

def test_synthetic_unrolled_gradient_matches_finite_differences():
    real_loss, xs, lrs = _toy()
    gx, gl = torch.autograd.grad(real_loss(xs, lrs), [xs, lrs])
    assert torch.allclose(gx, _fd(lambda v: real_loss(v, lrs), xs.detach()), atol=1e-8)
    assert torch.allclose(gl, _fd(lambda v: real_loss(xs, v), lrs.detach()), atol=1e-8)

def test_synthetic_truncation_differentiates_only_the_last_steps():
    real_loss, xs, lrs = _toy()
    full = torch.autograd.grad(real_loss(xs, lrs), lrs)[0]
    last = torch.autograd.grad(real_loss(xs, lrs, keep=1), lrs)[0]
    assert last[0] == 0 and last[1] == full[1] and full[0] != 0

def test_synthetic_graph_memory_grows_with_unroll_and_truncation_bounds_it(data):
    net, x, y = digits_net("student", 0), data.X[:50], data.y[:50]
    mem = {K: [graph_bytes(lambda: sgd_unroll(net, init_params(net), x, y, torch.full((K,), 0.1, requires_grad=True),
                                              keep_graph=k))[1] for k in (None, 2)] for K in (2, 4, 8)}
    assert mem[8][0] > mem[4][0] > mem[2][0] and mem[8][1] == mem[4][1] == mem[2][1] == mem[2][0]

def test_synthetic_flat_is_independent_of_dict_order():
    p = init_params(digits_net("student", 1))
    rev = dict(reversed(list(p.items())))
    assert torch.equal(flat(p), flat(rev))
    assert all(torch.equal(unflat(flat(rev), p)[k], v) for k, v in p.items())

def test_synthetic_real_subsets_are_per_class(data):
    for idx in (random_subset(data.y, 2, 0), k_centers(data.X, data.y, 2)):
        assert data.y[idx].tolist() == [c for c in range(10) for _ in range(2)]
    c0 = (data.y == 0).nonzero().flatten()
    first = c0[(data.X[c0] - data.X[c0].mean(0)).norm(dim=1).argmin()]
    assert k_centers(data.X, data.y, 1)[0] == first

def test_synthetic_expert_snapshots_round_trip_bit_exactly(tmp_path, data):
    store = ArtifactStore(tmp_path)
    run = record_experts(store, "student", seeds=(0, 1), epochs=2)
    traj, again = load_trajectories(store, run), train_expert(data, "student", 1, 2)
    assert {s: len(v) for s, v in traj.items()} == {0: 3, 1: 3}
    assert all(torch.equal(traj[1][e][k], again[e][k]) for e in range(3) for k in again[e])
    assert not torch.equal(traj[1][0]["head.weight"], traj[1][2]["head.weight"])  # the expert moved
    assert record_experts(store, "student", seeds=(0, 1), epochs=2) == run

def test_synthetic_set_artifact_round_trip_with_lineage(tmp_path, data):
    store = ArtifactStore(tmp_path)
    parent = store.create_run("experts-x", {"a": 1})
    s = SyntheticSet.from_real(data.X, data.y, 1, 0)
    images = s.images().detach() + 1e-3 * torch.randn(10, 64)
    rid = save_synthetic_set(store, images, s.labels, "dd", {"seed": 0}, parent_run_id=parent)
    x, y, cfg = load_synthetic_set(store, rid)
    assert torch.equal(x, images) and torch.equal(y, s.labels) and cfg["method"] == "dd"
    assert store.run_info(rid)["parent_run_id"] == parent

@pytest.mark.parametrize("edit", ["shape", "shape+hash", "method+hash"])
def test_an_edited_synthetic_set_run_json_is_detected(tmp_path, data, edit):
    "Before: a hand-edited run.json (another shape or method) loaded silently with the new config."
    from fastdistill.artifacts import ArtifactError
    from fastdistill.core import config_hash
    store = ArtifactStore(tmp_path)
    s = SyntheticSet.from_real(data.X, data.y, 1, 0)
    rid = save_synthetic_set(store, s.images().detach(), s.labels, "dd", {"seed": 0})
    f = store.run_dir(rid)/"run.json"
    info = json.loads(f.read_text())
    if "shape" in edit: info["config"]["shape"] = [1, 8, 8]
    if "method" in edit: info["config"]["method"] = "mtt"
    if "hash" in edit: info["config_hash"] = config_hash(info["config"])  # an edit that also fixes the hash
    f.write_text(json.dumps(info))
    want = "no longer matches the config_hash" if "hash" not in edit else \
        f"differs from the one its .* stage was stored with \\({edit.split('+')[0]}\\)"
    with pytest.raises(ArtifactError, match=want): load_synthetic_set(store, rid)

def test_dd_learner_start_modes(data):
    syn = SyntheticSet.from_noise(data.y, 1)
    fixed, rand = UnrolledLearner(syn, steps=2, init="fixed", seed=4), UnrolledLearner(syn, steps=2, init="random", seed=4)
    assert all(torch.equal(fixed.start()[k], v) for k, v in init_params(digits_net("student", 4)).items())
    a, b = rand.start(), rand.start()
    assert not any(torch.equal(a[k], b[k]) for k in a)

def test_dd_step_sizes_are_learned_and_used(data):
    syn = SyntheticSet.from_noise(data.y, 1)
    learner = UnrolledLearner(syn, steps=3, lr=0.1)
    assert sorted(k for k, p in learner.named_parameters() if p.requires_grad) == ["log_lrs", "syn.pixels"]
    out = learner(data.X[:32])
    by_hand = sgd_unroll(learner.net, init_params(learner.net), syn.images(), syn.labels, torch.full((3,), 0.1))
    assert torch.allclose(out, functional_call(learner.net, by_hand, (data.X[:32],)), atol=1e-6)
    g_pix, g_lr = torch.autograd.grad(F.cross_entropy(out, data.y[:32]), [syn.pixels, learner.log_lrs])
    assert (g_lr != 0).all() and g_pix.abs().sum() > 0

def test_dd_beats_random_real_images_on_a_short_run(data):
    learner, h = distill_dd(data, 1, steps=5, outer_steps=40, lr=0.05, seed=0)
    acc = lambda n, p: float((functional_call(n, p, (data.X_test,)).argmax(-1) == data.y_test).float().mean())
    dd = acc(learner.net, learner.trained(init_params(learner.net)))
    idx = random_subset(data.y, 1, 0)
    real = acc(learner.net, sgd_unroll(learner.net, init_params(learner.net), data.X[idx], data.y[idx],
                                       learner.log_lrs.exp().detach(), keep_graph=0))  # the same steps
    assert dd > real + 0.1 and h.column("loss")[-1][1] < h.column("loss")[0][1]

def test_mtt_distance_is_normalised_by_the_experts_move():
    a, b = torch.tensor([[0.0, 0.0]]), torch.tensor([[3.0, 4.0]])
    assert [float(trajectory_distance(x, a, b)) for x in (b, a, 2 * b)] == [0.0, 1.0, 1.0]
    assert math.isclose(float(trajectory_distance(torch.tensor([[3.0, 0.0]]), a, b)), 16 / 25, rel_tol=1e-6)

def test_mtt_matcher_starts_from_the_expert_and_learns_its_rate(data):
    syn = SyntheticSet.from_real(data.X, data.y, 1, 0)
    expert = init_params(digits_net("student", 5))
    assert torch.allclose(TrajectoryMatcher(syn, syn_steps=3, lr=1e-12)(flat(expert)[None]), flat(expert)[None], atol=1e-9)
    m = TrajectoryMatcher(syn, syn_steps=3, lr=0.1)
    out = m(flat(expert)[None])
    assert torch.allclose(out, flat(sgd_unroll(m.net, expert, syn.images(), syn.labels, torch.tensor([0.1]), 3))[None],
                          atol=1e-6)
    g_pix, g_lr = torch.autograd.grad(out.pow(2).sum(), [syn.pixels, m.log_lr])
    assert g_lr != 0 and g_pix.abs().sum() > 0

def test_mtt_segments_target_epoch_t_plus_m(tmp_path):
    traj = {0: [{"w": torch.full((2,), float(e))} for e in range(7)], 3: [{"w": torch.full((2,), 10.0 + e)} for e in range(7)]}
    draw, rng = segment_batches(traj, expert_epochs=2, max_start_epoch=4), random.Random(0)
    seen = set()
    for _ in range(40):
        b = draw(rng)
        base = 0.0 if b["expert"] == 0 else 10.0
        assert b["x"].tolist() == [[base + b["start_epoch"]] * 2] and b["target"].tolist() == [[base + b["start_epoch"] + 2] * 2]
        seen.add((b["expert"], b["start_epoch"]))
    assert {e for e, _ in seen} == {0, 3} and {t for _, t in seen} == set(range(5))
    with pytest.raises(ValueError, match="needs 8"): segment_batches(traj, 2, 5)

def test_generative_prior_learns_only_latents_from_encoded_real_images(data):
    torch.manual_seed(0)
    vae = DigitsVAE()
    s = LatentSet.from_real(vae, data.X, data.y, 2, seed=1)
    idx = random_subset(data.y, 2, 1)
    assert torch.equal(s.latents.detach(), vae.encode(data.X[idx])[0].detach()) and torch.equal(s.labels, data.y[idx])
    assert sorted(k for k, p in s.named_parameters() if p.requires_grad) == ["latents"]
    assert torch.equal(s.images(), torch.sigmoid(vae.decoder(s.latents)))
    m = TrajectoryMatcher(s, syn_steps=2)
    g = torch.autograd.grad(m(flat(init_params(m.net))[None]).pow(2).sum(), s.latents)[0]
    assert g.abs().sum() > 0

def test_elbo_is_reconstruction_plus_kl_in_closed_form():
    vae, x = DigitsVAE(latent=2, hidden=4, pixels=3), torch.tensor([[0.0, 1.0, 0.5]])
    enc, logits = vae.encoder(x), torch.tensor([[0.3, -0.2, 1.0]])
    mu, logvar = enc.chunk(2, dim=-1)
    sig = lambda v: 1 / (1 + math.exp(-v))
    rec = sum(-(a * math.log(sig(l)) + (1 - a) * math.log(1 - sig(l))) for a, l in zip(x[0].tolist(), logits[0].tolist()))
    kl = sum(0.5 * (m * m + math.exp(v) - 1 - v) for m, v in zip(mu[0].tolist(), logvar[0].tolist()))
    sig_ = {"student.logits": logits, "student.module:encoder": enc, "batch.x": x}
    assert math.isclose(float(elbo_term()(sig_)), rec + kl, rel_tol=1e-5)
    assert math.isclose(float(elbo_term(0.0)(sig_)), rec, rel_tol=1e-5)

def test_user_network_and_data_go_through_every_piece(tmp_path):
    "Your own module (GELU + LayerNorm, 16 features, 3 classes) and your own tensors: experts, DD, MTT, evaluation."
    g = torch.Generator().manual_seed(0)
    centers = 2 * torch.randn(3, 16, generator=g)
    def split(n):
        y = torch.arange(n) % 3
        return centers[y] + torch.randn(n, 16, generator=g), y
    (X, y), (Xv, yv), (Xt, yt) = split(240), split(60), split(60)
    data = ImageData(X, y, Xv, yv, Xt, yt, "blobs")
    net = nn.Sequential(nn.Linear(16, 24), nn.GELU(), nn.LayerNorm(24), nn.Linear(24, 3))
    store = ArtifactStore(tmp_path)
    run = record_experts(store, net, seeds=(0,), epochs=3, batch_size=32, data=data)
    assert run.startswith("experts-blobs-Sequential-") and store.run_info(run)["config"]["data_fingerprint"] == data.fingerprint()
    traj = load_trajectories(store, run)
    assert sorted(traj[0][0]) == sorted(k for k, _ in net.named_parameters())
    dd, _ = distill_dd(data, 1, arch=net, steps=3, outer_steps=5, seed=0)
    m, _ = distill_mtt(traj, data, 1, arch=net, syn_steps=3, expert_epochs=1, max_start_epoch=1, outer_steps=5)
    for x_syn, y_syn in ((dd.syn.images(), dd.syn.labels), (m.syn.images(), m.syn.labels)):
        rows = evaluate_set(x_syn.detach(), y_syn, data, net, seeds=(0,), steps=50)
        assert rows[0]["eval_arch"].startswith("Sequential-") and 0 <= rows[0]["test_acc"] <= 1
