// Prometheus text exposition (format 0.0.4), written out by hand: counters,
// gauges and histograms with labels, no dependency. Small on purpose: a
// server keeps a handful of series, so a Map per metric is plenty.

type Labels = Readonly<Record<string, string>>;

/** The Content-Type of the text format. */
export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function escapeHelp(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

function labelText(labels: Labels, extra?: [string, string]): string {
  const parts = Object.keys(labels)
    .sort()
    .map((k) => `${k}="${escapeLabel(labels[k])}"`);
  if (extra) parts.push(`${extra[0]}="${escapeLabel(extra[1])}"`);
  return parts.length === 0 ? '' : `{${parts.join(',')}}`;
}

function labelKey(labels: Labels): string {
  return labelText(labels);
}

/** A number as the text format writes it (+Inf, -Inf, NaN). */
function num(v: number): string {
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  if (Number.isNaN(v)) return 'NaN';
  return String(v);
}

interface Metric {
  readonly name: string;
  expose(): string;
}

abstract class Base implements Metric {
  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: 'counter' | 'gauge' | 'histogram',
  ) {
    if (!/^[a-zA-Z_:][a-zA-Z0-9_:]*$/.test(name)) throw new RangeError(`metric name ${JSON.stringify(name)} is not valid`);
  }

  protected header(): string {
    return `# HELP ${this.name} ${escapeHelp(this.help)}\n# TYPE ${this.name} ${this.type}\n`;
  }

  abstract expose(): string;
}

export class Counter extends Base {
  readonly #values = new Map<string, { labels: Labels; value: number }>();

  /** `labelled`: its series carry labels, so none is written before the first inc(). */
  constructor(
    name: string,
    help: string,
    readonly labelled = false,
  ) {
    super(name, help, 'counter');
  }

  inc(labels: Labels = {}, by = 1): void {
    if (!(by >= 0)) throw new RangeError(`a counter only goes up, got ${by}`);
    const key = labelKey(labels);
    const entry = this.#values.get(key);
    if (entry) entry.value += by;
    else this.#values.set(key, { labels: { ...labels }, value: by });
  }

  get(labels: Labels = {}): number {
    return this.#values.get(labelKey(labels))?.value ?? 0;
  }

  expose(): string {
    let out = this.header();
    if (this.#values.size === 0 && !this.labelled) out += `${this.name} 0\n`;
    for (const { labels, value } of this.#values.values()) out += `${this.name}${labelText(labels)} ${num(value)}\n`;
    return out;
  }
}

/** A gauge read when scraped. */
export class Gauge extends Base {
  constructor(
    name: string,
    help: string,
    readonly read: () => number,
  ) {
    super(name, help, 'gauge');
  }

  expose(): string {
    return `${this.header()}${this.name} ${num(this.read())}\n`;
  }
}

export class Histogram extends Base {
  readonly buckets: readonly number[];
  readonly #series = new Map<string, { labels: Labels; counts: number[]; sum: number; count: number }>();

  constructor(name: string, help: string, buckets: readonly number[]) {
    super(name, help, 'histogram');
    for (let i = 1; i < buckets.length; i++) {
      if (!(buckets[i] > buckets[i - 1])) throw new RangeError(`histogram ${name}: buckets must increase`);
    }
    this.buckets = [...buckets];
  }

  observe(value: number, labels: Labels = {}): void {
    const key = labelKey(labels);
    let s = this.#series.get(key);
    if (!s) {
      s = { labels: { ...labels }, counts: new Array<number>(this.buckets.length).fill(0), sum: 0, count: 0 };
      this.#series.set(key, s);
    }
    // Per-bucket counts here; exposition makes them cumulative.
    const i = this.buckets.findIndex((b) => value <= b);
    if (i >= 0) s.counts[i]++;
    s.sum += value;
    s.count++;
  }

  expose(): string {
    let out = this.header();
    for (const s of this.#series.values()) {
      let cumulative = 0;
      this.buckets.forEach((b, i) => {
        cumulative += s.counts[i];
        out += `${this.name}_bucket${labelText(s.labels, ['le', num(b)])} ${cumulative}\n`;
      });
      out += `${this.name}_bucket${labelText(s.labels, ['le', '+Inf'])} ${s.count}\n`;
      out += `${this.name}_sum${labelText(s.labels)} ${num(s.sum)}\n`;
      out += `${this.name}_count${labelText(s.labels)} ${s.count}\n`;
    }
    return out;
  }
}

export class Registry {
  readonly #metrics: Metric[] = [];

  add<M extends Metric>(metric: M): M {
    if (this.#metrics.some((m) => m.name === metric.name)) throw new RangeError(`metric ${metric.name} is registered twice`);
    this.#metrics.push(metric);
    return metric;
  }

  expose(): string {
    return this.#metrics.map((m) => m.expose()).join('');
  }
}

/** The server's metrics. */
export class ServerMetrics {
  readonly registry = new Registry();
  readonly requests = this.registry.add(new Counter('aiayn_requests_total', 'HTTP requests answered, by route and status code', true));
  readonly generatedTokens = this.registry.add(new Counter('aiayn_generated_tokens_total', 'Tokens generated (an ending EOS counted), over every returned sequence'));
  readonly promptTokens = this.registry.add(new Counter('aiayn_prompt_tokens_total', 'Source tokens of the completed generation requests'));
  readonly batchRows = this.registry.add(
    new Histogram('aiayn_batch_rows', 'Rows (beams, sequences) decoded together per decoder step', [1, 2, 4, 8, 16, 32, 64, 128, 256]),
  );
  readonly stepSeconds = this.registry.add(
    new Histogram('aiayn_step_seconds', 'Duration of one batched decoder step', [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1]),
  );
  readonly requestSeconds = this.registry.add(
    new Histogram('aiayn_request_duration_seconds', 'Time from request to the end of its response, by route', [
      0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120,
    ]),
  );

  constructor(stats: () => { queued: number; running: number }) {
    this.registry.add(new Gauge('aiayn_queue_depth', 'Generation requests waiting for rows in the engine', () => stats().queued));
    this.registry.add(new Gauge('aiayn_running_requests', 'Generation requests decoding in the engine', () => stats().running));
  }
}
