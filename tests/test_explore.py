"""The explorer's logic and widget, without a browser: filters list exactly the expected samples."""
import html, json
import pytest
from fastdistill.artifacts import ArtifactStore
from fastdistill import pipeline as P
from fastdistill.explore import Explorer, ExplorerWidget, sample_html, sample_label
from fastdistill.tasks import get_task
from fastdistill.teachers import DecodeProfile
from test_pipeline import ScriptedTeacher

pytestmark = pytest.mark.xdist_group("explore")  # its module fixtures train once, on one worker

@pytest.fixture(scope="module")
def run(tmp_path_factory):
    t = get_task("text2sql")
    rows = [r for r in t.rows("train") if r["input"]["db_id"] == "concert"][:5]
    prompts, gold = [t.prompt(r) for r in rows], [r["target"] for r in rows]
    answers = {prompts[0]: [gold[0], "SELECT nonsense FROM nowhere"], prompts[1]: [gold[1], gold[1]],
               prompts[2]: ["", "SELECT 1"], prompts[3]: ["SELECT broken FROM", gold[3]], prompts[4]: [None, "SELECT 2"]}
    store = ArtifactStore(tmp_path_factory.mktemp("explore"))
    run_id = store.create_run("explore-test")
    P.canonicalize(store, run_id, "text2sql", rows=rows); P.dedup(store, run_id)
    P.generate(store, run_id, ScriptedTeacher(answers), DecodeProfile(n=2, top_logprobs=0))
    P.clean(store, run_id, "text2sql"); P.rule_filter(store, run_id, "text2sql"); P.exec_gate(store, run_id, "text2sql")
    P.judge(store, run_id, None); P.select(store, run_id, require_gold_match=True)
    return store, run_id, [r["sample_id"] for r in rows]

def test_filters_list_exactly_the_expected_samples(run):
    store, run_id, ids = run
    ex = Explorer(run_id, store)
    assert ex.sample_ids(stage="exec_gate", keep="rejected") == sorted({ids[0], ids[3]})  # the two queries that fail to run
    assert ex.sample_ids(stage="rule_filter", reject_reason="empty") == [ids[2]]
    assert ex.sample_ids(stage="generate", keep="rejected") == [ids[4]]  # the failed candidate
    assert ex.sample_ids(stage="select", keep="kept") == sorted({ids[0], ids[1], ids[3]})
    assert ex.sample_ids(stage="select", reject_reason="gold_mismatch") == sorted({ids[2], ids[4]})
    assert ex.values("exec_error") == ["runtime", "syntax"]  # an unknown table; an incomplete query
    assert ex.sample_ids(stage="exec_gate", exec_error="syntax") == [ids[3]]
    assert ex.sample_ids(stage="generate", text="SELECT 2") == [ids[4]]
    assert ex.sample_ids(stage="generate", judge=(0.5, 1.0)) == []  # no judge scores in this run: nothing in range

def test_widget_filters_select_and_empty_message(run):
    store, run_id, ids = run
    w = ExplorerWidget(Explorer(run_id, store))
    listed = lambda: sorted(v for _, v in w.samples.options)
    assert listed() == sorted(ids)  # default: the last stage (select), every outcome: all five questions
    w.samples.value = ids[0]
    w.stage.value = "exec_gate"; w.keep.value = "rejected"
    assert listed() == sorted({ids[0], ids[3]})
    assert w.samples.value == ids[0]  # the selection survives a filter change that still matches it
    assert "2 sample(s) match" in w.message.value
    w.samples.value = ids[3]
    assert "SELECT broken FROM" in w.view.value and "gold" in w.view.value
    assert [v for _, v in w.candidate.options]  # the token view can be chosen …
    assert w.candidate.value == w.candidate.options[0][1]  # … and opens on the first candidate (no logprobs here)
    w.text.value = "no such text anywhere 9f"
    assert listed() == [] and "No samples match" in w.message.value and w.view.value == ""

