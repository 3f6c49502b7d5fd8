"""The end-to-end benchmark's PyTorch and ONNX peers (bench/e2e.mjs).

Dev-only. Run with the venv's Python (torch 2.13.0+cpu, onnx, onnxruntime);
`npm run bench:prepare` and `npm run bench:e2e` call it.

    .venv/bin/python tools/bench_peers.py export --model bench/models/base --out bench/onnx/base \
        --int8 bench/onnx/base/int8
    .venv/bin/python tools/bench_peers.py time --job JOB.json

The model is PyTorch's tutorial Seq2SeqTransformer (tools/pytorch_fixtures.py) with an
aiayn model directory's weights (config.json + model.safetensors: the tutorial's
state_dict names). `Steps` writes its math out with the KV cache exposed, the way an
encoder-decoder runs under transformers.js; it is both PyTorch's cached greedy decode
and the source of the three ONNX graphs:
  encoder.onnx            src_ids [B,S] -> memory [B,S,D]
  decoder.onnx            tgt_ids [B,T], memory -> logits [B,V] (last position),
                          present.{i}.self.{key,value} [B,H,T,Dh], present.{i}.cross.* [B,H,S,Dh]
  decoder_with_past.onnx  tgt_ids [B,1], past.{i}.self.* [B,H,P,Dh], past.{i}.cross.* ->
                          logits [B,V], present.{i}.self.* [B,H,P+1,Dh]
`export` also writes onnxruntime's quantize_dynamic int8 of each graph.
`time` reads a job file written by bench/e2e.mjs (workloads with their source ids,
dtypes, thread counts, a time budget, a check input) and prints one JSON line: seconds
(medians) per dtype for the encoder and for `Steps` (greedy with a KV cache; in fp32
also the tutorial's greedy_decode, recomputing the prefix), the check input's greedy ids
and last-step logits (fp32), and each dtype's greedy ids on the greedy workloads, free
and teacher-forced on the fp32 ids.
"""

import argparse
import copy
import json
import logging
import math
import os
import struct
import sys
import time
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pytorch_fixtures import Seq2SeqTransformer, generate_square_subsequent_mask  # noqa: E402

ONNX_FILES = ("encoder.onnx", "decoder.onnx", "decoder_with_past.onnx")
# onnxruntime's quantize_dynamic with one scale per weight tensor (its default), not per output
# channel: per channel ran slower here (base greedy 1x32, 1 thread: 77 vs 111 tokens/s; 16x32:
# 463 vs 772) for no steady gain in accuracy (teacher-forced greedy ids equal to fp32's: base
# 88 vs 78 %, small 94 vs 97 %).
ORT_PER_CHANNEL = False


def read_safetensors(path):
    """F32 tensors by name, as torch views over one buffer (no per-element Python work)."""
    raw = bytearray(Path(path).read_bytes())
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8 : 8 + n])
    header.pop("__metadata__", None)
    out = {}
    for name, entry in header.items():
        assert entry["dtype"] == "F32", f"{path}: {name} is {entry['dtype']}, not F32"
        begin, end = entry["data_offsets"]
        count = (end - begin) // 4
        t = torch.frombuffer(raw, dtype=torch.float32, count=count, offset=8 + n + begin)
        out[name] = t.reshape(entry["shape"])
    return out


def load_model(model_dir):
    cfg = json.loads((Path(model_dir) / "config.json").read_text())
    assert cfg["activation"] == "relu" and not cfg["normFirst"] and cfg["finalNorm"], \
        "the benchmark's peers implement the paper's layout (post-LN, ReLU, final norms)"
    assert not cfg["shareEmbeddings"] and not cfg["tieOutput"]
    model = Seq2SeqTransformer(cfg["encoderLayers"], cfg["decoderLayers"], cfg["dModel"],
                               cfg["heads"], cfg["srcVocab"], cfg["tgtVocab"], cfg["dFF"],
                               maxlen=cfg["maxPositions"])
    model.load_state_dict(read_safetensors(Path(model_dir) / "model.safetensors"), strict=True)
    model.eval().requires_grad_(False)
    return model, cfg


def linear(weight, bias):
    """An nn.Linear holding copies of weight [out, in] and bias [out]."""
    out = nn.Linear(weight.shape[1], weight.shape[0])
    out.weight.data.copy_(weight)
    out.bias.data.copy_(bias)
    return out


