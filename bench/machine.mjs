// How busy the shared machine is while a benchmark runs (Linux /proc), for
// bench/e2e.mjs and bench/hf.mjs: figures taken while other processes kept a
// core busy are not comparable, so the benchmarks wait for quiet and report it.
import { readFileSync } from 'node:fs';

/** CPU ticks: the machine's busy time (steal included) and that of this process with its waited-for children. */
export function cpuTicks() {
  const [user, nice, system, , , irq, softirq, steal] = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const [utime, stime, cutime, cstime] = stat.slice(stat.lastIndexOf(')') + 2).split(' ').slice(11, 15).map(Number);
  return { busy: user + nice + system + irq + softirq + steal, own: utime + stime + cutime + cstime, ms: performance.now() };
}

/** Cores other processes kept busy on average between two cpuTicks() (USER_HZ = 100): the noise of a shared machine. */
export const othersCores = (a, b) => Math.max(0, (b.busy - a.busy - (b.own - a.own)) / 100 / ((b.ms - a.ms) / 1000));

/** Waits (up to maxSeconds) for a second in which other processes keep less than a quarter of a core busy; returns the seconds waited. */
export function waitForQuiet(maxSeconds) {
  const start = performance.now();
  while (performance.now() - start < maxSeconds * 1000) {
    const a = cpuTicks();
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1000);
    if (othersCores(a, cpuTicks()) < 0.25) break;
  }
  return (performance.now() - start) / 1000;
}
