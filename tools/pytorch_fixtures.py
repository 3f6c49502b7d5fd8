"""PyTorch reference fixtures for aiayn's encoder-decoder model.

Dev-only. Run with the Python that has torch (Debian's torch 1.13):

    /usr/bin/python3 tools/pytorch_fixtures.py

The model is the Seq2SeqTransformer of PyTorch's tutorial "Language Translation
with nn.Transformer and torchtext", with the same module names (so the state_dict
keys are the tutorial's), batch_first=True, maxlen=64 and eval mode. Weights are
random from a fixed seed: the tutorial's xavier init for every matrix, and every
other parameter perturbed away from its default (LayerNorm weight 1 + 0.2*randn, all
biases 0.1*randn) so that a wrong name mapping cannot pass by accident. Embeddings are
randn / sqrt(D), so that the scaled token embedding (x sqrt(D)) has unit variance like
the positional encoding; with plain randn (x 8 after scaling) the pre-LN residual
stream is dominated by the target token and greedy output ignores the source.

For every config in CONFIGS this writes test/fixtures/pytorch/<name>/:
  config.json          the aiayn model config
  model.safetensors    the full state_dict (F32, little-endian), tutorial names
  cases.json           source / teacher-forcing ids, 20-step greedy ids, margins
  outputs.safetensors  src_embedded [B,S,D], memory [B,S,D], logits [B,T,V]

Safetensors files are written and re-read here with struct + json only. The script
checks itself: the reloaded files equal the tensors, padded-batch results at valid
positions equal per-example unpadded runs, and the greedy ids are stable (every
top1 - top2 logit margin is at least 1e-3 * max|logit|; otherwise the source is
redrawn from the next seed).
"""

import json
import math
import struct
import warnings
from pathlib import Path

import torch
from torch import Tensor, nn

ROOT = Path(__file__).resolve().parent.parent
OUT_DIR = ROOT / "test/fixtures/pytorch"

UNK_IDX, PAD_IDX, BOS_IDX, EOS_IDX = 0, 1, 2, 3
MAXLEN = 64
GREEDY_STEPS = 20
SRC_LENGTHS = (9, 5, 12)  # including BOS and EOS, as the tutorial's tensor_transform adds them
TGT_LENGTHS = (7, 11, 4)  # teacher-forcing decoder inputs, BOS first
MARGIN_FRACTION = 1e-3

CONFIGS = {
    "paper": dict(dModel=64, heads=4, dFF=128, encoderLayers=2, decoderLayers=2,
                  srcVocab=50, tgtVocab=60, activation="relu", normFirst=False, seed=1),
    "odd": dict(dModel=96, heads=3, dFF=200, encoderLayers=2, decoderLayers=3,
                srcVocab=37, tgtVocab=41, activation="relu", normFirst=False, seed=2),
    "preln-gelu": dict(dModel=64, heads=8, dFF=256, encoderLayers=2, decoderLayers=2,
                       srcVocab=45, tgtVocab=47, activation="gelu", normFirst=True, seed=3),
}


# --- The tutorial's model (batch_first=True) -------------------------------------------


class PositionalEncoding(nn.Module):
    def __init__(self, emb_size: int, dropout: float, maxlen: int = 5000):
        super().__init__()
        den = torch.exp(-torch.arange(0, emb_size, 2) * math.log(10000) / emb_size)
        pos = torch.arange(0, maxlen).reshape(maxlen, 1)
        pos_embedding = torch.zeros((maxlen, emb_size))
        pos_embedding[:, 0::2] = torch.sin(pos * den)
        pos_embedding[:, 1::2] = torch.cos(pos * den)
        pos_embedding = pos_embedding.unsqueeze(-2)  # [maxlen, 1, emb], as in the tutorial
        self.dropout = nn.Dropout(dropout)
        self.register_buffer("pos_embedding", pos_embedding)

    def forward(self, token_embedding: Tensor):
        # token_embedding: [B, T, D]; positions index dim 1, so use the buffer as [1, T, D]
        positions = self.pos_embedding[: token_embedding.size(1)].transpose(0, 1)
        return self.dropout(token_embedding + positions)


