"""Trains aiayn's demo model: Brazilian-Portuguese number words -> digits.

Dev-only. Run with the Python that has torch (Debian's torch 1.13). Debian's default
libblas3 is the reference BLAS (about 4 GFLOP/s); with OpenBLAS on the library path
training is some 40x faster: 5000 steps take about 15 minutes on two idle cores:

    apt-get download libopenblas0-openmp && dpkg -x libopenblas0-openmp_*.deb /tmp/openblas
    LD_LIBRARY_PATH=/tmp/openblas/usr/lib/x86_64-linux-gnu/openblas-openmp \
        /usr/bin/python3 tools/train_pt_numbers.py

Data: every number 0..999999 written in standard pt-BR ("dois mil e vinte e seis").
A fixed random 2% of the numbers >= 1000 (20000) is held out and never trained on; its
first 2000 are the test set (models/pt-numbers/heldout.json), the next 2000 a dev set
for progress reports. Numbers below 1000 are all in training.

Model: the Seq2SeqTransformer of PyTorch's tutorial "Language Translation with
nn.Transformer and torchtext" (batch_first, post-LN, ReLU, final norms), with the
tutorial's module names, so its state_dict is what aiayn's Transformer.fromPyTorch
reads. One character vocabulary (aiayn's CharTokenizer: <pad>=0, <bos>=1, <eos>=2,
<unk>=3, then the characters in code-unit order) serves source and target, with
separate embedding tables. Source = the characters of the words + <eos>; target =
<bos> + digits + <eos>, trained with teacher forcing and cross-entropy ignoring <pad>.

Training runs a fixed schedule (Adam, linear warmup, then linear decay to zero), printing
greedy exact-match accuracy on the dev set as it goes; the test set is decoded once, at
the end, and must reach TEST_REQUIRED (else the outputs are still written, and the
script exits 1). The script writes:
  models/pt-numbers/config.json               aiayn TransformerConfig
  models/pt-numbers/tokenizer.json            CharTokenizer JSON
  models/pt-numbers/heldout.json              the 2000 test examples [{text, digits}]
  models/pt-numbers/pytorch_predictions.json  test accuracy, PyTorch's greedy output for
                                              the first 500 test examples
  /tmp/pt-numbers.safetensors                 the state_dict, F32 (--weights)
tools/convert_pt_numbers.mjs turns the last into models/pt-numbers/model.safetensors.
"""

import argparse
import json
import random
import struct
import time
import warnings
from pathlib import Path

import sys

import numpy as np
import torch
from torch import nn

# The tutorial's embedding modules, shared with the fixtures (and so the same state_dict names).
sys.path.insert(0, str(Path(__file__).resolve().parent))
from pytorch_fixtures import PositionalEncoding, TokenEmbedding  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
OUT_DIR = ROOT / "models/pt-numbers"

SEED = 2026
PAD, BOS, EOS, UNK = 0, 1, 2, 3
SPECIALS = ["<pad>", "<bos>", "<eos>", "<unk>"]

HELDOUT_COUNT = 20_000  # 2% of all numbers, drawn from 1000..999999
TEST_COUNT = 2000
DEV_COUNT = 2000
PREDICTIONS_COUNT = 500
MAX_NEW_TOKENS = 8  # 6 digits + EOS, with one to spare
TEST_REQUIRED = 0.995

CONFIG = dict(dModel=128, heads=4, dFF=256, encoderLayers=2, decoderLayers=2, maxPositions=80,
              activation="relu", normFirst=False, finalNorm=True, layerNormEps=1e-5,
              shareEmbeddings=False, tieOutput=False, padId=PAD, bosId=BOS, eosId=EOS, unkId=UNK)

# --- Number words ------------------------------------------------------------------------

UNITS = ["zero", "um", "dois", "três", "quatro", "cinco", "seis", "sete", "oito", "nove",
         "dez", "onze", "doze", "treze", "quatorze", "quinze", "dezesseis", "dezessete",
         "dezoito", "dezenove"]
TENS = ["", "", "vinte", "trinta", "quarenta", "cinquenta", "sessenta", "setenta", "oitenta",
        "noventa"]
HUNDREDS = ["", "cento", "duzentos", "trezentos", "quatrocentos", "quinhentos", "seiscentos",
            "setecentos", "oitocentos", "novecentos"]


