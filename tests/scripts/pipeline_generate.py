"""Run canonical → dedup → generate for the kill-and-resume test, logging every prompt the teacher is asked for.

    python pipeline_generate.py STORE RUN_ID REQUEST_LOG LIMIT
"""
import sys
from fastdistill.artifacts import ArtifactStore
from fastdistill.pipeline import canonicalize, dedup, generate
from fastdistill.teachers import DecodeProfile, HFTeacher
from fastdistill.zoo import zoo_teacher

store_dir, run_id, log_path, limit = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])

class LoggingTeacher(HFTeacher):
    "The zoo teacher, appending each requested prompt to a log (flushed) before answering."
    def generate(self, prompts, profile, progress=False):
        with open(log_path, "a") as f:
            for p in prompts: f.write(p.replace("\n", " ") + "\n")
            f.flush()
        return super().generate(prompts, profile, progress)

z = zoo_teacher("text2sql", "quick")
teacher = LoggingTeacher(z.model, z.tokenizer, name=z.name, batch_size=8)
store = ArtifactStore(store_dir)
run = store.create_run(run_id, config={"test": "kill-resume", "limit": limit})
canonicalize(store, run, "text2sql", "train", limit)
dedup(store, run)
generate(store, run, teacher, DecodeProfile(temperature=0.7, max_tokens=48, n=2, top_logprobs=4), batch_size=8)
print("done", flush=True)