class Projections(nn.Module):
    """One nn.MultiheadAttention's projections: in_proj's rows [0, D) q, [D, 2D) k, [2D, 3D) v; out."""

    def __init__(self, mha):
        super().__init__()
        D, w, b = mha.embed_dim, mha.in_proj_weight, mha.in_proj_bias
        self.q, self.k, self.v = (linear(w[i * D : (i + 1) * D], b[i * D : (i + 1) * D]) for i in range(3))
        self.out = linear(mha.out_proj.weight, mha.out_proj.bias)


class Steps(nn.Module):
    """The tutorial model's forward written out with the cache exposed (post-LN, ReLU)."""

    def __init__(self, model, cfg):
        super().__init__()
        self.m = model
        self.H = cfg["heads"]
        self.Dh = cfg["dModel"] // cfg["heads"]
        self.eps = cfg["layerNormEps"]
        enc, dec = model.transformer.encoder.layers, model.transformer.decoder.layers
        # Every attention's q, k, v and out as Linear modules of their own, so that
        # quantize_dynamic finds them (in_proj is a bare parameter, out_proj a
        # NonDynamicallyQuantizableLinear): the same math, one weight per projection.
        self.enc_self = nn.ModuleList(Projections(l.self_attn) for l in enc)
        self.dec_self = nn.ModuleList(Projections(l.self_attn) for l in dec)
        self.dec_cross = nn.ModuleList(Projections(l.multihead_attn) for l in dec)

    def embed(self, emb, ids, offset):  # ids [B,T] -> [B,T,D]
        pe = self.m.positional_encoding.pos_embedding  # [P,1,D]
        x = F.embedding(ids, emb.embedding.weight) * math.sqrt(emb.emb_size)
        return x + pe[offset : offset + ids.shape[1]].transpose(0, 1)

    def heads(self, x):  # [B,T,D] -> [B,H,T,Dh]
        return x.reshape(x.shape[0], x.shape[1], self.H, self.Dh).transpose(1, 2)

    def project(self, attn, x, part):  # x [B,T,D] -> [B,H,T,Dh]; part "q", "k" or "v"
        return self.heads(getattr(attn, part)(x))

    def attend(self, attn, q, k, v, mask=None):  # q [B,H,Tq,Dh], k/v [B,H,Tk,Dh] -> [B,Tq,D]
        s = torch.matmul(q, k.transpose(-1, -2)) * (1 / math.sqrt(self.Dh))
        if mask is not None:
            s = s.masked_fill(mask, float("-inf"))
        o = torch.matmul(torch.softmax(s, -1), v).transpose(1, 2)
        return attn.out(o.reshape(o.shape[0], o.shape[1], -1))

    def norm(self, n, x):
        return F.layer_norm(x, n.normalized_shape, n.weight, n.bias, self.eps)

    def ff(self, layer, x):
        return layer.linear2(F.relu(layer.linear1(x)))

    def encode(self, src_ids):  # [B,S] -> memory [B,S,D]
        x = self.embed(self.m.src_tok_emb, src_ids, 0)
        for layer, a in zip(self.m.transformer.encoder.layers, self.enc_self):
            x = self.norm(layer.norm1, x + self.attend(a, self.project(a, x, "q"), self.project(a, x, "k"),
                                                       self.project(a, x, "v")))
            x = self.norm(layer.norm2, x + self.ff(layer, x))
        return self.norm(self.m.transformer.encoder.norm, x)

    def cross_kv(self, memory):  # [(k, v)] per decoder layer, [B,H,S,Dh]
        return [(self.project(c, memory, "k"), self.project(c, memory, "v")) for c in self.dec_cross]

    def decode(self, tgt_ids, offset, append, cross):
        """tgt_ids [B,T] at positions offset.. -> last-position logits [B,V]. append(i, k, v)
        stores layer i's new self-attention keys/values and returns all of them so far."""
        x = self.embed(self.m.tgt_tok_emb, tgt_ids, offset)
        T = tgt_ids.shape[1]
        mask = None
        if T > 1:  # the whole prefix at once (no cache): causal; with a cache T is 1
            r = torch.arange(T)
            mask = r[None, :] > r[:, None]
        for i, layer in enumerate(self.m.transformer.decoder.layers):
            a, c = self.dec_self[i], self.dec_cross[i]
            k, v = append(i, self.project(a, x, "k"), self.project(a, x, "v"))
            x = self.norm(layer.norm1, x + self.attend(a, self.project(a, x, "q"), k, v, mask))
            x = self.norm(layer.norm2, x + self.attend(c, self.project(c, x, "q"), *cross[i]))
            x = self.norm(layer.norm3, x + self.ff(layer, x))
        x = self.norm(self.m.transformer.decoder.norm, x[:, -1])
        return self.m.generator(x)