def test_sample_view_has_candidates_gold_and_executions(run):
    store, run_id, ids = run
    s = Explorer(run_id, store).sample(ids[0])
    assert len(s["candidates"]) == 2 and s["gold"] in s["executions"] and s["executions"][s["gold"]]["ok"]
    assert any(not e["ok"] for e in s["executions"].values())  # the failing candidate's error is shown
    page = sample_html(s)
    assert "nonsense" in page and "(gold)" in page
    with pytest.raises(KeyError, match="has no candidates"): Explorer(run_id, store).sample("no-such-sample")


def test_token_pieces_read_as_text_for_byte_level_and_wordpiece_tokenizers():
    from fastdistill.explore import token_pieces, visible_whitespace
    from fastdistill.models import get_tokenizer
    for task, text in (("text2sql", "SELECT name FROM t WHERE x = 'é😀'\nLIMIT 2"), ("topics", "the match ended in a draw")):
        tok = get_tokenizer(task)
        ids = tok(text, add_special_tokens=False).input_ids
        pieces = token_pieces(tok, ids)
        assert len(pieces) == len(ids) and "".join(pieces) == tok.decode(ids)
        assert not any("Ġ" in p or "##" in p for p in pieces)  # byte-level and word-piece markers never shown
    assert visible_whitespace(" a\tb\n") == "·a⇥b↵\n"


def test_token_stats_closed_form_kl_with_a_user_model():
    "A stand-in student (any callable with parameters and .logits) against a stored top-2 with its tail."
    import math, types
    import numpy as np
    import torch
    from fastdistill.explore import token_stats
    class Uniform(torch.nn.Module):  # 4-token vocabulary, every next token equally likely
        def __init__(self): super().__init__(); self.w = torch.nn.Parameter(torch.zeros(1))
        def forward(self, input_ids): return types.SimpleNamespace(logits=torch.zeros(*input_ids.shape, 4) + self.w)
    st = token_stats([2], [[2, 1]], np.log([[0.5, 0.3]]), prompt_ids=[0, 3], student=Uniform())
    kl = 0.5 * math.log(0.5 / 0.25) + 0.3 * math.log(0.3 / 0.25) + 0.2 * math.log(0.2 / 0.5)  # tail 0.2 vs 0.5
    assert abs(st["kl"][0] - kl) < 1e-9 and abs(st["student_p"][0] - 0.25) < 1e-12
    assert st["teacher_p"] == [0.5] and st["teacher_top1"] == [2] and st["student_top1"] == [0]


def test_sample_table_previews_and_statuses(run):
    store, run_id, ids = run
    ex = Explorer(run_id, store)
    t = ex.sample_table().set_index("sample_id")
    assert list(t.loc[ids, "status"]) == ["kept", "kept", "rejected: gold_mismatch", "kept", "rejected: gold_mismatch"]
    assert list(t.loc[ids, "errored"]) == [0, 0, 0, 0, 1] and list(t.loc[ids, "candidates"]) == [2] * 5
    assert list(t.loc[ids, "exec"]) == ["ran"] * 5  # every question has a candidate whose query ran
    canon = {r["sample_id"]: " ".join(json.loads(r["input_json"])["question"].split())
             for r in store.load(run_id, "canonical").to_list()}
    for sid in ids:  # the question itself (not the prompt around it), cut to one line with a mark
        q = canon[sid]
        assert t.loc[sid, "question"] == (q if len(q) <= 72 else q[:71] + "…")
    by_status = ex.sample_table(sort="status")
    assert list(by_status["status"]) == sorted(by_status["status"])
    assert set(ex.sample_table(stage="exec_gate", keep="rejected")["sample_id"]) == {ids[0], ids[3]}
    label = sample_label(t.loc[ids[2]])
    assert label.startswith("✗ ") and label.endswith("[gold_mismatch]") and t.loc[ids[2], "question"] in label
    with pytest.raises(ValueError, match="choose question, status or judge"): ex.sample_table(sort="length")


