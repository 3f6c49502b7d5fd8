"""Python's ids and decodes for texts, to hold the TypeScript tokenizers against (dev check, not npm test).

usage: tokenizer_compare.py DIR OUT.json [--random N] [--codepoints N] [--texts FILE.json] [--src-langs a,b]
Writes {texts, runs: [{src_lang, ids, skip, keep}]}; --random: N strings mixed from alphabets and\nspecial tokens; --codepoints: N strings of random code points from all planes.
"""
import argparse, json, random, sys
from transformers import AutoTokenizer

ALPHABETS = [
    "abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ", "0123456789", " ", "  ", "\t", "\n", "\u00a0", "\u3000",
    ".,;:!?'\"-()[]{}<>/\\@#$%^&*_+=~`|", "áéíóúàèìòùâêîôûäëïöüçñãõ", "e\u0301a\u0300o\u0308\u0327\u0303",
    "ßæøåœ", "ΑΒΓΔαβγδΣσς", "АБВГДабвгдЖж", "東京日本語中文字漢", "ひらがなカタカナ", "한국어", "ﬁﬂﬀ", "ＡＢＣａｂｃ１２３",
    "①②③⑴⑵", "㎏㎞㏄", "™©®℃", "😀🎉👍🏽", "👨‍👩‍👧", "🇫🇷", "\u200b\u200c\u200d\ufeff", "ॐक्षि", "العربية", "עברית",
    "ไทย", "\u0301\u0308", "\x00\x01\x7f", "ǅǈ", "İı", "▁", "<s>", "</s>", "<unk>", "<pad>",
]


def random_texts(n, seed=0, specials=()):
    rng = random.Random(seed)
    pool = list(ALPHABETS) + [" " + s + " " for s in specials]
    out = []
    for _ in range(n):
        parts = []
        for _ in range(rng.randint(0, 8)):
            a = rng.choice(pool)
            k = rng.randint(1, 6)
            parts.append("".join(rng.choice(a) for _ in range(k)) if len(a) > 12 and rng.random() < 0.7 else a)
        out.append("".join(parts))
    return out


def random_codepoints(n, seed=1):
    """Strings of code points drawn from all planes (no surrogates), weighted to combining marks and spaces."""
    rng = random.Random(seed)
    ranges = [(0x20, 0x7e), (0xa0, 0x24f), (0x300, 0x36f), (0x370, 0x52f), (0x1100, 0x11ff), (0x2000, 0x206f),
              (0x2100, 0x2bff), (0x3000, 0x30ff), (0x3200, 0x33ff), (0x4e00, 0x4eff), (0xac00, 0xacff), (0xfb00, 0xfb4f),
              (0xfe00, 0xfe6f), (0xff00, 0xffef), (0x1f300, 0x1faff), (0x10000, 0x10fffd), (0x0, 0x1f)]
    out = []
    for _ in range(n):
        chars = []
        for _ in range(rng.randint(0, 24)):
            lo, hi = rng.choice(ranges)
            c = rng.randint(lo, hi)
            if 0xd800 <= c <= 0xdfff:
                continue
            chars.append(chr(c))
        out.append("".join(chars))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("out")
    ap.add_argument("--random", type=int, default=0)
    ap.add_argument("--codepoints", type=int, default=0)
    ap.add_argument("--texts")
    ap.add_argument("--src-langs", default="")
    a = ap.parse_args()
    tok = AutoTokenizer.from_pretrained(a.dir)
    texts = json.load(open(a.texts)) if a.texts else []
    specials = [str(t) for t in tok.all_special_tokens][:20]
    texts += random_texts(a.random, specials=specials) + random_codepoints(a.codepoints)
    runs = []
    for lang in ([None] + [l for l in a.src_langs.split(",") if l]):
        if lang:
            tok.src_lang = lang
        ids = [tok(t)["input_ids"] for t in texts]
        runs.append(dict(src_lang=lang, ids=ids,
                         skip=[tok.decode(r, skip_special_tokens=True) for r in ids],
                         keep=[tok.decode(r, skip_special_tokens=False) for r in ids]))
    json.dump(dict(texts=texts, runs=runs), open(a.out, "w"), ensure_ascii=False)


if __name__ == "__main__":
    sys.exit(main())