class TokenEmbedding(nn.Module):
    def __init__(self, vocab_size: int, emb_size: int):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, emb_size)
        self.emb_size = emb_size

    def forward(self, tokens: Tensor):
        return self.embedding(tokens.long()) * math.sqrt(self.emb_size)


class Seq2SeqTransformer(nn.Module):
    def __init__(self, num_encoder_layers, num_decoder_layers, emb_size, nhead,
                 src_vocab_size, tgt_vocab_size, dim_feedforward, dropout=0.1,
                 activation="relu", norm_first=False, maxlen=MAXLEN):
        super().__init__()
        self.transformer = nn.Transformer(
            d_model=emb_size, nhead=nhead, num_encoder_layers=num_encoder_layers,
            num_decoder_layers=num_decoder_layers, dim_feedforward=dim_feedforward,
            dropout=dropout, activation=activation, norm_first=norm_first, batch_first=True)
        self.generator = nn.Linear(emb_size, tgt_vocab_size)
        self.src_tok_emb = TokenEmbedding(src_vocab_size, emb_size)
        self.tgt_tok_emb = TokenEmbedding(tgt_vocab_size, emb_size)
        self.positional_encoding = PositionalEncoding(emb_size, dropout=dropout, maxlen=maxlen)

    def forward(self, src, trg, src_mask, tgt_mask, src_padding_mask, tgt_padding_mask,
                memory_key_padding_mask):
        src_emb = self.positional_encoding(self.src_tok_emb(src))
        tgt_emb = self.positional_encoding(self.tgt_tok_emb(trg))
        outs = self.transformer(src_emb, tgt_emb, src_mask, tgt_mask, None,
                                src_padding_mask, tgt_padding_mask, memory_key_padding_mask)
        return self.generator(outs)

    def encode(self, src, src_mask, src_padding_mask=None):
        return self.transformer.encoder(self.positional_encoding(self.src_tok_emb(src)), src_mask,
                                        src_padding_mask)

    def decode(self, tgt, memory, tgt_mask, tgt_padding_mask=None, memory_key_padding_mask=None):
        return self.transformer.decoder(self.positional_encoding(self.tgt_tok_emb(tgt)), memory,
                                        tgt_mask, None, tgt_padding_mask, memory_key_padding_mask)


def generate_square_subsequent_mask(sz):
    mask = (torch.triu(torch.ones((sz, sz))) == 1).transpose(0, 1)
    return mask.float().masked_fill(mask == 0, float("-inf")).masked_fill(mask == 1, float(0.0))


def build_model(cfg):
    """The tutorial's model and init (xavier on every matrix), then perturb every parameter."""
    torch.manual_seed(cfg["seed"])
    model = Seq2SeqTransformer(cfg["encoderLayers"], cfg["decoderLayers"], cfg["dModel"],
                               cfg["heads"], cfg["srcVocab"], cfg["tgtVocab"], cfg["dFF"],
                               activation=cfg["activation"], norm_first=cfg["normFirst"])
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() > 1:
                nn.init.xavier_uniform_(p)
        for module in model.modules():
            if isinstance(module, nn.LayerNorm):
                module.weight.copy_(1 + 0.2 * torch.randn_like(module.weight))
                module.bias.copy_(0.1 * torch.randn_like(module.bias))
            elif isinstance(module, nn.Embedding):
                module.weight.copy_(torch.randn_like(module.weight) / math.sqrt(cfg["dModel"]))
        for name, p in model.named_parameters():
            if name.endswith("bias") and ".norm" not in name:  # Linear, in_proj, out_proj biases
                p.copy_(0.1 * torch.randn_like(p))
    return model.eval()


# --- safetensors, by hand ---------------------------------------------------------------


