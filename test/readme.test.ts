// The README cannot rot: every ```ts sample runs (imported from a temporary
// module, so `import ... from 'aiayn'` resolves to the built package), every
// ```sh command is one that .ci/run executes, and the ```bash session of
// `aiayn serve` runs against a server the test starts (on a free port).
import { spawn, spawnSync } from 'node:child_process';
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

  it('the `aiayn serve` session runs: each curl succeeds against the server it starts', async () => {
    const [session] = blocks('bash');
    const lines = session.replace(/\\\n\s*/g, ' ').split('\n').map((l) => l.trim()).filter(Boolean);
    const [start, ...commands] = lines;
    expect(start).toMatch(/^npx aiayn serve --model models\/pt-numbers --port 8080 &/);
    expect(commands.length).toBeGreaterThanOrEqual(3);
    const bin = join(root, 'dist', 'cli', 'bin.js');
    const server = spawn(process.execPath, [bin, 'serve', '--model', 'models/pt-numbers', '--port', '0'], { cwd: root });
    try {
      const port = await new Promise<string>((resolve, reject) => {
        let log = '';
        const timer = setTimeout(() => reject(new Error(`no listening line in 30 s: ${log}`)), 30_000);
        server.stderr.on('data', (d: Buffer) => {
          log += d.toString();
          const m = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(log);
          if (m) {
            clearTimeout(timer);
            resolve(m[1]);
          }
        });
        server.once('exit', (code) => reject(new Error(`the server exited (${code}): ${log}`)));
      });
      const outputs = commands.map((command) => {
        const r = spawnSync('bash', ['-c', command.replaceAll('localhost:8080', `127.0.0.1:${port}`)], { cwd: root, encoding: 'utf8', timeout: 30_000 });
        expect(r.status, `${command}: ${r.stderr}`).toBe(0);
        return r.stdout;
      });
      expect(JSON.parse(outputs[0]).choices[0].text).toBe('1001');
      expect(JSON.parse(outputs[1]).generated_text).toBe('42');
      expect(outputs[2]).toMatch(/^data: \{"index":1,"token":\{"id":\d+,"text":"2"/);
      expect(outputs[2]).toContain('"generated_text":"2001"');
      expect(outputs[3]).toMatch(/aiayn_requests_total\{route="\/generate",status="200"\} 1/);
    } finally {
      server.kill('SIGTERM');
      await new Promise((resolve) => server.once('exit', resolve));
    }
  });
});