def below_thousand(n):
    """1..999: hundreds, tens and units joined by "e"; exactly 100 is "cem"."""
    if n == 100:
        return "cem"
    hundreds, rest = divmod(n, 100)
    parts = [HUNDREDS[hundreds]] if hundreds else []
    if 0 < rest < 20:
        parts.append(UNITS[rest])
    elif rest:
        tens, units = divmod(rest, 10)
        parts.append(TENS[tens])
        if units:
            parts.append(UNITS[units])
    return " e ".join(parts)


def words(n):
    """0..999999 in pt-BR words. The thousands part and the rest are joined by "e" when
    the rest is below 100 or a round hundred ("mil e cem"), else by a space."""
    if n == 0:
        return "zero"
    thousands, rest = divmod(n, 1000)
    if thousands == 0:
        return below_thousand(rest)
    head = "mil" if thousands == 1 else below_thousand(thousands) + " mil"
    if rest == 0:
        return head
    joiner = " e " if rest < 100 or rest % 100 == 0 else " "
    return head + joiner + below_thousand(rest)


EXAMPLES = {
    0: "zero", 1: "um", 10: "dez", 14: "quatorze", 16: "dezesseis", 21: "vinte e um",
    100: "cem", 101: "cento e um", 110: "cento e dez", 200: "duzentos",
    999: "novecentos e noventa e nove", 1000: "mil", 1001: "mil e um", 1100: "mil e cem",
    1234: "mil duzentos e trinta e quatro", 2000: "dois mil", 2026: "dois mil e vinte e seis",
    2300: "dois mil e trezentos", 10000: "dez mil", 20301: "vinte mil trezentos e um",
    21000: "vinte e um mil", 100000: "cem mil", 101101: "cento e um mil cento e um",
    999999: "novecentos e noventa e nove mil novecentos e noventa e nove",
}


def check_words():
    for n, text in EXAMPLES.items():
        assert words(n) == text, f"{n}: {words(n)!r} != {text!r}"


# --- Data --------------------------------------------------------------------------------


class Vocab:
    """The CharTokenizer vocabulary: specials, then characters in UTF-16 code-unit order
    (JavaScript's default sort; the same as code-point order for these BMP characters)."""

    def __init__(self, texts):
        chars = sorted(set("".join(texts)))
        assert all(ord(c) < 0xD800 for c in chars), "only BMP characters sort alike in JS"
        self.chars = chars
        self.ids = {c: i + len(SPECIALS) for i, c in enumerate(chars)}

    def __len__(self):
        return len(SPECIALS) + len(self.chars)

    def encode(self, text):
        return [self.ids.get(c, UNK) for c in text]

    def decode(self, ids):
        return "".join(self.chars[i - len(SPECIALS)] for i in ids if i >= len(SPECIALS))

    def to_json(self):
        return {"type": "char", "specials": SPECIALS, "chars": self.chars}


def split_numbers():
    """The test and dev numbers (the first 4000 of the held-out 2%) and the set of all
    held-out numbers."""
    rng = random.Random(SEED)
    heldout = rng.sample(range(1000, 1_000_000), HELDOUT_COUNT)
    return heldout[:TEST_COUNT], heldout[TEST_COUNT:TEST_COUNT + DEV_COUNT], set(heldout)


class Batches:
    """Training batches, never holding a held-out number. Half the rows are uniform over
    the training numbers; half are short or round: a digit count d uniform in 1..6, a
    number with d digits, its last z digits zeroed (z uniform in 0..d-1), so that "mil",
    "cem mil" and "mil e cem" are seen often and not only the long numbers."""

    def __init__(self, vocab, heldout, batch_size, seed):
        self.vocab, self.heldout = vocab, heldout
        self.batch_size = batch_size
        self.rng = random.Random(seed)

    def uniform(self):
        while (n := self.rng.randrange(1_000_000)) in self.heldout:
            pass
        return n

    def short_or_round(self):
        while True:
            digits = self.rng.randint(1, 6)
            zeros = 10 ** self.rng.randrange(digits)
            n = self.rng.randrange(10 ** (digits - 1) if digits > 1 else 0, 10 ** digits)
            n -= n % zeros
            if n not in self.heldout:
                return n

    def numbers(self):
        half = self.batch_size // 2
        return ([self.uniform() for _ in range(half)]
                + [self.short_or_round() for _ in range(self.batch_size - half)])

    def next(self):
        numbers = self.numbers()
        src = [source_ids(self.vocab, words(n)) for n in numbers]
        tgt = [[BOS] + self.vocab.encode(str(n)) + [EOS] for n in numbers]
        return pad(src), pad(tgt)