def write_safetensors(path, tensors):
    header, chunks, offset = {}, [], 0
    for name, t in tensors.items():
        data = t.detach().to(torch.float32).contiguous().numpy().astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    header_bytes = json.dumps(header, separators=(",", ":")).encode()
    header_bytes += b" " * (-len(header_bytes) % 8)
    path.write_bytes(struct.pack("<Q", len(header_bytes)) + header_bytes + b"".join(chunks))


def read_safetensors(path):
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    data = raw[8 + n :]
    out = {}
    for name, entry in header.items():
        assert entry["dtype"] == "F32", name
        begin, end = entry["data_offsets"]
        values = struct.unpack(f"<{(end - begin) // 4}f", data[begin:end])
        out[name] = torch.tensor(values, dtype=torch.float32).reshape(entry["shape"])
    return out


def check_roundtrip(path, tensors):
    loaded = read_safetensors(path)
    assert list(loaded) == list(tensors), f"{path}: names differ"
    for name, t in tensors.items():
        assert loaded[name].shape == t.shape, f"{path}: {name} shape"
        assert torch.equal(loaded[name], t.float()), f"{path}: {name} values differ"


# --- cases -------------------------------------------------------------------------------


def draw_case(cfg, index, attempt):
    """Source (BOS ... EOS) and teacher-forcing input (BOS ...) for one example, from a seed."""
    g = torch.Generator().manual_seed(cfg["seed"] * 10000 + index * 100 + attempt)

    def body(vocab, n):  # ids from {UNK} and the ordinary tokens, never PAD/BOS/EOS
        choices = torch.tensor([UNK_IDX] + list(range(EOS_IDX + 1, vocab)))
        return choices[torch.randint(len(choices), (n,), generator=g)].tolist()

    src = [BOS_IDX] + body(cfg["srcVocab"], SRC_LENGTHS[index] - 2) + [EOS_IDX]
    tgt = [BOS_IDX] + body(cfg["tgtVocab"], TGT_LENGTHS[index] - 1)
    return src, tgt


def greedy_decode(model, src):
    """The tutorial's greedy_decode for one unpadded source, GREEDY_STEPS steps, ignoring EOS,
    recomputing the whole prefix each step. Returns the new ids, margins and max |logit|."""
    memory = model.encode(src, None)
    ys = torch.tensor([[BOS_IDX]])
    margins, max_abs = [], 0.0
    for _ in range(GREEDY_STEPS):
        out = model.decode(ys, memory, generate_square_subsequent_mask(ys.size(1)))
        prob = model.generator(out[:, -1])  # [1, V]
        top2 = prob[0].topk(2).values
        margins.append((top2[0] - top2[1]).item())
        max_abs = max(max_abs, prob.abs().max().item())
        next_word = prob.argmax(dim=1, keepdim=True)
        ys = torch.cat([ys, next_word], dim=1)
    return ys[0, 1:].tolist(), margins, max_abs


def pad(rows):
    width = max(len(r) for r in rows)
    return torch.tensor([r + [PAD_IDX] * (width - len(r)) for r in rows])


def batch_inputs(src_rows, tgt_rows):
    """Padded batch as the tutorial's create_mask builds it: causal tgt_mask, PAD masks."""
    src, tgt = pad(src_rows), pad(tgt_rows)
    return src, tgt, generate_square_subsequent_mask(tgt.size(1)), src == PAD_IDX, tgt == PAD_IDX


def batched_outputs(model, src_rows, tgt_rows):
    src, tgt, tgt_mask, src_padding_mask, tgt_padding_mask = batch_inputs(src_rows, tgt_rows)
    memory = model.encode(src, None, src_padding_mask)
    logits = model.generator(model.decode(tgt, memory, tgt_mask, tgt_padding_mask, src_padding_mask))
    return {
        "src_embedded": model.positional_encoding(model.src_tok_emb(src)),
        "memory": memory,
        "logits": logits,
    }


