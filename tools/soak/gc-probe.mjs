// Preloaded into the soaked server (node --expose-gc --import): on SIGUSR2 it
// collects the main thread's garbage and prints its memory figures as one
// line, so the soak reads what is still referenced, not what V8 has yet to
// collect. (The engine's worker thread has its own heap: it shows in RSS only.)
process.on('SIGUSR2', () => {
  globalThis.gc();
  process.stdout.write(`soak-memory ${JSON.stringify(process.memoryUsage())}\n`);
});
