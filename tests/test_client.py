"""The teacher client against a server that answers concurrently (issue 15): bounded concurrency actually reached,
and every prompt's row stored exactly once — also under a fault proxy — through the pipeline's generate stage."""
import pytest
from fastdistill import pipeline as P
from fastdistill.artifacts import ArtifactStore, row_topk
from fastdistill.tasks import get_task
from fastdistill.teachers import DecodeProfile, HFTeacher, OpenAITeacher
from fastdistill.testing import FaultProxy, own_tokenizer, serve_teacher, tiny_causal_lm

pytestmark = pytest.mark.xdist_group("client")  # its module fixtures train once, on one worker

T2S = get_task("text2sql")

@pytest.fixture(scope="module")
def local(tmp_path_factory):
    tok = own_tokenizer(T2S.texts("train")[:200], style="llama")
    return HFTeacher.from_pretrained(tiny_causal_lm(tmp_path_factory.mktemp("m")/"llama", "llama", tok),
                                     dtype="float32", device="cpu")

def _generate(url, local, rows, tmp_path, name, concurrency, **kw):
    store = ArtifactStore(tmp_path/name); run = store.create_run("c")
    P.canonicalize(store, run, T2S, rows=rows); P.dedup(store, run)
    client = OpenAITeacher(url, "teacher", concurrency=concurrency, tokenizer=local.tokenizer, timeout=10, **kw)
    P.generate(store, run, client, DecodeProfile(max_tokens=8, top_logprobs=4), topk_storage="packed")
    return store.load(run, "generate").to_list(), client

def test_the_client_keeps_its_concurrency_busy_and_stores_each_row_once(local, tmp_path):
    rows = T2S.rows("train")[:24]
    prof = DecodeProfile(max_tokens=8, top_logprobs=4)
    with serve_teacher(local, latency=0.3, cache=True) as srv:
        srv.warm([T2S.prompt(r) for r in rows], prof)
        before = srv.computed
        got, client = _generate(srv.url, local, rows, tmp_path, "c8", 8)
        assert srv.computed == before  # every answer replayed: the server's model did not run again
        assert srv.max_in_flight == 8  # the client reached, and never exceeded, its concurrency
        _, one = _generate(srv.url, local, rows[:4], tmp_path, "c1", 1)
        assert srv.max_in_flight == 8 and one.requests == 4
    assert len(got) == 24 and len({r["gen_id"] for r in got}) == 24 and all(r["keep"] for r in got)
    assert client.requests == 24 and all(row_topk(r)[0] for r in got)

def test_rows_stored_exactly_once_under_a_fault_proxy(local, tmp_path):
    rows = T2S.rows("train")[:24]
    prof = DecodeProfile(max_tokens=8, top_logprobs=4)
    with serve_teacher(local, latency=0.05, cache=True) as srv:
        srv.warm([T2S.prompt(r) for r in rows], prof)
        with FaultProxy(srv.url.rsplit("/v1", 1)[0], fault_rate=0.3, faults=["429", "500", "timeout", "drop"],
                        stall=1.0, seed=1) as proxy:
            got, client = _generate(proxy.url, local, rows, tmp_path, "faulty", 8, max_retries=8, backoff=0.01,
                                    max_backoff=0.05)
            faults = sum(v for f, v in proxy.counts.items() if f != "ok")
            assert sum(proxy.counts.values()) == client.requests  # every attempt, retries included, went through it
    assert faults > 0
    assert len(got) == 24 and len({r["gen_id"] for r in got}) == 24
    # one retry per failed attempt (a stall past no deadline still answers)
    assert sum(bool(r.get("error")) for r in got) == 0 and 24 < client.requests <= 24 + faults
