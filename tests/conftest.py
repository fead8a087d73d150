"""Shared fixtures: every test run gets its own artifact store; the model cache can be shared via the environment.

CI runs `pytest -n 2 --dist loadgroup` (pytest-xdist): two workers with one torch thread each share the two cores
(tiny models gain nothing from a second thread), one model cache (the zoo and tokenizer caches lock each entry while
it is checked or trained, so a model is trained once and never read half-written) and one folder of executed
notebooks (for the docs-site test). Zoo models train on their profile's pinned threads in any process
(`fastdistill.zoo.ZOO_THREADS`: one at the quick profile, part of each cache key) and the quick results files were
recorded with one, so a serial `pytest` (two threads) reproduces the same numbers. Modules whose fixtures train something are kept on one worker
(`xdist_group`)."""
import os
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parent.parent
WORKER = os.environ.get("PYTEST_XDIST_WORKER")
if WORKER:  # before torch starts its thread pools; papermill kernels inherit the environment
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"): os.environ[var] = "1"
    import torch
    torch.set_num_threads(1)

@pytest.fixture(scope="session", autouse=True)
def fastdistill_env(tmp_path_factory):
    "Point FastDistill's artifacts (and, unless set, model cache) at per-session temporary folders."
    old = {k: os.environ.get(k) for k in ("FASTDISTILL_ARTIFACTS_DIR", "FASTDISTILL_MODEL_CACHE_DIR", "FASTDISTILL_DATA_DIR", "FASTDISTILL_EXECUTED_DIR")}
    shared = tmp_path_factory.getbasetemp().parent if WORKER else tmp_path_factory.getbasetemp()  # xdist: the run's
    os.environ["FASTDISTILL_EXECUTED_DIR"] = str(shared/"executed-shared")  # executed notebooks, for the docs-site test
    os.environ["FASTDISTILL_ARTIFACTS_DIR"] = str(tmp_path_factory.mktemp("artifacts"))
    if not old["FASTDISTILL_MODEL_CACHE_DIR"]:  # one cache for the whole run
        os.environ["FASTDISTILL_MODEL_CACHE_DIR"] = str(shared/"models-shared")
    if not old["FASTDISTILL_DATA_DIR"]: os.environ["FASTDISTILL_DATA_DIR"] = str(tmp_path_factory.mktemp("data"))
    yield
    for k, v in old.items():
        if v is None: os.environ.pop(k, None)
        else: os.environ[k] = v

@pytest.fixture
def fits(monkeypatch):
    """Every `Distiller.fit` of the test, in order: the student object, the teacher, the active terms (name → weight)
    and the signals they read, the learning rate, and the student's parameters at the start and the end of the fit
    (`changed`: the names that moved). The arm-identity tests read what each stage of a study starts from and trains."""
    from types import SimpleNamespace
    import torch
    from fastdistill.distiller import Distiller
    log, fit = [], Distiller.fit
    def recorded(self, batches, steps, *a, **kw):
        snap = lambda: {n: p.detach().clone() for n, p in self.student.named_parameters()}
        snap_modules = lambda: {n: p.detach().clone() for n, p in self.modules.named_parameters()}
        r = SimpleNamespace(student=self.student, teacher=self.teacher, steps=steps, lr=self.lr, start=snap(),
                            terms={t.name: t.weight for t in self.terms}, needs={t.name: t.needs for t in self.terms},
                            modules=sorted(self.modules.keys()), modules_start=snap_modules())
        out = fit(self, batches, steps, *a, **kw)
        r.end, r.modules_end = snap(), snap_modules(); r.changed = {n for n in r.start if not torch.equal(r.start[n], r.end[n])}
        log.append(r)
        return out
    monkeypatch.setattr(Distiller, "fit", recorded)
    return log
