// Process-level controls: which backend, which ISA, how many kernel threads.
import { createRequire } from 'node:module';
import type { Backend } from './backend/backend.js';
import { loadAddon, packageRoot, type NativeInfo } from './backend/addon.js';
import { native } from './backend/native.js';
import { reference } from './backend/reference.js';
import { checkInt, describe } from './tensor.js';

export type BackendName = Backend['name'];

/** The backend called `name`: 'native' (C++ kernels) or 'reference' (pure TypeScript). */
export function getBackend(name: BackendName): Backend {
  if (name === 'native') {
    loadAddon();
    return native;
  }
  if (name === 'reference') return reference;
  throw new RangeError(`backend must be 'native' or 'reference', got ${describe(name)}`);
}

export interface Info extends NativeInfo {
  /** The aiayn package version. */
  version: string;
}

/** Version, the ISA the kernels run (AIAYN_ISA may force a lower one), the ISAs available, the pool size, the packed weights alive. */
export function info(): Info {
  const require = createRequire(import.meta.url);
  const { version } = require(`${packageRoot}package.json`) as { version: string };
  return { version, ...loadAddon().info() };
}

/**
 * Resizes the process-wide kernel thread pool (shared by all worker_threads).
 * Default: AIAYN_THREADS, else the number of physical cores.
 */
export function setThreads(n: number): void {
  loadAddon().setThreads(checkInt('n', n, 1, 1024));
}
