"""How far PyTorch's own bf16 and int8 move the fixtures' logits from fp32.

Dev-only, an independent oracle for bench/accuracy.mjs: on every fixture of
test/fixtures (random weights), the teacher-forced logits under
torch.autocast('cpu', bfloat16) and under
torch.ao.quantization.quantize_dynamic (qint8, nn.Linear layers: in PyTorch's
tutorial model that leaves out nn.MultiheadAttention's projections, which are
not nn.Linear), as max |logit - fp32 logit| / max |fp32 logit| over the valid
positions, and on the Hugging Face ones how many greedy rows equal fp32's.
bench:accuracy shows aiayn's next to them.

    .venv/bin/python tools/dtype_deviation.py   # writes bench/results/accuracy-pytorch.json
"""

import json
import warnings
from pathlib import Path

import torch
import transformers

import pytorch_fixtures as pf

ROOT = Path(__file__).resolve().parent.parent


def deviation(fp32, other, mask):
    a, b = fp32[mask], other[mask].float()
    return float((a - b).abs().max() / a.abs().max())


def measure(run, model, mask, greedy=None):
    """run(model) -> logits, in fp32, bf16 autocast and dynamic int8; with
    greedy(model) -> one id list per row, also the rows equal to fp32's."""
    int8_model = torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
    with torch.no_grad():
        fp32 = run(model)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            bf16 = run(model)
        int8 = run(int8_model)
        out = {"bf16": deviation(fp32, bf16, mask), "int8": deviation(fp32, int8, mask)}
        if greedy is not None:
            try:
                base = greedy(model)
                with torch.autocast("cpu", dtype=torch.bfloat16):
                    bf16_ids = greedy(model)
                int8_ids = greedy(int8_model)
            except Exception as error:  # noqa: BLE001 - reported in the output, not hidden
                out["greedyError"] = f"{type(error).__name__}: {error}"
            else:
                out["rows"] = len(base)
                out["bf16Greedy"] = sum(a == b for a, b in zip(bf16_ids, base))
                out["int8Greedy"] = sum(a == b for a, b in zip(int8_ids, base))
    return out


def pytorch_fixture(directory):
    cfg = json.loads((directory / "config.json").read_text())
    cases = json.loads((directory / "cases.json").read_text())
    model = pf.Seq2SeqTransformer(cfg["encoderLayers"], cfg["decoderLayers"], cfg["dModel"], cfg["heads"],
                                  cfg["srcVocab"], cfg["tgtVocab"], cfg["dFF"],
                                  activation=cfg["activation"], norm_first=cfg["normFirst"])
    model.load_state_dict(pf.read_safetensors(directory / "model.safetensors"))
    model.eval()
    src, tgt, tgt_mask, src_pad, tgt_pad = pf.batch_inputs(cases["src"], cases["tgt"])

    def run(m):
        memory = m.encode(src, None, src_pad)
        return m.generator(m.decode(tgt, memory, tgt_mask, tgt_pad, src_pad))

    return measure(run, model, ~tgt_pad)


def hf_fixture(directory):
    from transformers import AutoModelForSeq2SeqLM

    f = json.loads((directory / "expected.json").read_text())["forward"]
    model = AutoModelForSeq2SeqLM.from_pretrained(directory).eval()
    inputs = {k: torch.tensor(f[k]) for k in ("input_ids", "attention_mask", "decoder_input_ids", "decoder_attention_mask")}

    def greedy(m):  # as bench:accuracy asks aiayn: 16 new tokens, greedy, over the snapshot's generation defaults
        ids = m.generate(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"],
                         max_new_tokens=16, num_beams=1, do_sample=False)
        return [row.tolist() for row in ids]

    return measure(lambda m: m(**inputs).logits, model, inputs["decoder_attention_mask"].bool(), greedy)


def main():
    torch.set_num_threads(1)
    torch.backends.mha.set_fastpath_enabled(False)  # its fused encoder layer rejects bf16 under autocast
    warnings.filterwarnings("ignore")
    transformers.logging.set_verbosity_error()
    out = {"torch": torch.__version__, "fixtures": {}}
    for d in sorted((ROOT / "test/fixtures/pytorch").iterdir()):
        if d.is_dir():
            out["fixtures"][f"pytorch/{d.name}"] = pytorch_fixture(d)
    for d in sorted((ROOT / "test/fixtures/hf").iterdir()):
        if (d / "expected.json").exists():
            out["fixtures"][f"hf/{d.name}"] = hf_fixture(d)
    path = ROOT / "bench/results/accuracy-pytorch.json"
    path.write_text(json.dumps(out, indent=2) + "\n")
    for name, r in out["fixtures"].items():
        rows = f", greedy rows equal to fp32's: bf16 {r['bf16Greedy']}/{r['rows']}, int8 {r['int8Greedy']}/{r['rows']}" if "rows" in r else ""
        rows += f", generate failed: {r['greedyError']}" if "greedyError" in r else ""
        print(f"{name}: bf16 {r['bf16']:.1e}, int8 {r['int8']:.1e}{rows}")
    print(f"written {path}")


if __name__ == "__main__":
    main()