@pytest.fixture(scope="module")
def run_b(run):
    "A second run of the same task: four of the five questions, answered differently (statuses change both ways)."
    store, _, ids = run
    t = get_task("text2sql")
    rows = [r for r in t.rows("train") if r["input"]["db_id"] == "concert"][:4]
    prompts, gold = [t.prompt(r) for r in rows], [r["target"] for r in rows]
    answers = {prompts[0]: [gold[0], gold[0]],          # kept → kept
               prompts[1]: ["SELECT 1", "SELECT 2"],     # kept → rejected (gold_mismatch)
               prompts[2]: [gold[2], None],              # rejected → kept
               prompts[3]: [None, None]}                 # kept → errored; the fifth question is absent
    run_id = store.create_run("explore-test-b")
    P.canonicalize(store, run_id, "text2sql", rows=rows); P.dedup(store, run_id)
    P.generate(store, run_id, ScriptedTeacher(answers), DecodeProfile(n=2, top_logprobs=0))
    P.clean(store, run_id, "text2sql"); P.rule_filter(store, run_id, "text2sql"); P.exec_gate(store, run_id, "text2sql")
    P.judge(store, run_id, None); P.select(store, run_id, require_gold_match=True)
    return run_id

def test_run_comparison_counts_changes_and_both_runs_candidates(run, run_b):
    from fastdistill.explore import RunComparison
    store, run_a, ids = run
    cmp = RunComparison(run_a, run_b, store)
    counts = cmp.stage_counts().set_index("stage")
    assert counts.loc["generate"].to_dict() == {"A candidates": 10, "A kept": 9, "A samples kept": 5, "B candidates": 8,
                                                "B kept": 5, "B samples kept": 3, "Δ samples kept": -2}
    assert counts.loc["select", ["A samples kept", "B samples kept", "Δ samples kept"]].tolist() == [3, 2, -1]
    st = cmp.statuses().set_index("sample_id")
    assert list(st.loc[ids, "status A"]) == ["kept", "kept", "rejected: gold_mismatch", "kept", "rejected: gold_mismatch"]
    assert list(st.loc[ids, "status B"]) == ["kept", "rejected: gold_mismatch", "kept", "errored", "absent"]
    assert set(cmp.changes()["sample_id"]) == set(ids[1:])
    tr = cmp.transitions()
    assert tr.loc["kept", "kept"] == 1 and tr.loc["kept", "rejected"] == 1 and tr.loc["kept", "errored"] == 1
    assert tr.loc["rejected", "kept"] == 1 and tr.loc["rejected", "absent"] == 1 and tr.values.sum() == 5
    page = cmp.compare_html(ids[2])
    col_a, col_b = page.split("fd-run-B")
    assert "SELECT 1" in col_a and "HTTP 500" not in col_a  # A: an empty answer and SELECT 1
    gold2 = cmp.sample(ids[2])["B"]["gold"]
    assert col_b.count(html.escape(gold2)) >= 2  # B: the gold as candidate and as gold
    assert "not in this run" in cmp.compare_html(ids[4]).split("fd-run-B")[1]
    with pytest.raises(KeyError, match="in neither run"): cmp.sample("no-such-sample")

def test_run_comparison_refuses_two_tasks_and_widget_lists_changes(run, run_b):
    from fastdistill.explore import ComparisonWidget, RunComparison, compare_label
    store, run_a, ids = run
    t = get_task("arith")
    rows = t.rows("train")[:2]
    other = store.create_run("explore-arith")
    P.canonicalize(store, other, "arith", rows=rows); P.dedup(store, other)
    P.generate(store, other, ScriptedTeacher({t.prompt(r): ["1"] for r in rows}), DecodeProfile(n=1, top_logprobs=0))
    with pytest.raises(ValueError, match="is task text2sql and run .* is task arith: a comparison needs two runs"):
        RunComparison(run_a, other, store)
    w = ComparisonWidget(RunComparison(run_a, run_b, store))
    assert w.show.value == "changed" and sorted(v for _, v in w.samples.options) == sorted(ids[1:])
    labels = dict((v, k) for k, v in w.samples.options)
    assert labels[ids[3]].startswith("✓→⚠ ") and labels[ids[3]].endswith("[kept → errored]")
    assert labels[ids[4]].startswith("✗→· ")
    w.samples.value = ids[2]
    assert "fd-run-A" in w.view.value and "fd-run-B" in w.view.value
    w.show.value = "all"
    assert len(w.samples.options) == 5 and w.samples.value == ids[2]  # the selection survives
    assert "4 of 5 changed status" in w.message.value
    w.text.value = "no such question text 7e"
    assert w.samples.options == () and "No samples match" in w.message.value and w.view.value == ""

