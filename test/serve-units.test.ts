// The server's small parts without a server: the SSE writer's backpressure
// and the Prometheus exposition.
import { EventEmitter } from 'node:events';
import type { ServerResponse } from 'node:http';
import { describe, expect, it } from 'vitest';
import { ClientGoneError, SseWriter } from '../lib/serve/api.js';
import { Counter, Histogram, Registry, ServerMetrics } from '../lib/serve/metrics.js';
import { parseMetrics } from './serve-helpers.js';

/** A response whose socket buffer is full until 'drain'. */
function fullResponse() {
  const res = Object.assign(new EventEmitter(), {
    destroyed: false,
    writableEnded: false,
    writableFinished: false,
    headers: undefined as Record<string, string> | undefined,
    written: [] as string[],
    writeHead(status: number, headers: Record<string, string>) {
      res.headers = { status: String(status), ...headers };
      return res;
    },
    write(chunk: string) {
      res.written.push(chunk);
      return false;
    },
    end() {
      res.writableEnded = true;
    },
  });
  return res;
}

describe('SseWriter', () => {
  it('writes the headers with the first event and waits for drain before the next', async () => {
    const res = fullResponse();
    const sse = new SseWriter(res as unknown as ServerResponse);
    let sent = false;
    const first = sse.send('{"a":1}').then(() => (sent = true));
    await new Promise((r) => setTimeout(r, 20));
    expect(res.headers).toMatchObject({ status: '200', 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    expect(res.written).toEqual(['data: {"a":1}\n\n']);
    expect(sent).toBe(false);
    res.emit('drain');
    await first;
    expect(sent).toBe(true);
    expect(res.listenerCount('drain') + res.listenerCount('close')).toBe(0);
  });

  it('a client that leaves while it waits ends the wait with ClientGoneError, and later sends throw', async () => {
    const res = fullResponse();
    const sse = new SseWriter(res as unknown as ServerResponse);
    const pending = sse.send('x');
    res.destroyed = true;
    res.emit('close');
    await expect(pending).rejects.toBeInstanceOf(ClientGoneError);
    await expect(sse.send('y')).rejects.toBeInstanceOf(ClientGoneError);
    expect(res.written).toHaveLength(1);
  });
});

describe('Prometheus exposition', () => {
  it('counters, gauges and cumulative histograms in text format 0.0.4, labels escaped', () => {
    const registry = new Registry();
    const c = registry.add(new Counter('x_total', 'a counter', true));
    const plain = registry.add(new Counter('y_total', 'line one\nline two'));
    const h = registry.add(new Histogram('h_seconds', 'a histogram', [0.1, 1]));
    c.inc({ route: '/a"b\\c\nd', status: '200' });
    c.inc({ status: '200', route: '/a"b\\c\nd' }, 2);
    h.observe(0.05);
    h.observe(0.5);
    h.observe(7);
    const text = registry.expose();
    expect(text).toContain('# HELP y_total line one\\nline two\n# TYPE y_total counter\ny_total 0\n');
    expect(text).toContain('x_total{route="/a\\"b\\\\c\\nd",status="200"} 3\n');
    expect(text).not.toMatch(/^x_total \d/m);
    const samples = parseMetrics(text);
    expect(samples.get('h_seconds_bucket{le="0.1"}')).toBe(1);
    expect(samples.get('h_seconds_bucket{le="1"}')).toBe(2);
    expect(samples.get('h_seconds_bucket{le="+Inf"}')).toBe(3);
    expect(samples.get('h_seconds_count')).toBe(3);
    expect(samples.get('h_seconds_sum')).toBeCloseTo(7.55, 10);
    expect(() => registry.add(new Counter('x_total', 'again'))).toThrow(RangeError);
    expect(() => c.inc({}, -1)).toThrow(RangeError);
  });

  it("the server's metrics read the engine's queue and running counts when scraped", () => {
    let stats = { queued: 3, running: 2 };
    const m = new ServerMetrics(() => stats);
    expect(parseMetrics(m.registry.expose()).get('aiayn_queue_depth')).toBe(3);
    stats = { queued: 0, running: 5 };
    const samples = parseMetrics(m.registry.expose());
    expect(samples.get('aiayn_queue_depth')).toBe(0);
    expect(samples.get('aiayn_running_requests')).toBe(5);
    expect(samples.get('aiayn_generated_tokens_total')).toBe(0);
  });
});
