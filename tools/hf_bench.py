"""The Python `transformers` side of bench/hf.mjs (issue #10): aiayn next to transformers on the
same Hugging Face snapshots.

Dev-only; tests and CI never run Python. Run with the repo's venv (torch 2.13 CPU, transformers 5.17):

    .venv/bin/python tools/hf_bench.py make            # the two snapshots, unless already there
    .venv/bin/python tools/hf_bench.py run [--threads 1,2] [--budget S] [--min-runs N] [--max-runs N]
                                           [--models marian,t5] [--out bench/results/hf-peers.json]

`make` writes, with save_pretrained, two randomly initialised models (deterministic seeds):
  bench/models/hf-marian-base  MarianMTModel, OPUS-MT-sized: d_model 512, 6+6 layers, 8 heads, FFN 2048,
                               vocabulary 58,101, swish, scale_embedding, tied, 512 positions; the
                               generation_config.json of an OPUS-MT checkpoint (bad_words_ids [[pad]],
                               forced_eos_token_id 0, decoder start = pad).
  bench/models/hf-t5-small     T5ForConditionalGeneration, t5-small-sized: d_model 512, d_kv 64, 8 heads,
                               d_ff 2048, 6+6 layers, vocabulary 32,128, relu, tied.
Weights: matrices and embeddings N(0, 0.05) (Marian's embeddings x sqrt(512) by scale_embedding), except
Marian's cross-attention N(0, 0.02) and T5's relative-position tables N(0, 0.5); norms 1, biases 0. Chosen
so greedy decoding is not degenerate: with N(0, 0.02..0.1) everywhere, Marian's rows repeat one token
(its decoder follows the near-uniform cross-attention, i.e. the source, not its own input), and T5 with
larger embeddings (0.3..1) repeats its input token (tied output layer). Random models still repeat
tokens often; `distinct` in the output counts the different ids per row.

`run` makes them if missing, reloads each with AutoModelForSeq2SeqLM.from_pretrained and times
model.generate on the workloads below: greedy and 4 beams, batch 1 and 8, sources of 24 ids (23 random
non-special ids then EOS, as the tokenizers end a source; equal lengths, so no padding), exactly 32 new
tokens per row (min_new_tokens = max_new_tokens = 32: EOS is banned until the last step, where
Marian's forced_eos_token_id forces it), 1 and 2 threads (torch.set_num_threads), under
torch.inference_mode. One warm-up, then at least --min-runs runs and more while the --budget lasts (up to
--max-runs); the median. It also records, at 1 thread, the generated ids of every workload and, for greedy,
the smallest top-1/top-2 gap of the processed scores (how close the greedy picks are to ties).

Sources come from an LCG that bench/hf.mjs computes the same way (`sources` in both files):
    s = (s * 1103515245 + 12345) mod 2^32, id = pool[s mod len(pool)],
pool = the vocabulary minus the special ids, seed 1000 + workload index, rows one after another.

Output (one JSON file): {setup, versions, models: {marian|t5: {dir, fingerprint, config, special,
workloads: [{name, kind, B, S, newTokens, numBeams, src}], results: [{workload, threads, seconds (median),
runs, tokensPerSecond}], ids: {workload: [[int]]} (new tokens only, the decoder start dropped),
greedyMargin: {workload: float}, maxAbsScore: {workload: float}, distinct: {workload: [int per row]}}}}.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
import warnings
from pathlib import Path

import torch
import transformers
from transformers import AutoModelForSeq2SeqLM, GenerationConfig

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "bench/models"
NEW_TOKENS = 32
SRC_LEN = 24
# name, kind, batch, beams; the seed of workload i is 1000 + i (bench/hf.mjs the same)
WORKLOADS = [
    ("greedy 1x24 +32", 1, 1),
    ("greedy 8x24 +32", 8, 1),
    ("beam4 1x24 +32", 1, 4),
    ("beam4 8x24 +32", 8, 4),
]

warnings.filterwarnings("ignore")
transformers.logging.set_verbosity_error()
transformers.utils.logging.disable_progress_bar()


def log(line):
    print(f"  {line}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------
# The snapshots
# --------------------------------------------------------------------------------------

MARIAN_PAD = 58100


def marian_model():
    from transformers import MarianConfig, MarianMTModel
    cfg = MarianConfig(
        vocab_size=58101, d_model=512, encoder_layers=6, decoder_layers=6, encoder_attention_heads=8,
        decoder_attention_heads=8, encoder_ffn_dim=2048, decoder_ffn_dim=2048, activation_function="swish",
        max_position_embeddings=512, scale_embedding=True, share_encoder_decoder_embeddings=True,
        tie_word_embeddings=True, pad_token_id=MARIAN_PAD, eos_token_id=0, bos_token_id=0,
        decoder_start_token_id=MARIAN_PAD, forced_eos_token_id=0, dropout=0.0, attention_dropout=0.0,
        activation_dropout=0.0)
    model = MarianMTModel(cfg)
    # As OPUS-MT checkpoints' generation_config.json (max_length 512, 4 beams, the pad id banned).
    model.generation_config = GenerationConfig(
        bad_words_ids=[[MARIAN_PAD]], bos_token_id=0, decoder_start_token_id=MARIAN_PAD, eos_token_id=0,
        forced_eos_token_id=0, max_length=512, num_beams=4, pad_token_id=MARIAN_PAD)
    return model, dict(std=0.05, emb_std=0.05, cross_std=0.02), 1


def t5_model():
    from transformers import T5Config, T5ForConditionalGeneration
    cfg = T5Config(vocab_size=32128, d_model=512, d_kv=64, num_heads=8, d_ff=2048, num_layers=6,
                   num_decoder_layers=6, feed_forward_proj="relu", tie_word_embeddings=True, dropout_rate=0.0,
                   pad_token_id=0, eos_token_id=1, decoder_start_token_id=0)
    model = T5ForConditionalGeneration(cfg)
    model.generation_config = GenerationConfig(decoder_start_token_id=0, eos_token_id=1, pad_token_id=0)
    return model, dict(std=0.05, emb_std=0.05), 2


SPECS = {"marian": ("hf-marian-base", marian_model), "t5": ("hf-t5-small", t5_model)}


def randomize(model, seed, *, std, emb_std, cross_std=None):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():  # tied parameters appear once
            if p.ndim == 1:
                p.copy_(torch.ones_like(p) if "norm" in name and name.endswith("weight") else torch.zeros_like(p))
            elif "shared" in name or "embed_tokens" in name:
                p.copy_(emb_std * torch.randn(p.shape, generator=g))
            elif "relative_attention_bias" in name:
                p.copy_(0.5 * torch.randn(p.shape, generator=g))
            elif cross_std is not None and ("encoder_attn." in name or "EncDecAttention." in name):
                p.copy_(cross_std * torch.randn(p.shape, generator=g))
            else:
                p.copy_(std * torch.randn(p.shape, generator=g))
        for name, b in model.named_buffers():
            if name == "final_logits_bias":
                b.zero_()


def fingerprint(directory):
    s = (Path(directory) / "model.safetensors").stat()
    return f"{s.st_size}:{round(s.st_mtime * 1000)}"


def make(names, force=False):
    torch.set_num_threads(1)
    for name in names:
        folder, build = SPECS[name]
        out = MODELS / folder
        if (out / "model.safetensors").exists() and not force:
            continue
        torch.manual_seed(0)
        model, init, seed = build()
        randomize(model, seed, **init)
        model.eval()
        out.mkdir(parents=True, exist_ok=True)
        model.save_pretrained(out)
        log(f"wrote {out.relative_to(ROOT)} ({sum(p.numel() for p in model.parameters()) / 1e6:.1f}M parameters)")


# --------------------------------------------------------------------------------------
# Timing
# --------------------------------------------------------------------------------------

def sources(vocab, special, B, S, seed):
    """B rows of S - 1 non-special ids from the LCG, then EOS (special[0])."""
    banned = set(special)
    pool = [i for i in range(vocab) if i not in banned]
    s = seed & 0xFFFFFFFF
    rows = []
    for _ in range(B):
        row = []
        for _ in range(S - 1):
            s = (s * 1103515245 + 12345) & 0xFFFFFFFF
            row.append(pool[s % len(pool)])
        rows.append(row + [special[0]])
    return rows


def special_ids(cfg):
    """EOS first (it ends every source), then every other id sources avoid."""
    ids = [cfg.eos_token_id, cfg.pad_token_id, cfg.decoder_start_token_id]
    for key in ("bos_token_id", "unk_token_id"):
        v = getattr(cfg, key, None)
        if v is not None:
            ids.append(v)
    out = []
    for i in ids:
        if i not in out:
            out.append(i)
    return out


def median_time(fn, budget, min_runs, max_runs):
    fn()  # warm-up
    times = []
    start = time.perf_counter()
    while len(times) < min_runs or (len(times) < max_runs and time.perf_counter() - start < budget):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), len(times)


def run(args):
    names = args.models.split(",")
    make(names)
    threads = [int(t) for t in args.threads.split(",")]
    out = {
        "setup": f"transformers {transformers.__version__}, torch {torch.__version__} "
                 f"(eager, float32, KV cache, inference_mode)",
        "versions": {"transformers": transformers.__version__, "torch": torch.__version__,
                     "python": platform.python_version()},
        "torchConfig": torch.__config__.parallel_info().splitlines()[:6],
        "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "models": {},
    }
    for name in names:
        folder = MODELS / SPECS[name][0]
        model = AutoModelForSeq2SeqLM.from_pretrained(folder).eval()
        cfg = model.config
        special = special_ids(cfg)
        workloads = []
        for i, (wname, B, beams) in enumerate(WORKLOADS):
            src = sources(cfg.vocab_size, special, B, SRC_LEN, 1000 + i)
            workloads.append(dict(name=wname, kind="greedy" if beams == 1 else "beam", B=B, S=SRC_LEN,
                                  newTokens=NEW_TOKENS, numBeams=beams, src=src))
        entry = dict(dir=str(folder.relative_to(ROOT)), fingerprint=fingerprint(folder),
                     config={k: getattr(cfg, k, None) for k in ("model_type", "d_model", "vocab_size")},
                     special=special, workloads=workloads, results=[], ids={}, greedyMargin={},
                     maxAbsScore={}, distinct={})

        def gen(w, **extra):
            ids = torch.tensor(w["src"], dtype=torch.long)
            return model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), do_sample=False,
                                  num_beams=w["numBeams"], max_new_tokens=NEW_TOKENS,
                                  min_new_tokens=NEW_TOKENS, **extra)

        with torch.inference_mode():
            torch.set_num_threads(1)
            for w in workloads:
                if w["kind"] == "greedy":
                    r = gen(w, return_dict_in_generate=True, output_scores=True)
                    seqs = r.sequences
                    margin, top = float("inf"), 0.0
                    for step in r.scores:
                        finite = step.masked_fill(~torch.isfinite(step), float("-inf"))
                        two = finite.topk(2, dim=-1).values
                        ok = torch.isfinite(two[:, 1])  # forced steps have one finite score
                        if ok.any():
                            margin = min(margin, float((two[ok, 0] - two[ok, 1]).min()))
                        top = max(top, float(finite[torch.isfinite(finite)].abs().max()))
                    entry["greedyMargin"][w["name"]] = margin
                    entry["maxAbsScore"][w["name"]] = top
                else:
                    seqs = gen(w)
                ids = seqs[:, 1:].tolist()
                entry["ids"][w["name"]] = ids
                entry["distinct"][w["name"]] = [len(set(r)) for r in ids]
            for t in threads:
                torch.set_num_threads(t)
                for w in workloads:
                    seconds, runs = median_time(lambda: gen(w), args.budget, args.min_runs, args.max_runs)
                    tokens = w["B"] * NEW_TOKENS
                    entry["results"].append(dict(workload=w["name"], threads=t, seconds=seconds, runs=runs,
                                                 tokensPerSecond=tokens / seconds))
                    log(f"transformers {name} {t}t {w['name']}: {seconds * 1e3:.1f} ms ({runs} runs), "
                        f"{tokens / seconds:.0f} tokens/s")
        out["models"][name] = entry
        del model
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=1) + "\n")
    log(f"wrote {args.out}")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("make")
    m.add_argument("--models", default="marian,t5")
    m.add_argument("--force", action="store_true")
    r = sub.add_parser("run")
    r.add_argument("--models", default="marian,t5")
    r.add_argument("--threads", default="1,2")
    r.add_argument("--budget", type=float, default=4.0, help="seconds per cell after min-runs")
    r.add_argument("--min-runs", type=int, default=3)
    r.add_argument("--max-runs", type=int, default=15)
    r.add_argument("--out", default=str(ROOT / "bench/results/hf-peers.json"))
    args = p.parse_args()
    if args.cmd == "make":
        make(args.models.split(","), args.force)
    else:
        run(args)


if __name__ == "__main__":
    main()
