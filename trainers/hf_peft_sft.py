#!/usr/bin/env python3
"""tuneloop's default self-hosted trainer: a LoRA adapter with Hugging Face transformers + PEFT (TRL's SFTTrainer
when it is importable), loss on the assistant's tokens only, bf16 where the GPU has it.

Usage: python3 trainers/hf_peft_sft.py JOB.json

The job file and the JSON lines this writes on stdout are tuneloop's trainer contract (docs/selfhosted.md):
  {"event": "progress", "step", "totalSteps", "loss", "tokensPerSecond"}
  {"event": "done", "adapterDir", "trainTokens", "seconds"}
  {"event": "error", "message"}
Everything else (library logs, warnings, tracebacks) goes to stderr: tuneloop shows its last lines when a run fails.

The job parsing and the label masking below need only the standard library (tested with plain python3 in
trainers/test_hf_peft_sft.py); torch, transformers and peft are imported when training starts.
"""

import json
import math
import os
import signal
import sys
import time

IGNORE = -100


class JobError(ValueError):
    """A job file that does not follow the schema: the message names the field."""


_HYPER = {
    # name: (type, minimum, default or None when required)
    "epochs": (int, 1, None),
    "learningRate": (float, 0.0, None),
    "batchSize": (int, 1, None),
    "loraRank": (int, 1, None),
    "loraAlpha": (float, 0.0, None),
    "loraDropout": (float, 0.0, 0.0),
    "maxSeqLength": (int, 16, 2048),
    "seed": (int, 0, 1),
}


def parse_job(raw):
    """Checks a job (the parsed JSON) against the schema and returns it with defaults filled in."""
    if not isinstance(raw, dict):
        raise JobError("the job file must be a JSON object")
    if raw.get("version") != 1:
        raise JobError("version: expected 1, got %r" % (raw.get("version"),))
    for key in ("baseModel", "trainFile", "outputDir"):
        if not isinstance(raw.get(key), str) or not raw[key].strip():
            raise JobError("%s: a non-empty string is required" % key)
    hyper = raw.get("hyper")
    if not isinstance(hyper, dict):
        raise JobError("hyper: an object is required")
    out = {}
    for name, (kind, minimum, default) in _HYPER.items():
        value = hyper.get(name, default)
        if value is None:
            raise JobError("hyper.%s: required" % name)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise JobError("hyper.%s: a number is required, got %r" % (name, value))
        if kind is int and value != int(value):
            raise JobError("hyper.%s: a whole number is required, got %r" % (name, value))
        value = kind(value)
        if value < minimum or (name == "learningRate" and value == 0):
            raise JobError("hyper.%s: must be %s %s, got %r" % (name, ">" if name == "learningRate" else ">=", minimum, value))
        out[name] = value
    if out["loraDropout"] >= 1:
        raise JobError("hyper.loraDropout: must be below 1, got %r" % out["loraDropout"])
    targets = hyper.get("targetModules", "all-linear")
    if not (targets == "all-linear" or (isinstance(targets, list) and targets and all(isinstance(t, str) for t in targets))):
        raise JobError('hyper.targetModules: "all-linear" or a list of module names, got %r' % (targets,))
    out["targetModules"] = targets
    job = dict(raw)
    job["hyper"] = out
    job.setdefault("adapterName", os.path.basename(raw["outputDir"].rstrip("/")))
    return job


def read_rows(path):
    """The training rows (chat JSONL): a list of message lists. A bad line is a JobError naming it."""
    rows = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError as e:
                raise JobError("%s line %d: not JSON (%s)" % (path, n, e))
            messages = row.get("messages") if isinstance(row, dict) else None
            if not isinstance(messages, list) or not any(isinstance(m, dict) and m.get("role") == "assistant" for m in messages):
                raise JobError("%s line %d: a row needs messages with an assistant turn" % (path, n))
            rows.append([{"role": m.get("role"), "content": m.get("content") or ""} for m in messages])
    if not rows:
        raise JobError("%s: no training rows" % path)
    return rows


def assistant_spans(messages, render):
    """Token spans [start, end) of each assistant message in the rendered conversation.

    `render(messages, add_generation_prompt)` returns the token ids of the chat template applied to `messages`.
    An assistant turn is what the template adds between the conversation before it (with the generation prompt,
    i.e. the assistant header) and the conversation up to and including it: exactly the tokens the model must learn
    to produce, end-of-turn token included.
    """
    spans = []
    for i, m in enumerate(messages):
        if m["role"] != "assistant":
            continue
        before = render(messages[:i], True) if i else []
        upto = render(messages[: i + 1], False)
        if upto[: len(before)] != before:
            # a template that rewrites earlier turns (rare): fall back to the common prefix
            k = 0
            while k < min(len(before), len(upto)) and before[k] == upto[k]:
                k += 1
            before = upto[:k]
        spans.append((len(before), len(upto)))
    return spans


def mask_labels(input_ids, spans, max_len):
    """Labels for causal-LM loss on the assistant tokens only: a copy of input_ids with every token outside the
    spans set to IGNORE (-100), both cut to max_len. Returns (input_ids, labels)."""
    ids = list(input_ids[:max_len])
    labels = [IGNORE] * len(ids)
    for start, end in spans:
        for j in range(max(0, start), min(end, len(ids))):
            labels[j] = ids[j]
    return ids, labels


def encode(messages, render, max_len):
    """One conversation as training features: input_ids, labels (assistant tokens only) and an attention mask."""
    full = render(messages, False)
    ids, labels = mask_labels(full, assistant_spans(messages, render), max_len)
    return {"input_ids": ids, "labels": labels, "attention_mask": [1] * len(ids)}