# --- greedy decoding, EOS ignored -----------------------------------------------------------


def greedy_cached(steps, cfg, src, new_tokens, forced=None):
    """Encoder once, cross K/V once, then one position per step into preallocated caches.
    Returns the new ids [B, new_tokens] (each step's argmax) and the last step's logits [B, V].
    forced [B, new_tokens]: feed these ids instead of the argmaxes (teacher forcing)."""
    B, L = src.shape[0], len(steps.m.transformer.decoder.layers)
    memory = steps.encode(src)
    cross = steps.cross_kv(memory)
    shape = (B, steps.H, new_tokens, steps.Dh)
    cache = [(torch.empty(shape, dtype=memory.dtype), torch.empty(shape, dtype=memory.dtype)) for _ in range(L)]

    def append(i, k, v):
        ck, cv = cache[i]
        ck[:, :, t : t + 1] = k
        cv[:, :, t : t + 1] = v
        return ck[:, :, : t + 1], cv[:, :, : t + 1]

    ids = torch.full((B, 1), cfg["bosId"], dtype=torch.long)
    out = []
    for t in range(new_tokens):
        logits = steps.decode(ids, t, append, cross)
        out.append(logits.argmax(-1, keepdim=True))
        ids = out[-1] if forced is None else forced[:, t : t + 1]
    return torch.cat(out, 1), logits


def greedy_no_cache(model, cfg, src, new_tokens):
    """The tutorial's greedy_decode, batched: the whole prefix through the decoder every step.
    Returns the new ids and the last step's logits, as greedy_cached."""
    memory = model.encode(src, None)
    ys = torch.full((src.shape[0], 1), cfg["bosId"], dtype=torch.long)
    for _ in range(new_tokens):
        out = model.decode(ys, memory, generate_square_subsequent_mask(ys.size(1)))
        logits = model.generator(out[:, -1])
        ys = torch.cat([ys, logits.argmax(-1, keepdim=True)], 1)
    return ys[:, 1:], logits


# --- export --------------------------------------------------------------------------------


class EncoderGraph(nn.Module):
    def __init__(self, steps):
        super().__init__()
        self.s = steps

    def forward(self, src_ids):
        return self.s.encode(src_ids)


class DecoderGraph(nn.Module):
    """No past: the whole prefix; returns the caches a with-past step continues from."""

    def __init__(self, steps):
        super().__init__()
        self.s = steps

    def forward(self, tgt_ids, memory):
        present = []

        def append(i, k, v):
            present.extend([k, v])
            return k, v

        cross = self.s.cross_kv(memory)
        logits = self.s.decode(tgt_ids, 0, append, cross)
        return (logits, *present, *[t for kv in cross for t in kv])


class DecoderWithPastGraph(nn.Module):
    def __init__(self, steps):
        super().__init__()
        self.s = steps

    def forward(self, tgt_ids, *kv):  # past.{i}.self.key, .value for every layer, then cross
        L = len(kv) // 4
        past, cross = kv[: 2 * L], kv[2 * L :]
        present = []

        def append(i, k, v):
            present.extend([torch.cat([past[2 * i], k], 2), torch.cat([past[2 * i + 1], v], 2)])
            return present[-2], present[-1]

        logits = self.s.decode(tgt_ids, past[0].shape[2], append,
                               [(cross[2 * i], cross[2 * i + 1]) for i in range(L)])
        return (logits, *present)


def kv_names(prefix, L, kind):
    return [f"{prefix}.{i}.{kind}.{t}" for i in range(L) for t in ("key", "value")]


