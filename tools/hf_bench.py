"""The Python `transformers` side of bench/hf.mjs (issue #10): aiayn next to transformers on the
same Hugging Face snapshots.

Dev-only; tests and CI never run Python. Run with the repo's venv (torch 2.13 CPU, transformers 5.17):

    .venv/bin/python tools/hf_bench.py make            # the two snapshots, unless already there
    .venv/bin/python tools/hf_bench.py run [--threads 1,2] [--budget S] [--min-runs N] [--max-runs N]
                                           [--models marian,t5] [--out bench/results/hf-peers.json]
    .venv/bin/python tools/hf_bench.py export [--models marian,t5] [--force]   # needs onnx, onnxruntime

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

`export` writes, for bench/hf.mjs's onnxruntime-node column, bench/onnx/hf-marian-base and bench/onnx/hf-t5-small
(skipped when meta.json says they come from the current snapshot, unless --force):
  encoder.onnx            input_ids, attention_mask [B,S] -> last_hidden_state [B,S,D] (the HF encoder stack)
  decoder.onnx            input_ids [B,1] (the start token), encoder_hidden_states -> logits [B,V] (last position),
                          present.{i}.decoder.{key,value} [B,H,1,Dh], present.{i}.encoder.{key,value} [B,H,S,Dh]
  decoder_with_past.onnx  input_ids [B,1], past_key_values.{i}.decoder.* [B,H,P,Dh], past_key_values.{i}.encoder.*
                          -> logits [B,V], present.{i}.decoder.* [B,H,P+1,Dh]
  beam_step.onnx          logits [N,V], scores [N,1], ban [V] -> the 4 best of log-softmax + ban + score per source
  meta.json               the snapshot's fingerprint, sizes, the logits rules of model.generate, the checks
The decoder graphs are `DecoderStep`: the HF model's own submodules (embeddings, scale and sinusoidal positions
at offset P for Marian, decoder layers/blocks, T5's relative position bias for query position P computed by its
first block, final norm and d_model^-0.5 scaling for T5, lm_head, Marian's final_logits_bias) with an
EncoderDecoderCache(DynamicCache, DynamicCache) built inside forward from the input tensors (cross-attention
layers marked is_updated, so they read the cached K/V). Traced with torch.onnx.export(dynamo=False), opset 18,
on example sizes unlike the bench's (batch 2, source 7, past 3); then onnx.checker, and onnxruntime's greedy ids
with the cache must equal model.generate's on the bench's greedy inputs or the export fails.

Output of `run` (one JSON file): {setup, versions, models: {marian|t5: {dir, fingerprint, config, special,
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


# --------------------------------------------------------------------------------------
# ONNX exports (the onnxruntime-node column of bench/hf.mjs)
# --------------------------------------------------------------------------------------

ONNX = ROOT / "bench/onnx"
ONNX_FILES = ("encoder.onnx", "decoder.onnx", "decoder_with_past.onnx")


def _cache(kvs):
    """A DynamicCache whose layers hold the given (keys, values) tensors as they are (no lazy
    initialisation: its torch.cat with an empty 1-D tensor would not be a valid ONNX Concat)."""
    from transformers import DynamicCache
    from transformers.cache_utils import DynamicLayer
    cache = DynamicCache()
    for k, v in kvs:
        layer = DynamicLayer()
        layer.dtype, layer.device = k.dtype, k.device
        layer.keys, layer.values, layer.is_initialized = k, v, True
        cache.layers.append(layer)
    return cache


class EncoderGraph(torch.nn.Module):
    """input_ids, attention_mask [B,S] -> last_hidden_state [B,S,D]: the HF encoder stack itself."""

    def __init__(self, model):
        super().__init__()
        self.encoder = model.get_encoder()

    def forward(self, input_ids, attention_mask):
        return self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state


class DecoderStep(torch.nn.Module):
    """One decoder position from the HF model's own submodules (embeddings, decoder layers with an
    EncoderDecoderCache built from the input tensors, final norm / output scaling, lm_head): the
    decoder stack's forward for one new token, without its mask builders (one query attends to every
    cached position; sources are unpadded, so there is no encoder mask).
      first step (past=False): input_ids [B,1], encoder_hidden_states [B,S,D] -> logits [B,V],
        present.{i}.decoder.{key,value} [B,H,1,Dh], present.{i}.encoder.{key,value} [B,H,S,Dh]
      with past: input_ids [B,1], past_key_values.{i}.decoder.* [B,H,P,Dh], past_key_values.{i}.encoder.*
        [B,H,S,Dh] -> logits [B,V], present.{i}.decoder.* [B,H,P+1,Dh]"""

    def __init__(self, model, past):
        super().__init__()
        self.m = model
        self.past = past
        cfg = model.config
        self.t5 = cfg.model_type == "t5"
        self.L = cfg.num_decoder_layers if self.t5 else cfg.decoder_layers
        self.H = cfg.num_heads if self.t5 else cfg.decoder_attention_heads
        self.Dh = cfg.d_kv if self.t5 else cfg.d_model // self.H

    def forward(self, input_ids, *rest):
        from transformers import EncoderDecoderCache
        L = self.L
        if self.past:
            kv = rest
            self_kv = [(kv[2 * i], kv[2 * i + 1]) for i in range(L)]
            cross_kv = [(kv[2 * L + 2 * i], kv[2 * L + 2 * i + 1]) for i in range(L)]
            # Cross K/V come from the cache (is_updated); the layers only test encoder_hidden_states
            # for None, so any tensor does.
            enc = cross_kv[0][0]
        else:
            enc = rest[0]
            empty = enc.new_zeros((input_ids.shape[0], self.H, 0, self.Dh))
            self_kv = cross_kv = [(empty, empty)] * L
        cache = EncoderDecoderCache(_cache(self_kv), _cache(cross_kv))
        for i in range(L):
            cache.is_updated[i] = self.past
        if self.t5:
            dec = self.m.decoder
            x = dec.embed_tokens(input_ids)
            bias = cross_bias = None
            for block in dec.block:  # as T5Stack: the first block computes both position biases
                x, bias, cross_bias = block(x, None, bias, enc, None, cross_bias, past_key_values=cache)
            x = dec.final_layer_norm(x)
            if self.m.config.scale_decoder_outputs:
                x = x * (self.m.model_dim ** -0.5)
            logits = self.m.lm_head(x[:, -1])
        else:
            dec = self.m.model.decoder
            P = self_kv[0][0].shape[2]
            x = dec.embed_tokens(input_ids) * dec.embed_scale
            x = x + dec.embed_positions(input_ids.shape, P)
            for layer in dec.layers:
                x = layer(x, None, enc, encoder_attention_mask=None, past_key_values=cache, use_cache=True)
            logits = self.m.lm_head(x[:, -1]) + self.m.final_logits_bias
        out = [logits]
        for c in (cache.self_attention_cache,) + (() if self.past else (cache.cross_attention_cache,)):
            for layer in c.layers:
                out += [layer.keys, layer.values]
        return tuple(out)


def kv_names(prefix, L, part):
    return [f"{prefix}.{i}.{part}.{t}" for i in range(L) for t in ("key", "value")]


def generation_rules(model):
    """What the JS runner must do to each step's logits to follow model.generate with
    min_new_tokens = max_new_tokens = NEW_TOKENS: single-id bad_words banned, EOS banned (min length),
    and forced_eos_token_id at the last step."""
    g = model.generation_config
    cfg = model.config
    return dict(decoderStart=g.decoder_start_token_id if g.decoder_start_token_id is not None
                else cfg.decoder_start_token_id,
                eos=g.eos_token_id if g.eos_token_id is not None else cfg.eos_token_id,
                banned=sorted({w[0] for w in (g.bad_words_ids or []) if len(w) == 1}),
                forcedEos=g.forced_eos_token_id)


def beam_step_graph(path, vocab, beams):
    """beam_step.onnx, the beam search's per-step selection for bench/hf.mjs, as model.generate does it
    in torch ops (so ORT's column does not pay for it in JS): logits [N,V] (N = B x beams), scores [N,1]
    (running beam scores), ban [V] (0 or -inf: bad words, EOS under min_new_tokens) -> values [B,beams],
    indices [B,beams] (beam x V + token) of the best beam score + log-softmax over each source's beams."""
    import onnx
    from onnx import TensorProto, helper
    nodes = [
        helper.make_node("LogSoftmax", ["logits"], ["logp"], axis=-1),
        helper.make_node("Add", ["logp", "ban"], ["allowed"]),
        helper.make_node("Add", ["allowed", "scores"], ["total"]),
        helper.make_node("Reshape", ["total", "shape"], ["flat"]),
        helper.make_node("TopK", ["flat", "k"], ["values", "indices"], axis=-1, largest=1, sorted=1),
    ]
    graph = helper.make_graph(
        nodes, "beam_step",
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", vocab]),
         helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["N", 1]),
         helper.make_tensor_value_info("ban", TensorProto.FLOAT, [vocab])],
        [helper.make_tensor_value_info("values", TensorProto.FLOAT, ["B", beams]),
         helper.make_tensor_value_info("indices", TensorProto.INT64, ["B", beams])],
        [helper.make_tensor("shape", TensorProto.INT64, [2], [-1, beams * vocab]),
         helper.make_tensor("k", TensorProto.INT64, [1], [beams])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], ir_version=8)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def ort_greedy(sessions, rules, src, new_tokens):
    """Greedy with the cache on the three graphs (onnxruntime, Python): the ids bench/hf.mjs's ORT runner
    must give, to check the exports against transformers before timing."""
    import numpy as np
    enc, first, past = sessions
    ids = np.asarray(src, dtype=np.int64)
    h = enc.run(None, {"input_ids": ids, "attention_mask": np.ones_like(ids)})[0]
    B = ids.shape[0]
    tok = np.full((B, 1), rules["decoderStart"], dtype=np.int64)
    names = [o.name for o in first.get_outputs()]
    out = dict(zip(names, first.run(None, {"input_ids": tok, "encoder_hidden_states": h})))
    L = sum(1 for n in names if n.endswith(".decoder.key"))
    cross = {n.replace("present", "past_key_values"): out[n] for n in names if ".encoder." in n}
    result = []
    for t in range(new_tokens):
        s = out["logits"].copy()
        s[:, rules["banned"]] = -np.inf
        s[:, rules["eos"]] = -np.inf  # min_new_tokens = new_tokens
        if rules["forcedEos"] is not None and t == new_tokens - 1:
            s[:] = -np.inf
            s[:, rules["forcedEos"]] = 0
        tok = s.argmax(-1).astype(np.int64)[:, None]
        result.append(tok[:, 0])
        if t == new_tokens - 1:
            break
        feeds = {"input_ids": tok, **cross}
        for i in range(L):
            for k in ("key", "value"):
                feeds[f"past_key_values.{i}.decoder.{k}"] = out[f"present.{i}.decoder.{k}"]
        pnames = [o.name for o in past.get_outputs()]
        out = dict(zip(pnames, past.run(None, feeds)))
    return np.stack(result, 1).tolist()