def unpadded_outputs(model, src_row, tgt_row):
    src, tgt = torch.tensor([src_row]), torch.tensor([tgt_row])
    memory = model.encode(src, None)
    logits = model.generator(model.decode(tgt, memory, generate_square_subsequent_mask(tgt.size(1))))
    return memory[0], logits[0]


def make_cases(model, cfg):
    """Draw the cases; redraw an example (next seed) until every greedy margin is comfortable."""
    attempts = [0] * len(SRC_LENGTHS)
    while True:
        pairs = [draw_case(cfg, i, a) for i, a in enumerate(attempts)]
        src_rows, tgt_rows = [p[0] for p in pairs], [p[1] for p in pairs]
        greedy = [greedy_decode(model, torch.tensor([s])) for s in src_rows]
        outputs = batched_outputs(model, src_rows, tgt_rows)
        valid_logits = torch.cat([outputs["logits"][i, : len(t)] for i, t in enumerate(tgt_rows)])
        max_abs = max([valid_logits.abs().max().item()] + [g[2] for g in greedy])
        bad = [i for i, g in enumerate(greedy) if min(g[1]) < MARGIN_FRACTION * max_abs]
        if not bad:
            break
        for i in bad:
            attempts[i] += 1
    cases = {
        "src": src_rows,
        "tgt": tgt_rows,
        "greedy": [g[0] for g in greedy],
        "greedyMinMargin": min(min(g[1]) for g in greedy),
        "maxAbsLogit": max_abs,
    }
    return cases, outputs, attempts


# --- checks ------------------------------------------------------------------------------


def valid_diff(batched, per_example, lengths):
    return max((batched[i, :n] - per_example[i]).abs().max().item() for i, n in enumerate(lengths))


def self_checks(model, cases, outputs):
    """Max abs diffs that prove the masks and the greedy ids; asserts the hard facts."""
    src_rows, tgt_rows = cases["src"], cases["tgt"]
    singles = [unpadded_outputs(model, s, t) for s, t in zip(src_rows, tgt_rows)]
    diffs = {
        "memory_batched_vs_single": valid_diff(outputs["memory"], [m for m, _ in singles],
                                               [len(s) for s in src_rows]),
        "logits_batched_vs_single": valid_diff(outputs["logits"], [l for _, l in singles],
                                               [len(t) for t in tgt_rows]),
    }

    # The tutorial's forward (one nn.Transformer call) gives the same logits.
    src, tgt, tgt_mask, src_pm, tgt_pm = batch_inputs(src_rows, tgt_rows)
    full = model(src, tgt, None, tgt_mask, src_pm, tgt_pm, src_pm)
    diffs["logits_tutorial_forward"] = valid_diff(full, [l for _, l in singles],
                                                  [len(t) for t in tgt_rows])

    # Teacher-forcing [BOS] + greedy[:-1] in one call reproduces the greedy ids.
    for s, ids in zip(src_rows, cases["greedy"]):
        _, logits = unpadded_outputs(model, s, [BOS_IDX] + ids[:-1])
        assert logits.argmax(-1).tolist() == ids, "greedy ids differ from teacher forcing"

    # Positions in float64 vs the tutorial's float32 buffer (for consumers that recompute them).
    d = model.positional_encoding.pos_embedding.size(-1)
    pos = torch.arange(MAXLEN, dtype=torch.float64)[:, None]
    den = torch.exp(-torch.arange(0, d, 2, dtype=torch.float64) * math.log(10000) / d)
    exact = torch.stack([torch.sin(pos * den), torch.cos(pos * den)], -1).reshape(MAXLEN, d)
    diffs["pos_embedding_vs_float64"] = (
        model.positional_encoding.pos_embedding[:, 0].double() - exact).abs().max().item()
    return diffs


