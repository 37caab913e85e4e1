#!/usr/bin/env python3
"""Tests of the default trainer: job-file parsing and label masking with plain python3 (no torch needed), and the
chat-template masking through a real tokenizer where transformers is importable and TUNELOOP_TEST_TOKENIZER names
a local tokenizer folder (skipped with a message otherwise).

Run: python3 trainers/test_hf_peft_sft.py
"""

import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hf_peft_sft as T  # noqa: E402


def job(**over):
    j = {
        "version": 1,
        "runId": 3,
        "baseModel": "Qwen/Qwen2.5-0.5B-Instruct",
        "trainFile": "/tmp/train.jsonl",
        "rows": 2,
        "outputDir": "/adapters/.tl-r3-abcd1234.partial",
        "adapterName": "tl-r3-abcd1234",
        "hyper": {"epochs": 2, "learningRate": 1e-4, "batchSize": 8, "loraRank": 16, "loraAlpha": 32},
    }
    j.update(over)
    return j


class JobParsing(unittest.TestCase):
    def test_defaults_filled(self):
        j = T.parse_job(job())
        self.assertEqual(j["hyper"]["maxSeqLength"], 2048)
        self.assertEqual(j["hyper"]["loraDropout"], 0.0)
        self.assertEqual(j["hyper"]["targetModules"], "all-linear")
        self.assertEqual(j["hyper"]["epochs"], 2)
        self.assertIsInstance(j["hyper"]["learningRate"], float)

    def test_errors_name_the_field(self):
        cases = [
            (job(version=2), "version"),
            (job(baseModel=""), "baseModel"),
            (job(hyper={"epochs": 0, "learningRate": 1e-4, "batchSize": 8, "loraRank": 8, "loraAlpha": 16}), "hyper.epochs"),
            (job(hyper={"epochs": 1, "learningRate": 0, "batchSize": 8, "loraRank": 8, "loraAlpha": 16}), "hyper.learningRate"),
            (job(hyper={"epochs": 1, "learningRate": 1e-4, "batchSize": 2.5, "loraRank": 8, "loraAlpha": 16}), "hyper.batchSize"),
            (job(hyper={"epochs": 1, "learningRate": 1e-4, "batchSize": 8, "loraAlpha": 16}), "hyper.loraRank"),
            (job(hyper={"epochs": 1, "learningRate": 1e-4, "batchSize": 8, "loraRank": "8", "loraAlpha": 16}), "hyper.loraRank"),
            (job(hyper={"epochs": 1, "learningRate": 1e-4, "batchSize": 8, "loraRank": 8, "loraAlpha": 16, "loraDropout": 1}), "hyper.loraDropout"),
            (job(hyper={"epochs": 1, "learningRate": 1e-4, "batchSize": 8, "loraRank": 8, "loraAlpha": 16, "targetModules": []}), "hyper.targetModules"),
            ([], "JSON object"),
        ]
        for raw, field in cases:
            with self.assertRaises(T.JobError, msg=field) as e:
                T.parse_job(raw)
            self.assertIn(field, str(e.exception))

    def test_rows(self):
        with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as f:
            f.write(json.dumps({"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}) + "\n\n")
            f.write(json.dumps({"messages": [{"role": "user", "content": "no answer"}]}) + "\n")
        with self.assertRaises(T.JobError) as e:
            T.read_rows(f.name)
        self.assertIn("line 3", str(e.exception))
        os.unlink(f.name)


# A toy chat template on integer tokens: <|im_start|>=1, role ids 10/11/12, content = one token per character,
# <|im_end|>=2; the generation prompt is <|im_start|> assistant.
ROLE = {"system": 10, "user": 11, "assistant": 12}


def toy_render(messages, add_generation_prompt):
    ids = []
    for m in messages:
        ids += [1, ROLE[m["role"]]] + [100 + (ord(c) % 50) for c in m["content"]] + [2]
    if add_generation_prompt:
        ids += [1, ROLE["assistant"]]
    return ids


class Masking(unittest.TestCase):
    conv = [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "hey"},
        {"role": "user", "content": "and?"},
        {"role": "assistant", "content": "ok"},
    ]

    def test_loss_on_assistant_tokens_only(self):
        f = T.encode(self.conv, toy_render, 4096)
        ids, labels = f["input_ids"], f["labels"]
        learned = [ids[i] for i in range(len(ids)) if labels[i] != T.IGNORE]
        # each assistant turn's content and its end token, nothing of the system or user turns or the headers
        self.assertEqual(learned, [100 + (ord(c) % 50) for c in "hey"] + [2] + [100 + (ord(c) % 50) for c in "ok"] + [2])
        self.assertEqual(len(ids), len(labels))
        self.assertEqual(f["attention_mask"], [1] * len(ids))

    def test_spans_by_hand(self):
        # system: 1 10 b e _ b r i e f 2 = 11 tokens; user: 1 11 h i 2 = 5; gen prompt 1 12 -> assistant from 18
        spans = T.assistant_spans(self.conv, toy_render)
        self.assertEqual(spans[0], (18, 22))

    def test_cut_at_max_len(self):
        f = T.encode(self.conv, toy_render, 20)
        self.assertEqual(len(f["input_ids"]), 20)
        self.assertEqual([l for l in f["labels"] if l != T.IGNORE], [100 + (ord("h") % 50), 100 + (ord("e") % 50)])

    def test_mask_labels(self):
        ids, labels = T.mask_labels([5, 6, 7, 8, 9], [(1, 3)], 10)
        self.assertEqual(labels, [T.IGNORE, 6, 7, T.IGNORE, T.IGNORE])


HAVE_TRANSFORMERS = importlib.util.find_spec("transformers") is not None and importlib.util.find_spec("torch") is not None
TOKENIZER = os.environ.get("TUNELOOP_TEST_TOKENIZER")


@unittest.skipUnless(
    HAVE_TRANSFORMERS and TOKENIZER,
    "torch/transformers not importable or TUNELOOP_TEST_TOKENIZER unset: the real chat-template masking is not tested here "
    "(pip install -r trainers/requirements.txt and point TUNELOOP_TEST_TOKENIZER at a chat model's folder)",
)
class RealTemplate(unittest.TestCase):  # pragma: no cover - needs transformers
    def test_assistant_text_is_what_is_learned(self):
        from transformers import AutoTokenizer

        tok = AutoTokenizer.from_pretrained(TOKENIZER)

        def render(messages, gen):
            return list(tok.apply_chat_template(messages, tokenize=True, add_generation_prompt=gen)) if messages else []

        conv = [{"role": "user", "content": "What is 2+2?"}, {"role": "assistant", "content": "Four."}]
        f = T.encode(conv, render, 4096)
        learned = tok.decode([i for i, l in zip(f["input_ids"], f["labels"]) if l != T.IGNORE])
        self.assertIn("Four.", learned)
        self.assertNotIn("2+2", learned)


class Contract(unittest.TestCase):
    def test_bad_job_is_an_error_event(self):
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            json.dump(job(version=9), f)
        p = subprocess.run([sys.executable, T.__file__, f.name], capture_output=True, text=True)
        os.unlink(f.name)
        self.assertEqual(p.returncode, 1)
        self.assertEqual(json.loads(p.stdout.strip().splitlines()[-1]), {"event": "error", "message": "bad job: version: expected 1, got 9"})


if __name__ == "__main__":
    if not (HAVE_TRANSFORMERS and TOKENIZER):
        print("note: RealTemplate skipped: torch/transformers not importable or TUNELOOP_TEST_TOKENIZER unset", file=sys.stderr)
    unittest.main(verbosity=2)
