#!/usr/bin/env bash
# On a GPU machine with the trainer's requirements installed (pip install -r trainers/requirements.txt) and a small
# chat model on disk: runs the real default trainer (trainers/hf_peft_sft.py) for a few steps through tuneloop's
# trainer contract, prints its tokens/s and the adapter's size, then loads the adapter with PEFT and compares one
# greedy answer with and without it.
#
#   scripts/gpu-check.sh /models/Qwen2.5-0.5B-Instruct [workdir]
#
# Exit status 0 when the trainer reported done, the adapter is PEFT's two files and PEFT loads it.
set -euo pipefail

model="${1:?usage: scripts/gpu-check.sh MODEL_DIR_OR_HF_ID [WORKDIR]}"
here="$(cd "$(dirname "$0")/.." && pwd)"
work="${2:-$(mktemp -d -t tuneloop-gpu-check-XXXXXX)}"
python="${PYTHON:-python3}"
mkdir -p "$work"

echo "== GPU"
if command -v nvidia-smi >/dev/null; then
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
else
  echo "nvidia-smi not found: the check runs on whatever torch finds"
fi
"$python" - <<'PY'
import torch, transformers, peft
print("torch", torch.__version__, "cuda", torch.cuda.is_available(),
      "bf16", torch.cuda.is_available() and torch.cuda.is_bf16_supported())
print("transformers", transformers.__version__, "peft", peft.__version__)
try:
    import trl
    print("trl", trl.__version__, "(SFTTrainer)")
except ImportError:
    print("trl not installed (transformers' Trainer)")
PY

echo "== training rows"
# 64 short conversations with a fixed, learnable answer style: "Code: <word reversed, upper case>."
"$python" - "$work/train.jsonl" <<'PY'
import json, sys
words = ["apple", "river", "stone", "cloud", "tiger", "lemon", "piano", "north", "amber", "cedar", "delta", "ember",
         "frost", "grape", "haven", "ivory"]
with open(sys.argv[1], "w") as f:
    for i in range(64):
        w = words[i % len(words)] + str(i // len(words))
        f.write(json.dumps({"messages": [
            {"role": "system", "content": "You answer with the secret code of a word."},
            {"role": "user", "content": f"Secret code of {w}?"},
            {"role": "assistant", "content": f"Code: {w[::-1].upper()}."},
        ]}) + "\n")
print("64 rows ->", sys.argv[1])
PY

cat > "$work/job.json" <<JSON
{
  "version": 1, "runId": 1, "baseModel": "$model",
  "trainFile": "$work/train.jsonl", "rows": 64,
  "outputDir": "$work/adapter", "adapterName": "gpu-check",
  "hyper": {"epochs": 2, "learningRate": 0.0002, "batchSize": 8, "loraRank": 16, "loraAlpha": 32,
            "loraDropout": 0.05, "targetModules": "all-linear", "maxSeqLength": 256, "seed": 1}
}
JSON

echo "== trainer (16 steps)"
rm -rf "$work/adapter"
start=$(date +%s.%N)
"$python" "$here/trainers/hf_peft_sft.py" "$work/job.json" >"$work/events.jsonl" 2>"$work/trainer.log" || {
  echo "the trainer failed; last lines of its log:"; tail -n 20 "$work/trainer.log"; tail -n 3 "$work/events.jsonl"; exit 1; }
end=$(date +%s.%N)
"$python" - "$work/events.jsonl" "$start" "$end" <<'PY'
import json, sys
events = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
prog = [e for e in events if e.get("event") == "progress"]
done = [e for e in events if e.get("event") == "done"]
if not done:
    sys.exit("no done event: " + json.dumps(events[-1:] or "no events"))
d = done[-1]
print("steps %d/%d, loss %.3f -> %.3f" % (prog[-1]["step"], prog[-1]["totalSteps"], prog[0]["loss"], prog[-1]["loss"]))
print("tokens/s (trainer's last report): %.0f" % prog[-1]["tokensPerSecond"])
print("train tokens %d in %.1f s (wall with loading: %.1f s) -> %.0f tokens/s" % (
    d["trainTokens"], d["seconds"], float(sys.argv[3]) - float(sys.argv[2]), d["trainTokens"] / max(d["seconds"], 1e-9)))
PY
for f in adapter_config.json adapter_model.safetensors; do
  test -f "$work/adapter/$f" || { echo "missing $work/adapter/$f"; exit 1; }
done
echo "adapter: $(du -sh "$work/adapter" | cut -f1) ($work/adapter)"

echo "== greedy answer, base vs base + adapter"
"$python" - "$model" "$work/adapter" <<'PY'
import sys, torch
from transformers import AutoModelForCausalLM, AutoTokenizer
from peft import PeftModel
model_id, adapter = sys.argv[1], sys.argv[2]
tok = AutoTokenizer.from_pretrained(model_id)
dev = "cuda" if torch.cuda.is_available() else "cpu"
dtype = torch.bfloat16 if dev == "cuda" and torch.cuda.is_bf16_supported() else (torch.float16 if dev == "cuda" else torch.float32)
base = AutoModelForCausalLM.from_pretrained(model_id, torch_dtype=dtype).to(dev)
msgs = [{"role": "system", "content": "You answer with the secret code of a word."},
        {"role": "user", "content": "Secret code of ember2?"}]
ids = tok.apply_chat_template(msgs, add_generation_prompt=True, return_tensors="pt").to(dev)
def answer(m):
    with torch.no_grad():
        out = m.generate(ids, max_new_tokens=24, do_sample=False)
    return tok.decode(out[0, ids.shape[1]:], skip_special_tokens=True).strip()
a = answer(base)
tuned = PeftModel.from_pretrained(base, adapter).to(dev)
b = answer(tuned)
print("base:        ", repr(a))
print("with adapter:", repr(b))
print("expected style: 'Code: 2REBME.'")
print("answers differ:", a != b)
PY
echo "== ok ($work)"