def encoder_paths(model, src_rows):
    """Padded-batch memory from the no-grad path (PyTorch's nested-tensor fast path, when it
    takes it) against the plain math path (grad enabled) at valid positions. The fast path
    zeroes padded positions before the final encoder norm, so they hold encoder.norm.bias."""
    src = pad(src_rows)
    mask = src == PAD_IDX
    with torch.no_grad():
        stored = model.encode(src, None, mask)
    with torch.enable_grad():
        math_path = model.encode(src, None, mask).detach()
    padded = stored[mask]
    fast = torch.equal(padded, model.transformer.encoder.norm.bias.detach().expand_as(padded))
    return fast, (stored - math_path)[~mask].abs().max().item()


# --- main --------------------------------------------------------------------------------


def write_config(path, cfg):
    config = {
        "dModel": cfg["dModel"], "heads": cfg["heads"], "dFF": cfg["dFF"],
        "encoderLayers": cfg["encoderLayers"], "decoderLayers": cfg["decoderLayers"],
        "srcVocab": cfg["srcVocab"], "tgtVocab": cfg["tgtVocab"], "maxPositions": MAXLEN,
        "activation": cfg["activation"], "normFirst": cfg["normFirst"], "finalNorm": True,
        "layerNormEps": 1e-5, "shareEmbeddings": False, "tieOutput": False,
        "padId": PAD_IDX, "bosId": BOS_IDX, "eosId": EOS_IDX, "unkId": UNK_IDX,
    }
    path.write_text(json.dumps(config, indent=2) + "\n")


def write_cases(path, cases):
    lines = ["{"]
    for key in ("src", "tgt", "greedy"):
        rows = ",\n".join("    " + json.dumps(r) for r in cases[key])
        lines.append(f'  "{key}": [\n{rows}\n  ],')
    lines.append(f'  "greedyMinMargin": {json.dumps(cases["greedyMinMargin"])},')
    lines.append(f'  "maxAbsLogit": {json.dumps(cases["maxAbsLogit"])}')
    lines.append("}")
    path.write_text("\n".join(lines) + "\n")
    assert json.loads(path.read_text()) == cases


def generate(name, cfg):
    out = OUT_DIR / name
    out.mkdir(parents=True, exist_ok=True)
    model = build_model(cfg)
    state = model.state_dict()
    with torch.no_grad():
        cases, outputs, attempts = make_cases(model, cfg)
        diffs = self_checks(model, cases, outputs)
    fast_path, path_diff = encoder_paths(model, cases["src"])

    write_config(out / "config.json", cfg)
    write_safetensors(out / "model.safetensors", state)
    check_roundtrip(out / "model.safetensors", state)
    write_cases(out / "cases.json", cases)
    write_safetensors(out / "outputs.safetensors", outputs)
    check_roundtrip(out / "outputs.safetensors", outputs)

    print(f"\n[{name}] {len(state)} tensors, "
          f"{sum(t.numel() for t in state.values())} floats; source redraws per example: {attempts}")
    print(f"  maxAbsLogit {cases['maxAbsLogit']:.4f}, greedyMinMargin {cases['greedyMinMargin']:.5f} "
          f"(ratio {cases['greedyMinMargin'] / cases['maxAbsLogit']:.2e})")
    print(f"  greedy: {cases['greedy']}")
    for key, value in diffs.items():
        print(f"  {key}: {value:.3e}")
    print(f"  encoder nested-tensor fast path taken: {fast_path}; "
          f"stored memory vs math path: {path_diff:.3e}")
    print("  safetensors round trip: exact")
    for f in sorted(out.iterdir()):
        print(f"  {f.relative_to(ROOT)}: {f.stat().st_size} bytes")
    return sum(f.stat().st_size for f in out.iterdir())


def main():
    torch.set_num_threads(1)  # one summation order for every run
    warnings.filterwarnings("ignore", message="The PyTorch API of nested tensors is in prototype")
    print(f"torch {torch.__version__}")
    total = sum(generate(name, cfg) for name, cfg in CONFIGS.items())
    print(f"\ntotal fixture size: {total} bytes ({total / 2**20:.2f} MiB)")


if __name__ == "__main__":
    main()
