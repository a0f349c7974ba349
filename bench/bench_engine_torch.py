#!/usr/bin/env python3
"""The peer of bench/bench_engine.c: PyTorch CPU running the same random
Qwen2.5-0.5B-shaped folder through transformers, same shapes and batch sizes.

    python3 bench/bench_engine_torch.py [DIR] [--dtype bfloat16|float32]

DIR defaults to the folder bench_engine writes (/tmp/r1d-bench-qwen2.5-0.5b).
Runs on PyPI's torch 2.x + transformers 5 and on Debian 12's python3-torch (1.13)
+ transformers 4.46 (pip install --break-system-packages transformers==4.46.3).
Prints prefill tok/s for a 512-token prompt and decode tok/s at batch 1 and 32
(64 cached tokens, 16 steps), the same measurements r1d's bench makes.
"""
import argparse
import os
import time

import torch
import transformers
from transformers import AutoModelForCausalLM


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir", nargs="?", default="/tmp/r1d-bench-qwen2.5-0.5b")
    ap.add_argument("--dtype", default="bfloat16", choices=["bfloat16", "float32"])
    a = ap.parse_args()
    torch.set_num_threads(os.cpu_count())  # every core, as r1d uses (Debian's build defaults to 1)
    # transformers 5 calls it dtype, 4.x (the one that runs on Debian 12's torch 1.13) torch_dtype
    kw = "dtype" if int(transformers.__version__.split(".")[0]) >= 5 else "torch_dtype"
    model = AutoModelForCausalLM.from_pretrained(a.dir, **{kw: getattr(torch, a.dtype)}).eval()
    last = {"logits_to_keep": 1} if kw == "dtype" else {"num_logits_to_keep": 1}  # head on the last row only
    V = model.config.vocab_size
    ids = (torch.arange(512) * 7919 % V).unsqueeze(0)
    with torch.inference_mode():
        best = 1e9
        for _ in range(2):
            t0 = time.perf_counter()
            model(ids, **last)
            best = min(best, time.perf_counter() - t0)
        print(f"torch {a.dtype} threads={torch.get_num_threads()} prefill 512: {512 / best:.1f} tok/s")
        for B in (1, 32):
            prompt = ids[:, :64].repeat(B, 1)
            out = model(prompt, use_cache=True, **last)
            past = out.past_key_values
            tok = out.logits[:, -1].argmax(-1, keepdim=True)
            t0 = time.perf_counter()
            for _ in range(16):
                out = model(tok, past_key_values=past, use_cache=True)
                past = out.past_key_values
                tok = out.logits[:, -1].argmax(-1, keepdim=True)
            dt = (time.perf_counter() - t0) / 16
            print(f"torch {a.dtype} decode batch {B:2d}: {B / dt:.1f} tok/s ({1 / dt:.1f} steps/s)")


if __name__ == "__main__":
    main()