def source_ids(vocab, text):
    return vocab.encode(text) + [EOS]


def pad(rows):
    width = max(len(r) for r in rows)
    return torch.tensor([r + [PAD] * (width - len(r)) for r in rows])


# --- The tutorial's model (batch_first=True) -----------------------------------------------


class Seq2SeqTransformer(nn.Module):
    def __init__(self, cfg, dropout):
        super().__init__()
        D = cfg["dModel"]
        self.transformer = nn.Transformer(
            d_model=D, nhead=cfg["heads"], num_encoder_layers=cfg["encoderLayers"],
            num_decoder_layers=cfg["decoderLayers"], dim_feedforward=cfg["dFF"],
            dropout=dropout, activation=cfg["activation"], norm_first=cfg["normFirst"],
            batch_first=True)
        self.generator = nn.Linear(D, cfg["tgtVocab"])
        self.src_tok_emb = TokenEmbedding(cfg["srcVocab"], D)
        self.tgt_tok_emb = TokenEmbedding(cfg["tgtVocab"], D)
        self.positional_encoding = PositionalEncoding(D, dropout, cfg["maxPositions"])
        for p in self.parameters():  # the tutorial's init
            if p.dim() > 1:
                nn.init.xavier_uniform_(p)

    def forward(self, src, tgt_in):
        src_pm, tgt_pm = src == PAD, tgt_in == PAD
        tgt_mask = causal_mask(tgt_in.size(1))
        outs = self.transformer(self.positional_encoding(self.src_tok_emb(src)),
                                self.positional_encoding(self.tgt_tok_emb(tgt_in)),
                                None, tgt_mask, None, src_pm, tgt_pm, src_pm)
        return self.generator(outs)

    def encode(self, src, src_pm):
        return self.transformer.encoder(self.positional_encoding(self.src_tok_emb(src)), None, src_pm)

    def decode(self, tgt, memory, memory_pm):
        return self.transformer.decoder(self.positional_encoding(self.tgt_tok_emb(tgt)), memory,
                                        causal_mask(tgt.size(1)), None, None, memory_pm)


def causal_mask(size):
    mask = (torch.triu(torch.ones((size, size))) == 1).transpose(0, 1)
    return mask.float().masked_fill(mask == 0, float("-inf")).masked_fill(mask == 1, 0.0)


@torch.no_grad()
def greedy(model, vocab, texts, chunk=500):
    """Batched greedy decoding, MAX_NEW_TOKENS steps, each row cut at its first EOS."""
    model.eval()
    out = []
    for i in range(0, len(texts), chunk):
        src = pad([source_ids(vocab, t) for t in texts[i:i + chunk]])
        src_pm = src == PAD
        memory = model.encode(src, src_pm)
        ys = torch.full((src.size(0), 1), BOS)
        for _ in range(MAX_NEW_TOKENS):
            logits = model.generator(model.decode(ys, memory, src_pm)[:, -1])
            ys = torch.cat([ys, logits.argmax(-1, keepdim=True)], dim=1)
        for row in ys[:, 1:].tolist():
            out.append(vocab.decode(row[: row.index(EOS)] if EOS in row else row))
    model.train()
    return out


def accuracy(predictions, numbers):
    return sum(p == str(n) for p, n in zip(predictions, numbers)) / len(numbers)


# --- Training ------------------------------------------------------------------------------


def train(model, vocab, batches, dev, args):
    """Adam, learning rate warmed up linearly over args.warmup steps, then decayed linearly
    to zero at args.steps."""
    opt = torch.optim.Adam(model.parameters(), lr=args.lr, betas=(0.9, 0.98), eps=1e-9)
    schedule = lambda step: min((step + 1) / args.warmup,
                                (args.steps - step) / (args.steps - args.warmup))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, schedule)
    loss_fn = nn.CrossEntropyLoss(ignore_index=PAD)
    dev_texts = [words(n) for n in dev]
    start, running, dev_acc = time.time(), 0.0, 0.0
    model.train()
    for step in range(1, args.steps + 1):
        src, tgt = batches.next()
        logits = model(src, tgt[:, :-1])
        loss = loss_fn(logits.reshape(-1, logits.size(-1)), tgt[:, 1:].reshape(-1))
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        running += loss.item()
        if step % args.eval_every == 0:
            dev_acc = accuracy(greedy(model, vocab, dev_texts), dev)
            print(f"step {step:5d}  loss {running / args.eval_every:.4f}  "
                  f"lr {sched.get_last_lr()[0]:.2e}  dev exact {dev_acc:.4f}  "
                  f"{time.time() - start:6.1f}s", flush=True)
            running = 0.0
    return time.time() - start, dev_acc


