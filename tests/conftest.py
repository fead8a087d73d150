"""Shared fixtures: every test run gets its own artifact store; the model cache can be shared via the environment."""
import os
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parent.parent

@pytest.fixture(scope="session", autouse=True)
def fastdistill_env(tmp_path_factory):
    "Point FastDistill's artifacts (and, unless set, model cache) at per-session temporary folders."
    old = {k: os.environ.get(k) for k in ("FASTDISTILL_ARTIFACTS_DIR", "FASTDISTILL_MODEL_CACHE_DIR", "FASTDISTILL_DATA_DIR", "FASTDISTILL_EXECUTED_DIR")}
    os.environ["FASTDISTILL_EXECUTED_DIR"] = str(tmp_path_factory.mktemp("executed"))  # executed notebooks, for the docs-site test
    os.environ["FASTDISTILL_ARTIFACTS_DIR"] = str(tmp_path_factory.mktemp("artifacts"))
    for key, name in (("FASTDISTILL_MODEL_CACHE_DIR", "models"), ("FASTDISTILL_DATA_DIR", "data")):
        if not old[key]: os.environ[key] = str(tmp_path_factory.mktemp(name))
    yield
    for k, v in old.items():
        if v is None: os.environ.pop(k, None)
        else: os.environ[k] = v