def test_views_on_runs_from_a_users_own_model_and_server(tmp_path):
    """No zoo anywhere: a user's GPT-2-style teacher folder (its own byte-level tokenizer) makes run A in-process and
    run B through an OpenAI-compatible server; a Qwen2 student with the same tokenizer is compared token by token."""
    from transformers import AutoModelForCausalLM
    from fastdistill.explore import Explorer, ExplorerWidget, RunComparison
    from fastdistill.tasks import PromptCompletion
    from fastdistill.teachers import HFTeacher, OpenAITeacher
    from fastdistill.testing import copy_rows, own_tokenizer, serve_teacher, tiny_causal_lm, train_folder
    pool = copy_rows(400)
    tok = own_tokenizer([r["prompt"] + " " + r["completion"] for r in pool], "gpt2")
    folder = tiny_causal_lm(tmp_path/"teacher", "gpt2", tok)
    train_folder(folder, pool, steps=80)
    student = AutoModelForCausalLM.from_pretrained(tiny_causal_lm(tmp_path/"student", "qwen2", tok, seed=1))
    task = PromptCompletion(copy_rows(30, seed=1), name="my_copy", gate="none")
    local = HFTeacher.from_pretrained(folder, dtype="float32", device="cpu")
    store = ArtifactStore(tmp_path/"store")
    def make(name, teacher, seed):
        rid = store.create_run(name)
        P.canonicalize(store, rid, task); P.dedup(store, rid)
        P.generate(store, rid, teacher, DecodeProfile(max_tokens=8, n=2, temperature=1.0, seed=seed, top_logprobs=3))
        P.clean(store, rid, task); P.rule_filter(store, rid, task); P.exec_gate(store, rid, task)
        P.judge(store, rid, None); P.select(store, rid)
        return rid
    run_a = make("mine-local", local, 0)
    with serve_teacher(local) as srv:
        run_b = make("mine-served", OpenAITeacher(srv.url, "teacher", concurrency=2, tokenizer=local.tokenizer), 1)
    ex = Explorer(run_a, store, tokenizer=tok)
    n = len(store.load(run_a, "canonical"))
    table = ex.sample_table()
    assert len(table) == n and all(q.startswith("copy: ") for q in table["question"])  # the user's prompt field
    s = ex.sample(table["sample_id"][0])
    assert "executions" not in s and len(s["candidates"]) == 2  # a user task: nothing to run, nothing assumed
    ok = ex.candidates[ex.candidates["logprobs_available"] == True]  # noqa: E712
    g = ok["token_ids"].map(len).idxmax()  # the longest completion
    tt = ex.token_table(g, student)
    assert "".join(tt["text"]) == tok.decode(list(tt["token_id"]))
    assert any("Ġ" in p for p in tt["piece"]) and not any("Ġ" in t for t in tt["text"]), tt[["piece", "text"]]
    assert (tt["kl"] >= 0).all() and tt["student_p"].between(0, 1).all()
    fig = ex.next_token_figure(g, 0, student)
    assert abs(sum(fig.data[0].y) - 1) < 1e-6 and abs(sum(fig.data[1].y) - 1) < 1e-6  # both bars cover all the mass
    assert len(ex.disagreement_figure(g, student).data[0].x) == len(tt)
    cmp = RunComparison(ex, Explorer(run_b, store, tokenizer=tok))
    counts = cmp.stage_counts().set_index("stage")
    assert counts.at["generate", "A candidates"] == counts.at["generate", "B candidates"] == 2 * n
    assert len(cmp.statuses()) == n and "fd-run-B" in cmp.compare_html(table["sample_id"][0])
    w = ExplorerWidget(ex, students={"qwen2 student": student})
    w.samples.value = ex.candidates.at[g, "sample_id"]
    w.candidate.value, w.student.value = g, "qwen2 student"  # the token panel redraws against the student
    assert list(w.student.options) == ["(teacher only)", "qwen2 student"]