def export(args):
    model, cfg = load_model(args.model)
    steps = Steps(model, cfg).eval()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    L = cfg["decoderLayers"]
    g = torch.Generator().manual_seed(0)
    src = torch.randint(4, cfg["srcVocab"], (2, 5), generator=g)
    tgt = torch.randint(4, cfg["tgtVocab"], (2, 3), generator=g)
    kv = {0: "B", 2: "T"}
    warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
    # The TorchScript exporter on purpose: its dynamic_axes give the graphs their dynamic batch and lengths.
    warnings.filterwarnings("ignore", category=DeprecationWarning, message=".*legacy TorchScript-based ONNX export")
    common = dict(opset_version=17, do_constant_folding=True, dynamo=False)

    with torch.no_grad():
        # The written-out math is the tutorial model's (greedy ids are compared in the bench).
        diff = (steps.encode(src) - model.encode(src, None)).abs().max().item()
        print(f"  Steps.encode vs the tutorial's encoder: max |diff| {diff:.2e}")
        assert diff < 1e-3
        memory = steps.encode(src)
        torch.onnx.export(EncoderGraph(steps), (src,), out / "encoder.onnx",
                          input_names=["src_ids"], output_names=["memory"],
                          dynamic_axes={"src_ids": {0: "B", 1: "S"}, "memory": {0: "B", 1: "S"}}, **common)
        present = kv_names("present", L, "self") + kv_names("present", L, "cross")
        torch.onnx.export(DecoderGraph(steps), (tgt, memory), out / "decoder.onnx",
                          input_names=["tgt_ids", "memory"], output_names=["logits", *present],
                          dynamic_axes={"tgt_ids": {0: "B", 1: "T"}, "memory": {0: "B", 1: "S"}, "logits": {0: "B"},
                                        **{n: {0: "B", 2: "T" if ".self." in n else "S"} for n in present}},
                          **common)
        first = DecoderGraph(steps)(tgt, memory)
        past_names = kv_names("past", L, "self") + kv_names("past", L, "cross")
        present = kv_names("present", L, "self")
        torch.onnx.export(DecoderWithPastGraph(steps), (tgt[:, :1], *first[1:]), out / "decoder_with_past.onnx",
                          input_names=["tgt_ids", *past_names], output_names=["logits", *present],
                          dynamic_axes={"tgt_ids": {0: "B"}, "logits": {0: "B"},
                                        **{n: {0: "B", 2: "P" if ".self." in n else "S"} for n in past_names},
                                        **{n: kv for n in present}},
                          **common)
    import onnx  # only export needs it
    from onnxruntime.quantization import QuantType, quantize_dynamic

    logging.getLogger().setLevel(logging.ERROR)  # quantize_dynamic's advice to pre-process (for static quantization)

    int8 = Path(args.int8)
    int8.mkdir(parents=True, exist_ok=True)
    for f in ONNX_FILES:
        onnx.checker.check_model(str(out / f))
        print(f"  {out / f}: {(out / f).stat().st_size / 2**20:.0f} MiB")
        quantize_dynamic(out / f, int8 / f, weight_type=QuantType.QInt8, per_channel=ORT_PER_CHANNEL)
        print(f"  {int8 / f}: {(int8 / f).stat().st_size / 2**20:.0f} MiB")
    import onnxruntime

    (int8 / "quantization.json").write_text(json.dumps(
        {"onnxruntime": onnxruntime.__version__, "weightType": "QInt8", "perChannel": ORT_PER_CHANNEL}) + "\n")


# --- time ----------------------------------------------------------------------------------