def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def log(msg):
    sys.stderr.write(msg + "\n")
    sys.stderr.flush()


def train(job):  # pragma: no cover - needs torch and a model (scripts/gpu-check.sh runs it)
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback, TrainingArguments

    h = job["hyper"]
    started = time.time()
    rows = read_rows(job["trainFile"])
    tok = AutoTokenizer.from_pretrained(job["baseModel"])
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    if not getattr(tok, "chat_template", None):
        raise JobError("%s has no chat template: train an instruct/chat model, or add a template to its tokenizer" % job["baseModel"])

    def render(messages, add_generation_prompt):
        if not messages:
            return []
        return list(tok.apply_chat_template(messages, tokenize=True, add_generation_prompt=add_generation_prompt))

    features = [encode(m, render, h["maxSeqLength"]) for m in rows]
    features = [f for f in features if any(l != IGNORE for l in f["labels"])]
    if not features:
        raise JobError("no row keeps an assistant token within maxSeqLength %d" % h["maxSeqLength"])
    tokens_per_epoch = sum(len(f["input_ids"]) for f in features)

    cuda = torch.cuda.is_available()
    bf16 = cuda and torch.cuda.is_bf16_supported()
    dtype = torch.bfloat16 if bf16 else (torch.float16 if cuda else torch.float32)
    model = AutoModelForCausalLM.from_pretrained(job["baseModel"], torch_dtype=dtype)
    lora = LoraConfig(
        r=h["loraRank"],
        lora_alpha=h["loraAlpha"],
        lora_dropout=h["loraDropout"],
        target_modules=h["targetModules"],
        task_type="CAUSAL_LM",
    )
    model = get_peft_model(model, lora)

    steps_per_epoch = math.ceil(len(features) / h["batchSize"])
    total_steps = steps_per_epoch * h["epochs"]

    class Progress(TrainerCallback):
        began = None

        def on_train_begin(self, args, state, control, **kw):
            Progress.began = time.time()

        def on_log(self, args, state, control, logs=None, **kw):
            if not logs or "loss" not in logs:
                return
            elapsed = max(1e-6, time.time() - (Progress.began or started))
            done_tokens = tokens_per_epoch * h["epochs"] * state.global_step / max(1, state.max_steps)
            emit({
                "event": "progress",
                "step": state.global_step,
                "totalSteps": state.max_steps,
                "loss": float(logs["loss"]),
                "tokensPerSecond": done_tokens / elapsed,
            })

    from datasets import Dataset

    data = Dataset.from_list(features)

    def collate(batch):
        n = max(len(b["input_ids"]) for b in batch)
        pad = tok.pad_token_id
        return {
            "input_ids": torch.tensor([b["input_ids"] + [pad] * (n - len(b["input_ids"])) for b in batch]),
            "labels": torch.tensor([b["labels"] + [IGNORE] * (n - len(b["labels"])) for b in batch]),
            "attention_mask": torch.tensor([b["attention_mask"] + [0] * (n - len(b["attention_mask"])) for b in batch]),
        }

    common = dict(
        output_dir=os.path.join(job["outputDir"], "checkpoints"),
        num_train_epochs=h["epochs"],
        learning_rate=h["learningRate"],
        per_device_train_batch_size=h["batchSize"],
        seed=h["seed"],
        bf16=bf16,
        fp16=cuda and not bf16,
        logging_steps=1,
        save_strategy="no",
        report_to=[],
        remove_unused_columns=False,
    )
    trainer = None
    try:
        from trl import SFTConfig, SFTTrainer  # TRL when installed: the same data, already tokenized and masked

        cfg = SFTConfig(max_length=h["maxSeqLength"], dataset_kwargs={"skip_prepare_dataset": True}, **common)
        trainer = SFTTrainer(model=model, args=cfg, train_dataset=data, data_collator=collate, processing_class=tok)
        log("training with TRL's SFTTrainer")
    except Exception as e:  # not installed, or a TRL too old/new for these arguments
        from transformers import Trainer

        log("TRL's SFTTrainer not used (%s): transformers' Trainer" % e)
        trainer = Trainer(model=model, args=TrainingArguments(**common), train_dataset=data, data_collator=collate)
    trainer.add_callback(Progress())
    log("%d rows, %d steps (%d per epoch), %s" % (len(features), total_steps, steps_per_epoch, dtype))
    trainer.train()
    model.save_pretrained(job["outputDir"], safe_serialization=True)
    ckpt = os.path.join(job["outputDir"], "checkpoints")
    if os.path.isdir(ckpt):
        import shutil

        shutil.rmtree(ckpt, ignore_errors=True)
    emit({
        "event": "done",
        "adapterDir": job["outputDir"],
        "trainTokens": tokens_per_epoch * h["epochs"],
        "seconds": time.time() - started,
    })


def main(argv):
    if len(argv) != 2:
        log("usage: hf_peft_sft.py JOB.json")
        return 2

    def on_term(signum, frame):
        log("SIGTERM: stopping")
        sys.exit(143)

    signal.signal(signal.SIGTERM, on_term)
    try:
        with open(argv[1], encoding="utf-8") as f:
            job = parse_job(json.load(f))
        train(job)
        return 0
    except JobError as e:
        emit({"event": "error", "message": "bad job: %s" % e})
        return 1
    except ImportError as e:
        emit({"event": "error", "message": "%s: install the trainer's requirements (pip install -r trainers/requirements.txt)" % e})
        return 1
    except Exception as e:  # the traceback goes to the log; the event says what failed
        import traceback

        traceback.print_exc()
        emit({"event": "error", "message": "%s: %s" % (type(e).__name__, str(e)[:500])})
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