def export(args):
    import onnx
    import onnxruntime as ort
    torch.set_num_threads(2)
    warnings.filterwarnings("ignore")
    for name in args.models.split(","):
        folder = MODELS / SPECS[name][0]
        make([name])
        out = ONNX / SPECS[name][0]
        out.mkdir(parents=True, exist_ok=True)
        model = AutoModelForSeq2SeqLM.from_pretrained(folder, attn_implementation="eager").eval()
        cfg = model.config
        step = DecoderStep(model, past=False)
        L, D = step.L, cfg.d_model
        beam_step_graph(out / "beam_step.onnx", cfg.vocab_size, 4)
        meta_file = out / "meta.json"
        if not args.force and meta_file.exists() and json.loads(meta_file.read_text())["model"] == fingerprint(folder) \
                and all((out / f).exists() for f in ONNX_FILES):
            log(f"{name}: {out.relative_to(ROOT)} is up to date (wrote beam_step.onnx; --force exports again)")
            continue
        meta_file.unlink(missing_ok=True)
        # Example inputs whose sizes differ from the bench's (batch 2, source 7, past 3), so a size the
        # tracer froze would show in the checks below.
        g = torch.Generator().manual_seed(0)
        src = torch.randint(3, 1000, (2, 7), generator=g)
        tok = torch.randint(3, 1000, (2, 1), generator=g)
        common = dict(opset_version=18, do_constant_folding=True, dynamo=False)
        t0 = time.perf_counter()
        with torch.no_grad():
            torch.onnx.export(EncoderGraph(model), (src, torch.ones_like(src)), out / "encoder.onnx",
                              input_names=["input_ids", "attention_mask"], output_names=["last_hidden_state"],
                              dynamic_axes={"input_ids": {0: "B", 1: "S"}, "attention_mask": {0: "B", 1: "S"},
                                            "last_hidden_state": {0: "B", 1: "S"}}, **common)
            h = EncoderGraph(model)(src, torch.ones_like(src))
            present = kv_names("present", L, "decoder") + kv_names("present", L, "encoder")
            torch.onnx.export(step, (tok, h), out / "decoder.onnx",
                              input_names=["input_ids", "encoder_hidden_states"], output_names=["logits", *present],
                              dynamic_axes={"input_ids": {0: "B"}, "encoder_hidden_states": {0: "B", 1: "S"},
                                            "logits": {0: "B"},
                                            **{n: {0: "B"} if ".decoder." in n else {0: "B", 2: "S"} for n in present}},
                              **common)
            kv = step(tok, h)[1:]
            # A past of 3 positions: run the first step, then two more through the eager with-past module.
            with_past = DecoderStep(model, past=True)
            cross = kv[2 * L:]
            self_kv = kv[: 2 * L]
            for _ in range(2):
                self_kv = with_past(tok, *self_kv, *cross)[1:]
            past_names = kv_names("past_key_values", L, "decoder") + kv_names("past_key_values", L, "encoder")
            present = kv_names("present", L, "decoder")
            torch.onnx.export(with_past, (tok, *self_kv, *cross), out / "decoder_with_past.onnx",
                              input_names=["input_ids", *past_names], output_names=["logits", *present],
                              dynamic_axes={"input_ids": {0: "B"}, "logits": {0: "B"},
                                            **{n: {0: "B", 2: "P" if ".decoder." in n else "S"} for n in past_names},
                                            **{n: {0: "B", 2: "P+1"} for n in present}},
                              **common)
        log(f"{name}: exported to {out.relative_to(ROOT)} in {time.perf_counter() - t0:.0f} s")
        for f in ONNX_FILES:
            onnx.checker.check_model(str(out / f))
        so = ort.SessionOptions()
        so.intra_op_num_threads = 2
        sessions = [ort.InferenceSession(str(out / f), so, providers=["CPUExecutionProvider"]) for f in ONNX_FILES]
        graph_inputs = [i.name for i in sessions[0].get_inputs()]
        # The check: greedy ids of the graphs against model.generate on the bench's greedy inputs.
        rules = generation_rules(model)
        special = special_ids(cfg)
        checks = {}
        for i, (wname, B, beams) in enumerate(WORKLOADS):
            if beams != 1:
                continue
            src_ids = sources(cfg.vocab_size, special, B, SRC_LEN, 1000 + i)
            ids = torch.tensor(src_ids)
            with torch.inference_mode():
                ref = model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), do_sample=False, num_beams=1,
                                     max_new_tokens=NEW_TOKENS, min_new_tokens=NEW_TOKENS)[:, 1:].tolist()
            got = ort_greedy(sessions, rules, src_ids, NEW_TOKENS)
            same = sum(a == b for r, q in zip(got, ref) for a, b in zip(r, q))
            checks[wname] = f"{same}/{B * NEW_TOKENS}"
            log(f"{name} {wname}: ONNX greedy ids = transformers' {same}/{B * NEW_TOKENS}")
            if got != ref:
                raise SystemExit(f"{name} {wname}: the ONNX graphs' greedy ids differ from transformers'")
        meta = dict(model=fingerprint(folder), layers=L, heads=step.H, headDim=step.Dh, dModel=D,
                    vocab=cfg.vocab_size, encoderInputs=graph_inputs, rules=rules, checks=checks,
                    exporter=f"torch {torch.__version__} torch.onnx.export(dynamo=False), opset 18",
                    transformers=transformers.__version__)
        (out / "meta.json").write_text(json.dumps(meta, indent=1) + "\n")
        for f in ONNX_FILES:
            log(f"  {out.relative_to(ROOT) / f}: {(out / f).stat().st_size / 2**20:.0f} MiB")
        del model


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
    e = sub.add_parser("export")
    e.add_argument("--models", default="marian,t5")
    e.add_argument("--force", action="store_true")
    args = p.parse_args()
    if args.cmd == "make":
        make(args.models.split(","), args.force)
    elif args.cmd == "export":
        export(args)
    else:
        run(args)


if __name__ == "__main__":
    main()
