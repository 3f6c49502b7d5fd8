// The package as users get it: ESM import by name with types (dist/, built by
// `npm test`'s pretest), and prebuilds that node-gyp-build loads with no build/.
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { addonLoadMessage } from '../lib/backend/addon.js';

const root = fileURLToPath(new URL('..', import.meta.url));

describe('package', () => {
  it("import { ... } from 'aiayn' works from ESM", () => {
    const script = `
      import { Tensor, native, info } from 'aiayn';
      const y = native.softmax(Tensor.from([0, 0], [1, 2]));
      console.log(JSON.stringify({ y: Array.from(y.data), isa: info().isa }));
    `;
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: root, encoding: 'utf8' });
    expect(JSON.parse(out).y).toEqual([0.5, 0.5]);
  });

  it('its declarations type-check a consumer', () => {
    const tsc = join(root, 'node_modules/typescript/bin/tsc');
    const r = spawnSync(process.execPath, [tsc, '-p', join(root, 'test/consumer/tsconfig.json')], { encoding: 'utf8' });
    expect(r.stdout + r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  // Builds the addon once more (about a minute); the ISA-specific CI passes skip it.
  it.skipIf(process.env.AIAYN_ISA !== undefined)(
    'prebuildify makes an N-API prebuild that node-gyp-build loads when build/ is absent',
    () => {
      const dir = mkdtempSync(join(tmpdir(), 'aiayn-prebuild-'));
      try {
        for (const f of ['package.json', 'binding.gyp', 'native']) cpSync(join(root, f), join(dir, f), { recursive: true });
        symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'));
        execFileSync(process.execPath, [join(root, 'node_modules/prebuildify/bin.js'), '--napi', '--strip'], {
          cwd: dir,
          stdio: 'pipe',
          // Build against the running Node's own headers rather than downloading them.
          env: { ...process.env, npm_config_nodedir: process.env.npm_config_nodedir ?? dirname(dirname(process.execPath)) },
        });
        const platformDir = join(dir, 'prebuilds', `${process.platform}-${process.arch}`);
        expect(readdirSync(platformDir).some((f) => f.endsWith('.node'))).toBe(true);
        rmSync(join(dir, 'build'), { recursive: true, force: true });
        expect(existsSync(join(dir, 'build'))).toBe(false);
        const probe = `
          const build = require('node-gyp-build');
          const path = build.resolve(${JSON.stringify(dir)});
          const addon = build(${JSON.stringify(dir)});
          console.log(JSON.stringify({ path, isa: addon.info().isa }));
        `;
        const out = JSON.parse(execFileSync(process.execPath, ['-e', probe], { cwd: root, encoding: 'utf8' }));
        expect(out.path).toContain(join('prebuilds', `${process.platform}-${process.arch}`));
        expect(['scalar', 'avx2', 'avx512', 'avx512_vnni', 'avx512_bf16', 'neon', 'neon_dotprod', 'neon_i8mm_bf16']).toContain(out.isa);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
    600_000,
  );

  it('a prebuild that cannot be loaded gives an error naming the platform and what to do, not dlopen alone', () => {
    // The package as installed (dist/, package.json), with a prebuild for this platform that is not a shared object.
    const dir = mkdtempSync(join(tmpdir(), 'aiayn-badprebuild-'));
    try {
      for (const f of ['package.json', 'dist']) cpSync(join(root, f), join(dir, f), { recursive: true });
      symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'));
      const platform = `${process.platform}-${process.arch}`;
      mkdirSync(join(dir, 'prebuilds', platform), { recursive: true });
      writeFileSync(join(dir, 'prebuilds', platform, 'aiayn.node'), 'not a shared object\n');
      const r = spawnSync(process.execPath, ['--input-type=module', '-e', "import { info } from './dist/index.js'; info();"], {
        cwd: dir,
        encoding: 'utf8',
      });
      expect(r.status).not.toBe(0);
      expect(r.stderr).toContain(`aiayn: cannot load the native addon for ${platform}: `);
      expect(r.stderr).toContain("npm rebuild aiayn --build-from-source");
      expect(r.stderr).toContain("or use the 'reference' backend");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('addonLoadMessage says what to do for a missing build, an old runtime and an environment error', () => {
    const platform = `${process.platform}-${process.arch}`;
    const missing = addonLoadMessage(`No native build was found for platform=${process.platform} arch=${process.arch}`);
    expect(missing).toMatch(new RegExp(`^aiayn: no native addon for ${platform}: .*npm rebuild aiayn --build-from-source`));
    const glibc = addonLoadMessage("/lib/x86_64-linux-gnu/libc.so.6: version `GLIBC_2.27' not found (required by aiayn.node)");
    expect(glibc).toContain(`the native addon for ${platform} needs a newer C or C++ runtime`);
    expect(glibc).toContain('glibc 2.27 and libstdc++ from GCC 6');
    expect(glibc).toContain("version `GLIBC_2.27' not found");
    const libstdcxx = addonLoadMessage("libstdc++.so.6: version `GLIBCXX_3.4.30' not found");
    expect(libstdcxx).toContain('needs a newer C or C++ runtime');
    expect(addonLoadMessage('AIAYN_ISA=avx512 is not supported by this CPU (best: avx2)')).toBe(
      'AIAYN_ISA=avx512 is not supported by this CPU (best: avx2)',
    );
  });
});
