#!/usr/bin/env python3
"""Checks the demo's generated tokenizer and an `r1d init` model against Hugging Face.

  tools/check_synth.py [R1D_BINARY]      # default bin/r1d

1. `r1d synth` writes a small task into a temporary folder; transformers' AutoTokenizer
   loads its tokenizer/ folder, and for every test string (problem texts, worked
   solutions, chat renderings, odd whitespace, non-ASCII) the ids equal `r1d tokenize`'s
   and decoding gives the text back. The chat template renders as r1d's deepseek-r1:
   apply_chat_template's ids equal `r1d tokenize --chat auto`'s.
2. `r1d init` writes a qwen2 and a llama folder; transformers' AutoModelForCausalLM loads
   them, generation_config.json's eos ids are the tokenizer's, the weights have std ~0.02,
   and the float32 logits of a short prompt equal `r1d logits` (max abs difference
   printed, must be < 1e-4).
Needs transformers, tokenizers, torch (pip install transformers torch). Exits non-zero
on any mismatch.
"""
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

R1D = sys.argv[1] if len(sys.argv) > 1 else "bin/r1d"
failures = []


def r1d(*args):
    p = subprocess.run([R1D, *args], capture_output=True, text=True)
    if p.returncode:
        sys.exit(f"r1d {' '.join(args)} failed: {p.stderr.strip()}")
    return p.stdout


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


def r1d_ids(tokdir, text, chat=False):
    args = ["tokenize", "--tokenizer", tokdir, "--text", text, "--ids-only"]
    if chat:
        args += ["--chat", "auto", "--add-generation-prompt"]
    return [int(x) for x in r1d(*args).split()]


def check_tokenizer(task):
    tokdir = os.path.join(task, "tokenizer")
    tk = AutoTokenizer.from_pretrained(tokdir)
    cfg = json.load(open(os.path.join(tokdir, "tokenizer_config.json")))
    check(len(tk) == 512, f"vocabulary of 512 tokens (HF: {len(tk)})")
    check(tk.bos_token_id is not None and tk.eos_token_id is not None, "HF finds BOS and EOS")
    texts = ["Tom has 12 apples.  He buys 7 more!\n", "héllo  wörld 123456 \t\n x", "   leading and trailing   ",
             "<think>\n12 + 7 = 19\n</think>\n\nThe answer is \\boxed{19}.", "a<｜User｜>b<｜Assistant｜>c"]
    sft = [json.loads(line) for line in open(os.path.join(task, "sft.jsonl"))][:20]
    ev = [json.loads(line) for line in open(os.path.join(task, "eval.jsonl"))][:10]
    texts += [m["content"] for r in sft[:10] for m in r["messages"]] + [r["problem"] for r in ev]
    texts += [tk.apply_chat_template(r["messages"], tokenize=False) for r in sft[:5]]
    same = roundtrip = 0
    for t in texts:
        hf = tk.encode(t, add_special_tokens=False)
        ours = r1d_ids(tokdir, t)
        same += hf == ours
        if hf != ours:
            print(f"  mismatch on {t[:60]!r}: HF {hf[:12]} r1d {ours[:12]}")
        roundtrip += tk.decode(hf) == t
    check(same == len(texts), f"r1d tokenize == HF on {same}/{len(texts)} strings")
    check(roundtrip == len(texts), f"HF decode gives the text back for {roundtrip}/{len(texts)} strings")
    # chat template: HF's Jinja rendering vs r1d's deepseek-r1 renderer, both tokenised
    msgs = [{"role": "user", "content": ev[0]["problem"]}]
    hf = tk.apply_chat_template(msgs, tokenize=True, add_generation_prompt=True)
    if isinstance(hf, dict) or hasattr(hf, "keys"):
        hf = hf["input_ids"]
    ours = r1d_ids(tokdir, json.dumps(msgs), chat=True)
    check(list(hf) == ours, "chat template: apply_chat_template ids == r1d tokenize --chat auto")
    check("chat_template" in cfg, "tokenizer_config.json has a chat_template")


def check_model(task, work, arch, extra):
    out = os.path.join(work, arch)
    r1d("init", "--arch", arch, "--hidden", "64", "--layers", "2", "--heads", "4", "--kv-heads", "2",
        "--intermediate", "128", "--tokenizer", os.path.join(task, "tokenizer"), "--out", out, "--seed", "5", *extra)
    model = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32)
    model.eval()
    tk = AutoTokenizer.from_pretrained(out)
    gen = json.load(open(os.path.join(out, "generation_config.json")))
    check(gen["eos_token_id"] == [tk.eos_token_id], f"{arch}: generation_config eos ids {gen['eos_token_id']}")
    w = model.model.layers[0].mlp.up_proj.weight.detach().numpy()
    check(abs(w.std() - 0.02) < 0.002, f"{arch}: up_proj std {w.std():.4f} ~ 0.02")
    ids = tk.encode("Mia has 12 shells. She finds 7 more shells. How many?", add_special_tokens=False)
    with torch.no_grad():
        ref = model(torch.tensor([ids])).logits[0].numpy()
    f = os.path.join(work, arch + ".f32")
    r1d("logits", "--model", out, "--ids", ",".join(map(str, ids)), "--out", f)
    ours = np.fromfile(f, dtype=np.float32).reshape(ref.shape)
    diff = float(np.abs(ours - ref).max())
    check(diff < 1e-4, f"{arch}: r1d logits == transformers logits (max abs diff {diff:.2e}, logit std {ref.std():.4f})")


def main():
    with tempfile.TemporaryDirectory() as work:
        task = os.path.join(work, "task")
        r1d("synth", "--out", task, "--prompts", "50", "--eval", "20", "--sft", "200", "--seed", "3")
        check_tokenizer(task)
        check_model(task, work, "qwen2", [])
        check_model(task, work, "llama", ["--untied"])
    if failures:
        sys.exit(f"{len(failures)} check(s) failed")
    print("all checks passed")


if __name__ == "__main__":
    main()