def median_seconds(fn, budget, min_runs, max_runs):
    """Warm up once, then time runs until min_runs and (max_runs or budget seconds)."""
    fn()
    times, start = [], time.perf_counter()
    while len(times) < min_runs or (len(times) < max_runs and time.perf_counter() - start < budget):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    times.sort()
    return times[len(times) // 2], len(times)


def variants(model, cfg, dtypes):
    """(dtype, encode(src), steps) for each dtype, built one at a time: PyTorch's fastest way here."""
    steps = Steps(model, cfg).eval()
    for dtype in dtypes:
        if dtype == "fp32":
            # The tutorial's nn.TransformerEncoder (its fused fast path) encodes faster than Steps.
            yield dtype, lambda src: model.encode(src, None), steps
        elif dtype == "bf16":
            # The model cast to bf16, not autocast: autocast casts every weight again at every call
            # (small, greedy 1x32, 1 thread: 330 tokens/s autocast, 519 cast; the encoders alike).
            cast = copy.deepcopy(steps).to(torch.bfloat16)
            yield dtype, lambda src: cast.m.encode(src, None), cast
            del cast
        elif dtype == "int8":
            # Every nn.Linear (Steps' q, k, v, out; feed-forward; output layer) with int8 weights,
            # activations quantized per call; Steps' encoder, as the tutorial's attention has none.
            q = torch.ao.quantization.quantize_dynamic(steps, {nn.Linear}, dtype=torch.qint8)
            yield dtype, q.encode, q
            del q


def time_job(args):
    job = json.loads(Path(args.job).read_text())
    model, cfg = load_model(job["model"])
    warnings.filterwarnings("ignore", message="The PyTorch API of nested tensors is in prototype")
    warnings.filterwarnings("ignore", message=".*quantiz", category=DeprecationWarning)
    warnings.filterwarnings("ignore", category=UserWarning, module="torch.ao")
    results, ids = [], {}
    greedy = [w for w in job["workloads"] if w["kind"] == "greedy"]
    with torch.inference_mode():
        torch.set_num_threads(1)
        steps = Steps(model, cfg).eval()
        check = torch.tensor(job["check"]["src"])
        n = job["check"]["newTokens"]
        checks = {k: {"ids": i.tolist(), "logits": l.tolist()}
                  for k, (i, l) in (("cached", greedy_cached(steps, cfg, check, n)),
                                    ("noCache", greedy_no_cache(model, cfg, check, n)))}
        # Each dtype's greedy ids on the workloads, free and teacher-forced on fp32's.
        fp32 = {w["name"]: greedy_cached(steps, cfg, torch.tensor(w["src"]), w["newTokens"])[0] for w in greedy}
        del steps
        r = job["runs"]
        runs = dict(budget=r["budget"], min_runs=r["minRuns"], max_runs=r["maxRuns"])
        for dtype, encode, s in variants(model, cfg, job["dtypes"]):
            torch.set_num_threads(1)
            ids[dtype] = {w["name"]: {"ids": greedy_cached(s, cfg, torch.tensor(w["src"]), w["newTokens"])[0].tolist(),
                                      "forced": greedy_cached(s, cfg, torch.tensor(w["src"]), w["newTokens"],
                                                              fp32[w["name"]])[0].tolist()}
                          for w in greedy}
            for threads in job["threads"]:
                torch.set_num_threads(threads)
                for w in job["workloads"]:
                    src = torch.tensor(w["src"])
                    row = {"workload": w["name"], "threads": threads, "dtype": dtype}
                    if w["kind"] == "encoder":
                        row["encoder"] = median_seconds(lambda: encode(src), **runs)
                    else:
                        k = w["newTokens"]
                        row["cached"] = median_seconds(lambda: greedy_cached(s, cfg, src, k), **runs)
                        if dtype == "fp32":
                            row["noCache"] = median_seconds(lambda: greedy_no_cache(model, cfg, src, k), **runs)
                    results.append(row)
                    print(f"  pytorch {dtype} {threads}t {w['name']}: "
                          + ", ".join(f"{k} {v[0] * 1e3:.1f} ms ({v[1]} runs)" for k, v in row.items()
                                      if isinstance(v, tuple)), file=sys.stderr)
    setup = (f"PyTorch {torch.__version__} eager, OMP_WAIT_POLICY {os.environ.get('OMP_WAIT_POLICY', 'unset')} "
             "(bf16: the model cast; int8: quantize_dynamic of every nn.Linear)")
    reference = {k: v.tolist() for k, v in fp32.items()}
    print(json.dumps({"setup": setup, "results": results, "check": checks, "reference": reference, "ids": ids}))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    e = sub.add_parser("export", help="write encoder.onnx, decoder.onnx, decoder_with_past.onnx")
    e.add_argument("--model", required=True, help="aiayn model directory")
    e.add_argument("--out", required=True, help="output directory")
    e.add_argument("--int8", required=True, help="output directory of onnxruntime's quantize_dynamic int8 graphs")
    t = sub.add_parser("time", help="time the workloads of a bench/e2e.mjs job file; JSON on stdout")
    t.add_argument("--job", required=True)
    args = p.parse_args()
    export(args) if args.command == "export" else time_job(args)


if __name__ == "__main__":
    main()
