"""A real OpenAI-compatible server: `transformers serve` with a zoo teacher saved to disk, on 127.0.0.1.

The pipeline's generate stage runs through `OpenAITeacher` against it, directly and behind a fault-injecting proxy.
"""
import os, shutil, socket, subprocess, sys, time, urllib.request
from pathlib import Path
import pytest
from fastdistill.artifacts import row_topk
from fastdistill.artifacts import ArtifactStore
from fastdistill import pipeline as P
from fastdistill.teachers import DecodeProfile, HFTeacher, OpenAITeacher
from fastdistill.testing import FaultProxy
from fastdistill.zoo import zoo_teacher
from fastdistill.tasks import get_task

pytestmark = pytest.mark.xdist_group("serving")  # its module fixtures train once, on one worker

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0)); return s.getsockname()[1]

@pytest.fixture(scope="module")
def served(tmp_path_factory):
    "(base_url, model name, local HFTeacher): the quick text2sql teacher behind `transformers serve`."
    cli = shutil.which("transformers") or str(Path(sys.executable).parent/"transformers")
    try: import fastapi, uvicorn  # noqa: F401  (transformers[serving])
    except ImportError: pytest.skip("transformers[serving] (fastapi, uvicorn) is not installed: pip install -e '.[dev]'")
    local = zoo_teacher("text2sql", "quick")
    path = tmp_path_factory.mktemp("served")/"t2s-teacher"
    local.model.save_pretrained(path); local.tokenizer.save_pretrained(path)
    port = _free_port()
    log = open(path.parent/"serve.log", "w")
    proc = subprocess.Popen([cli, "serve", str(path), "--host", "127.0.0.1", "--port", str(port), "--device", "cpu"],
                            stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "OMP_NUM_THREADS": "1"})
    try:
        for _ in range(240):  # bounded wait: 120 s
            if proc.poll() is not None: pytest.fail(f"transformers serve exited: {(path.parent/'serve.log').read_text()[-2000:]}")
            try:
                if urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1).status == 200: break
            except OSError: time.sleep(0.5)
        else: pytest.fail("transformers serve did not become healthy in 120 s")
        yield f"http://127.0.0.1:{port}", str(path), local
    finally:
        proc.terminate()
        try: proc.wait(15)
        except subprocess.TimeoutExpired: proc.kill(); proc.wait()
        log.close()

def _run_generate(store, run_id, teacher, rows, n=1):
    P.canonicalize(store, run_id, "text2sql", rows=rows); P.dedup(store, run_id)
    P.generate(store, run_id, teacher, DecodeProfile(n=n, max_tokens=48, top_logprobs=4), batch_size=8)
    return store.load(run_id, "generate").to_list()

def test_generate_stage_against_transformers_serve(served, tmp_path):
    url, model, local = served
    t = get_task("text2sql")
    rows = t.rows("train")[:8]
    teacher = OpenAITeacher(url + "/v1", model, concurrency=4, tokenizer=local.tokenizer)
    store = ArtifactStore(tmp_path)
    got = _run_generate(store, store.create_run("served"), teacher, rows)
    assert len(got) == 8 and all(r["keep"] and r["error"] is None for r in got)
    # the server returns no logprobs (transformers serve): the candidates say so instead of storing wrong ones
    assert all(r["logprobs_available"] or not row_topk(r)[0] for r in got)
    greedy = {p: c[0]["text"] for p, c in zip([t.prompt(r) for r in rows], local.generate([t.prompt(r) for r in rows], DecodeProfile(max_tokens=48)))}
    same = sum(r["text"] == greedy[r["prompt"]] for r in got)
    assert same >= 6, [(r["text"], greedy[r["prompt"]]) for r in got]  # greedy on the same weights (padding may nudge a few)

def test_faults_through_proxy_every_row_accounted_for(served, tmp_path):
    url, model, local = served
    rows = get_task("text2sql").rows("train")[8:32]
    with FaultProxy(url, fault_rate=0.4, stall=3.0, seed=1) as proxy:
        teacher = OpenAITeacher(proxy.url, model, concurrency=4, max_retries=3, timeout=1.5, backoff=0.05, max_backoff=0.3)
        store = ArtifactStore(tmp_path)
        run = store.create_run("faulty")
        got = _run_generate(store, run, teacher, rows)
    assert len(got) == len(rows) and len({r["sample_id"] for r in got}) == len(rows)  # totals match the input
    for r in got:  # generated, or an error with its reason
        assert (r["keep"] and r["error"] is None and r["text"]) or (not r["keep"] and r["reject_reason"].startswith("error: ")), r
    assert teacher.requests <= len(rows) * 4  # bounded retries
    assert sum(proxy.counts.values()) >= teacher.requests - 1  # every request reached the proxy (a dropped one may be counted late)
    assert sum(v for k, v in proxy.counts.items() if k != "ok") > 0, proxy.counts
    assert P.reconcile(store, run, ["canonical", "dedup", "generate"])[-1]["balanced"]
