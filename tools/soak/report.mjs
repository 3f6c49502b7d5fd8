// What the soak tools share: their command-line flags, the inputs of a model,
// memory figures, a percentile, a plain-text table and the results file
// (bench/results/*.json, as the benchmarks write theirs).
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';

/** `--name value` flags over `defaults` (numbers parsed as numbers), `--flag` alone for booleans. */
export function parseFlags(argv, defaults) {
  const out = { ...defaults };
  for (let i = 0; i < argv.length; i++) {
    const name = argv[i].replace(/^--/, '').replace(/-([a-z])/g, (_, c) => c.toUpperCase());
    if (!argv[i].startsWith('--') || !(name in defaults)) throw new Error(`unknown argument ${argv[i]} (known: ${Object.keys(defaults).map((k) => '--' + k).join(' ')})`);
    if (typeof defaults[name] === 'boolean') {
      out[name] = true;
      continue;
    }
    const value = argv[++i];
    if (value === undefined) throw new Error(`${argv[i - 1]} needs a value`);
    out[name] = typeof defaults[name] === 'number' ? Number(value) : value;
    if (typeof defaults[name] === 'number' && !Number.isFinite(out[name])) throw new Error(`${argv[i - 1]} must be a number, got ${value}`);
  }
  return out;
}

/** Up to `n` inputs for the model in `dir`: the demo model's held-out number words, or a Hugging Face test snapshot's own texts. */
export function sourceTexts(dir, n) {
  if (existsSync(`${dir}/heldout.json`)) return JSON.parse(readFileSync(`${dir}/heldout.json`, 'utf8')).slice(0, n).map((e) => e.text);
  return JSON.parse(readFileSync(`${dir}/expected.json`, 'utf8')).texts.filter((t) => t !== '').slice(0, n); // an empty input is a bad request
}

export const MiB = 1024 * 1024;

/** Resident set of process `pid` in bytes (Linux /proc: VmRSS). */
export function rssOf(pid) {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no VmRSS for process ${pid}`);
  return Number(m[1]) * 1024;
}

/** The p-th percentile (0..100) of `values`, nearest rank; NaN when empty. */
export function percentile(values, p) {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

export const median = (values) => percentile(values, 50);

/** Rows of cells as aligned columns, the first row a header. */
export function table(rows) {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => String(r[c]).length)));
  const line = (r) => r.map((cell, c) => (typeof cell === 'number' || /^[-+]?[0-9.]+( ?[%a-zA-Z]+)?$/.test(cell) ? String(cell).padStart(widths[c]) : String(cell).padEnd(widths[c]))).join('  ');
  return [line(rows[0]), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.slice(1).map(line)].join('\n');
}

export const mib = (bytes) => (bytes / MiB).toFixed(1);

/** Writes bench/results/`name`. */
export function writeResults(name, results) {
  const dir = new URL('../../bench/results/', import.meta.url);
  mkdirSync(dir, { recursive: true });
  writeFileSync(new URL(name, dir), JSON.stringify(results, null, 2) + '\n');
  return `bench/results/${name}`;
}

/** The machine's load averages over 1, 5 and 15 minutes (Linux /proc/loadavg): how busy the shared machine was. */
export function loadAverage() {
  return readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).map(Number);
}

/** Prints where the results went and PASS, or FAIL with each problem and exit code 1. */
export function verdict(file, problems) {
  console.log(`wrote ${file}`);
  if (problems.length > 0) {
    console.log(`\nFAIL\n- ${problems.join('\n- ')}`);
    process.exit(1);
  }
  console.log('\nPASS');
}
