"""The explorer's logic and widget, without a browser: filters list exactly the expected samples."""
import json
import pytest
from fastdistill.artifacts import ArtifactStore
from fastdistill import pipeline as P
from fastdistill.explore import Explorer, ExplorerWidget, sample_html, sample_label
from fastdistill.tasks import get_task
from fastdistill.teachers import DecodeProfile
from test_pipeline import ScriptedTeacher

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
    assert [v for _, v in w.candidate.options]  # the token view can be chosen
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
