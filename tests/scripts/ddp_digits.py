"""A short digits distillation run (CE + KD + a hint with a learned projection) for the DDP comparison test.

Run it as one process (`python ddp_digits.py OUT`) or as two DDP processes on the CPU
(`accelerate launch --multi_gpu --num_processes 2 ddp_digits.py OUT`, which starts torchrun; the Distiller picks gloo):
every process draws the same global batch of 64 and trains on its share, so both runs see the same data.
"""
import json, sys
from pathlib import Path
import torch
import torch.nn.functional as F
from safetensors.torch import save_file
from fastdistill.distiller import Distiller
from fastdistill.losses import HintProjection, LossTerm, hint_mse, kd_term, sft_term
from fastdistill.zoo import get_student, get_teacher
from fastdistill.tasks import get_task

out, steps = Path(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 25
torch.manual_seed(0)
teacher = get_teacher("digits", profile="quick", progress=False).model
X, y = (torch.tensor(a) for a in get_task("digits").arrays("train"))
student = get_student("digits", "student", seed=0).model
proj = HintProjection(32, 1200)
hint = LossTerm("hint", lambda s: hint_mse(s["student.hidden_states@0"], s["teacher.hidden_states@1"], proj), 0.1,
                needs=("student.hidden_states@0", "teacher.hidden_states@1"))
def batches(rng):
    pick = torch.tensor([rng.randrange(len(y)) for _ in range(64)])
    return {"x": X[pick], "labels": y[pick]}
d = Distiller(student, [sft_term("ce", 0.5), kd_term("kd", temperature=2.0, weight=0.5), hint], teacher=teacher,
              modules={"hint": proj}, lr=3e-3, seed=0, progress=False, log_every=1, max_grad_norm=10.0)
d.fit(batches, steps)
if d.acc.is_main_process:
    out.mkdir(parents=True, exist_ok=True)
    state = {f"student.{k}": v.detach().cpu().contiguous() for k, v in d.acc.unwrap_model(d.student).state_dict().items()}
    state.update({f"modules.{k}": v.detach().cpu().contiguous() for k, v in d.modules.state_dict().items()})
    save_file(state, str(out/"weights.safetensors"))
    backend = torch.distributed.get_backend() if torch.distributed.is_initialized() else None
    (out/"history.json").write_text(json.dumps({"processes": d.acc.num_processes, "backend": backend, "rows": d.history.rows}))
