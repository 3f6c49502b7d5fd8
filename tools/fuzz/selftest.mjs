// The fuzzer's self-test (test/fuzz.test.ts runs it): with a fixed seed it must
// find toy-target.mjs's planted bug within a bounded number of executions.
// Prints one JSON line: { found, execs, corpus, features }.
import { pathToFileURL } from 'node:url';
import { Fuzzer } from './fuzzer.mjs';
import toy from './toy-target.mjs';

const seed = Number(process.argv[2] ?? 1);
const limit = Number(process.argv[3] ?? 200_000);
let found;
const fuzzer = new Fuzzer({
  target: toy,
  seed,
  prefixes: [pathToFileURL(new URL('./toy-target.mjs', import.meta.url).pathname).href],
  onFinding: (f) => (found ??= { problem: f.problem, input: Buffer.from(f.input).toString('latin1'), execs: fuzzer.execs }),
});
await fuzzer.load(toy.seeds());
// Small slices, so the run stops soon after the find.
while (!found && fuzzer.execs < limit) await fuzzer.fuzz({ runs: 500 });
console.log(JSON.stringify({ found: found ?? null, ...fuzzer.stats }));
fuzzer.close();
