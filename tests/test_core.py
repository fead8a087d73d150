"""Process-level checks of fastdistill.core that a notebook cell cannot make."""
import os, subprocess, sys
import pytest
from fastdistill.core import SettingsError, load_settings, sample_id, canonical_json

def _id_in_fresh_process(seed):
    code = "from fastdistill.core import sample_id; print(sample_id('text2sql', {'question': 'Wie viele Sänger?', 'db': 'concert'}, {'temperature': 0.7, 'top_p': 0.95}))"
    env = {**os.environ, "PYTHONHASHSEED": str(seed)}
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout.strip()

def test_sample_id_stable_across_processes_and_hash_seeds():
    here = sample_id("text2sql", {"question": "Wie viele Sänger?", "db": "concert"}, {"temperature": 0.7, "top_p": 0.95})
    assert {_id_in_fresh_process(s) for s in (0, 1, 12345)} == {here}

@pytest.mark.parametrize("change", [
    ("task", "arith"), ("question", "Wie viele Sänger!"), ("db", "concert2"), ("temperature", 0.8), ("top_p", None)])
def test_sample_id_changes_with_any_field(change):
    base = dict(task="text2sql", question="Wie viele Sänger?", db="concert", temperature=0.7, top_p=0.95)
    def sid(d): return sample_id(d["task"], {"question": d["question"], "db": d["db"]}, {"temperature": d["temperature"], "top_p": d["top_p"]})
    assert sid({**base, change[0]: change[1]}) != sid(base)

def test_canonical_json_drops_none_and_rejects_inf():
    assert canonical_json({"a": None, "b": [None, 1]}) == '{"b":[null,1]}'
    with pytest.raises(ValueError, match=r"\$\.x\.y"): canonical_json({"x": {"y": float("-inf")}})

def test_settings_precedence_file_env_argument(tmp_path):
    (tmp_path/"settings.ini").write_text("[fastdistill]\nseed = 3\nprofile = full\ndevice = cpu\nartifacts_dir = /data/a\n")
    sub = tmp_path/"nbs"/"methods"; sub.mkdir(parents=True)
    s = load_settings(sub, env={})
    assert (s.seed, s.profile, s.device, str(s.artifacts_dir)) == (3, "full", "cpu", "/data/a")
    s = load_settings(sub, env={"FASTDISTILL_SEED": "4", "FASTDISTILL_PROFILE": "quick"})
    assert (s.seed, s.profile) == (4, "quick")
    s = load_settings(sub, env={"FASTDISTILL_SEED": "4"}, seed=5)
    assert s.seed == 5 and s.sources["seed"] == "argument"

def test_settings_errors_name_key_source_and_choices(tmp_path):
    bad = tmp_path/"bad"; bad.mkdir()
    (bad/"settings.ini").write_text("[fastdistill]\ndevice = tpu\n")
    with pytest.raises(SettingsError, match=r"device='tpu' \(from .*settings.ini \[fastdistill\]\) is not allowed; choose one of auto, cpu, cuda"):
        load_settings(bad, env={})
    with pytest.raises(SettingsError, match="unknown settings key 'epochs'"):
        load_settings(tmp_path, env={}, epochs=3)

def test_default_paths_under_user_cache(tmp_path):
    s = load_settings(tmp_path, env={})  # no settings.ini above tmp_path
    assert s.artifacts_dir.parts[-2:] == ("fastdistill", "artifacts")