# --- Output ----------------------------------------------------------------------------------


def write_safetensors(path, tensors):
    """F32 little-endian safetensors, written with struct + json."""
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


def check_safetensors(path, tensors):
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    assert list(header) == list(tensors), "names differ"
    for name, t in tensors.items():
        begin, end = header[name]["data_offsets"]
        values = np.frombuffer(raw[8 + n + begin:8 + n + end], dtype="<f4").reshape(header[name]["shape"])
        assert np.array_equal(values, t.numpy()), f"{name} differs after the round trip"


def write_json(path, obj, indent=None):
    path.write_text(json.dumps(obj, ensure_ascii=False, indent=indent,
                               separators=None if indent else (",", ":")) + "\n")


def write_outputs(model, vocab, config, test, predictions, test_acc, stats, weights_path):
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    write_json(OUT_DIR / "config.json", config, indent=2)
    write_json(OUT_DIR / "tokenizer.json", vocab.to_json())
    rows = [json.dumps({"text": words(n), "digits": str(n)}, ensure_ascii=False) for n in test]
    (OUT_DIR / "heldout.json").write_text("[\n" + ",\n".join(rows) + "\n]\n")
    write_json(OUT_DIR / "pytorch_predictions.json", {
        "source": "characters + <eos>",
        "target": "<bos> + digits + <eos>",
        "decoding": f"greedy, at most {MAX_NEW_TOKENS} new tokens, stop at <eos>",
        "accuracy": test_acc,
        "correct": round(test_acc * len(test)),
        "examples": len(test),
        "training": stats,
        "predictions": predictions[:PREDICTIONS_COUNT],
    }, indent=1)
    state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    write_safetensors(weights_path, state)
    check_safetensors(weights_path, state)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=5000)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-3, help="peak learning rate")
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--eval-every", type=int, default=500)
    parser.add_argument("--weights", type=Path, default=Path("/tmp/pt-numbers.safetensors"))
    args = parser.parse_args()

    torch.set_num_threads(2)
    torch.manual_seed(SEED)
    warnings.filterwarnings("ignore", message="The PyTorch API of nested tensors is in prototype")
    check_words()

    all_words = [words(n) for n in range(1_000_000)]
    vocab = Vocab(all_words + [str(d) for d in range(10)])
    longest = max(len(w) for w in all_words)
    config = {**CONFIG, "srcVocab": len(vocab), "tgtVocab": len(vocab)}
    assert longest + 1 <= config["maxPositions"], "maxPositions must cover the longest source + EOS"
    test, dev, heldout = split_numbers()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; vocab {len(vocab)}, "
          f"longest source {longest} chars + EOS; train {1_000_000 - len(heldout)}, "
          f"held out {HELDOUT_COUNT} (test {len(test)}, dev {len(dev)})", flush=True)

    model = Seq2SeqTransformer(config, dropout=0.0)
    print(f"parameters: {sum(p.numel() for p in model.parameters())}", flush=True)
    batches = Batches(vocab, heldout, args.batch_size, SEED + 1)
    seconds, dev_acc = train(model, vocab, batches, dev, args)

    predictions = greedy(model, vocab, [words(n) for n in test])
    test_acc = accuracy(predictions, test)
    print(f"trained {args.steps} steps in {seconds:.1f}s; dev exact {dev_acc:.4f}; "
          f"test exact {test_acc:.4f} ({round(test_acc * len(test))}/{len(test)})", flush=True)
    for n, p in zip(test, predictions):
        if p != str(n):
            print(f"  wrong: {words(n)!r} -> {p!r} (want {n})")
    stats = {"steps": args.steps, "batchSize": args.batch_size, "seconds": round(seconds, 1),
             "devAccuracy": dev_acc, "seed": SEED, "torch": torch.__version__}
    write_outputs(model, vocab, config, test, predictions, test_acc, stats, args.weights)
    print(f"wrote {OUT_DIR.relative_to(ROOT)}/ and {args.weights} "
          f"({args.weights.stat().st_size} bytes)")
    if test_acc < TEST_REQUIRED:
        raise SystemExit(f"test accuracy {test_acc:.4f} is below {TEST_REQUIRED}")


if __name__ == "__main__":
    main()
