// sfc32: a small, fast PRNG with a fixed seed, so that a fuzz run can be replayed exactly.
export class Prng {
  #a; #b; #c; #d;

  constructor(seed) {
    this.#a = 0x9e3779b9;
    this.#b = 0x243f6a88;
    this.#c = 0xb7e15162;
    this.#d = seed >>> 0;
    for (let i = 0; i < 16; i++) this.u32();
  }

  u32() {
    const t = (((this.#a + this.#b) | 0) + this.#d) | 0;
    this.#d = (this.#d + 1) | 0;
    this.#a = this.#b ^ (this.#b >>> 9);
    this.#b = (this.#c + (this.#c << 3)) | 0;
    this.#c = (this.#c << 21) | (this.#c >>> 11);
    this.#c = (this.#c + t) | 0;
    return t >>> 0;
  }

  /** An integer in [0, n). */
  below(n) {
    return n <= 1 ? 0 : this.u32() % n;
  }

  chance(p) {
    return this.u32() / 2 ** 32 < p;
  }

  pick(list) {
    return list[this.below(list.length)];
  }
}
