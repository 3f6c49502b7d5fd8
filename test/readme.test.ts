// The README cannot rot: every ```ts sample runs (imported from a temporary
// module, so `import ... from 'aiayn'` resolves to the built package), and
// every ```sh command is one that .ci/run executes.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));
const readme = readFileSync(join(root, 'README.md'), 'utf8');
const blocks = (lang: string) => [...readme.matchAll(new RegExp('```' + lang + '\\n([\\s\\S]*?)```', 'g'))].map((m) => m[1]);
const scratch = join(root, 'test', '.readme');

afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('README', () => {
  const samples = blocks('ts');
  it('has TypeScript samples', () => expect(samples.length).toBeGreaterThanOrEqual(2));

  samples.forEach((code, i) => {
    it(`sample ${i + 1} runs: ${code.split('\n').find((l) => l.trim() && !l.startsWith('import'))?.slice(0, 60)}`, async () => {
      mkdirSync(scratch, { recursive: true });
      const file = join(scratch, `sample-${i + 1}.ts`);
      writeFileSync(file, code);
      await import(pathToFileURL(file).href);
    });
  });

  it('every shell command is run by CI', () => {
    const ci = readFileSync(join(root, '.ci/run'), 'utf8');
    const commands = blocks('sh')
      .flatMap((b) => b.split('\n'))
      .map((line) => line.replace(/#.*$/, '').trim())
      .filter(Boolean)
      .flatMap((line) => line.split('&&').map((c) => c.trim()));
    expect(commands.length).toBeGreaterThan(0);
    // `npm install` in a fresh clone is what `npm ci` does from the lock file.
    for (const command of commands) expect(ci, command).toContain(command === 'npm install' ? 'npm ci' : command);
  });
});
