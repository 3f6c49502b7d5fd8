// One target's fuzzer in a worker thread, so that the main thread can stop an
// input that hangs (synchronous code cannot time itself out): before each run
// the input and its start time go into shared memory, where the watchdog
// (main.mjs) finds them.
import { parentPort, workerData } from 'node:worker_threads';
import { pathToFileURL } from 'node:url';
import { Fuzzer } from './fuzzer.mjs';
import { readCorpus } from './corpus.mjs';
import { DIST } from './targets/common.mjs';
import { loadTarget } from './targets/index.mjs';

const { name, mode, seed, seconds, runs, hangMs, dirs, extra, seeds, maxBytes, shared, base } = workerData;
const heartbeat = new Int32Array(shared, 0, 4); // [executions, start (ms after base, -1 when idle), input length]
const current = new Uint8Array(shared, 16);

const target = await loadTarget(name);
const fuzzer = new Fuzzer({
  target,
  seed,
  hangMs,
  prefixes: [pathToFileURL(DIST).href + '/'],
  onExec(input) {
    const n = Math.min(input.length, current.length);
    current.set(input.subarray(0, n));
    Atomics.store(heartbeat, 2, n);
    Atomics.store(heartbeat, 1, Date.now() - base);
    Atomics.add(heartbeat, 0, 1);
  },
  onExecEnd() {
    Atomics.store(heartbeat, 1, -1);
  },
  onFinding(f) {
    parentPort.postMessage({ type: 'finding', finding: { kind: f.kind, problem: f.problem, signature: f.signature, stack: f.stack, input: f.input } });
  },
  onNewInput(input) {
    parentPort.postMessage({ type: 'input', input });
  },
});

const inputs = [...(seeds ? target.seeds() : []), ...dirs.flatMap(readCorpus), ...extra];
let kept;
if (mode === 'replay') for (const input of inputs) await fuzzer.execute(input);
else if (mode === 'merge') {
  // The seeds come from the fixtures on every run: the corpus need only add to their coverage.
  for (const input of target.seeds()) await fuzzer.execute(input);
  kept = await fuzzer.merge(inputs, maxBytes);
}
else {
  await fuzzer.load(inputs);
  // In slices, with the figures sent after each: a worker stopped for a hang still has them counted.
  const end = performance.now() + seconds * 1000;
  let left = runs ?? Infinity;
  while (left > 0 && performance.now() < end) {
    const before = fuzzer.execs;
    await fuzzer.fuzz({ seconds: Math.min(2, (end - performance.now()) / 1000), runs: left });
    left -= fuzzer.execs - before;
    parentPort.postMessage({ type: 'stats', stats: fuzzer.stats });
  }
}
parentPort.postMessage({ type: 'done', stats: fuzzer.stats, kept });
fuzzer.close();
