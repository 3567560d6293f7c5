import { afterEach, describe, expect, it, vi } from 'vitest';
import { HealthRegistry } from '../../src/telemetry/health.js';

describe('health registry', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('logs an outage’s start and end at once, and reports each dependency in the snapshot', () => {
    const lines: { message: string; fields: Record<string, unknown> }[] = [];
    const registry = new HealthRegistry({
      log: (_level, message, fields) => lines.push({ message, fields }),
    });
    const ledger = registry.dependency('ledger');
    registry.dependency('cache-l3');
    expect(registry.snapshot().status).toBe('ok');
    ledger.degraded(
      'the ledger write failed',
      Object.assign(new Error('disk full'), { code: 'SQLITE_FULL' }),
    );
    ledger.degraded('the ledger write failed');
    const snapshot = registry.snapshot();
    expect(snapshot.status).toBe('degraded');
    expect(snapshot.dependencies.ledger).toMatchObject({ status: 'degraded', errors: 2 });
    expect(snapshot.dependencies['cache-l3']).toMatchObject({ status: 'ok', errors: 0 });
    ledger.ok();
    ledger.ok();
    expect(registry.snapshot().status).toBe('ok');
    expect(lines.map((line) => line.message)).toEqual([
      'ledger is degraded: the ledger write failed: SQLITE_FULL: disk full',
      'ledger recovered',
    ]);
    registry.close();
  });

  it('summarises a flapping dependency once per window', () => {
    vi.useFakeTimers();
    const lines: { message: string; fields: Record<string, unknown> }[] = [];
    const registry = new HealthRegistry({
      log: (_level, message, fields) => lines.push({ message, fields }),
      logIntervalMs: 10_000,
    });
    const redis = registry.dependency('cache-l2');
    for (let flap = 0; flap < 50; flap++) {
      redis.degraded('down');
      redis.ok();
    }
    redis.degraded('down');
    expect(lines).toHaveLength(2);
    vi.advanceTimersByTime(10_000);
    expect(lines).toHaveLength(3);
    expect(lines[2]?.message).toBe('cache-l2 is degraded: down');
    expect(lines[2]?.fields.transitionsNotLogged).toBe(98);
    registry.close();
  });
});
