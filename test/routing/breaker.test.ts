import { describe, expect, it } from 'vitest';
import {
  type BreakerOptions,
  type BreakerStateChange,
  CircuitBreaker,
} from '../../src/routing/breaker.js';
import { isDeploymentFailure } from '../../src/routing/errors.js';
import { ManualClock } from '../../src/shared/clock.js';
import { SluiceError } from '../../src/shared/errors.js';

const serverError = Object.assign(new Error('bad gateway'), { status: 502 });
const badRequest = Object.assign(new Error('invalid'), { status: 400, isRetryable: false });

function breaker(options: BreakerOptions = {}) {
  const clock = new ManualClock();
  const changes: BreakerStateChange[] = [];
  const circuit = new CircuitBreaker('openai/gpt-4o', { clock, ...options });
  circuit.events.on('state-change', (change) => changes.push(change));
  const fail = (times: number) => {
    for (let index = 0; index < times; index += 1) circuit.onFailure(serverError);
  };
  return { clock, circuit, changes, fail };
}

describe('circuit breaker', () => {
  it('opens after 5 failures within 30 s, and refuses calls while open', () => {
    const { circuit, fail, changes } = breaker();
    fail(4);
    expect(circuit.state).toBe('closed');
    expect(circuit.canRequest()).toBe(true);
    fail(1);
    expect(circuit.state).toBe('open');
    expect(circuit.canRequest()).toBe(false);
    expect(circuit.isAvailable()).toBe(false);
    expect(circuit.retryAfterMs()).toBe(10_000);
    expect(changes.map((change) => `${change.from}->${change.to}`)).toEqual(['closed->open']);
    expect(changes[0]?.cooldownMs).toBe(10_000);
  });

  it('forgets failures older than the window', () => {
    const { circuit, clock, fail } = breaker();
    fail(4);
    clock.advance(31_000);
    fail(4);
    expect(circuit.state).toBe('closed');
    fail(1);
    expect(circuit.state).toBe('open');
  });

  it('counts only failures of the deployment: 4xx client errors do not count', () => {
    const { circuit } = breaker({ failureThreshold: 2 });
    for (let index = 0; index < 10; index += 1) {
      expect(circuit.onFailure(badRequest)).toBe(false);
    }
    expect(circuit.onFailure(new Error('some bug'))).toBe(false);
    expect(circuit.state).toBe('closed');
    expect(circuit.onFailure(new SluiceError('E_X', 'flaky', { isRetryable: true }))).toBe(true);
    expect(circuit.onFailure(Object.assign(new Error('timeout'), { code: 'ETIMEDOUT' }))).toBe(
      true,
    );
    expect(circuit.state).toBe('open');
  });

  it.each([
    ['502', { status: 502 }, true],
    ['500 marked not retryable', { status: 500, isRetryable: false }, true],
    ['429', { status: 429 }, true],
    ['408', { status: 408 }, true],
    ['400 even if marked retryable', { status: 400, isRetryable: true }, false],
    ['404', { statusCode: 404 }, false],
    ['isRetryable', { isRetryable: true }, true],
    ['ECONNRESET', { code: 'ECONNRESET' }, true],
    ['undici connect timeout', { code: 'UND_ERR_CONNECT_TIMEOUT' }, true],
    ['TimeoutError', { name: 'TimeoutError' }, true],
    ['plain error mentioning a timeout', { message: 'timeout 503 retry' }, false],
    ['not an object', 'boom', false],
  ] as const)('classifies %s', (_name, error, counts) => {
    expect(isDeploymentFailure(error)).toBe(counts);
  });

  it('opens on a failure ratio once enough calls were made', () => {
    const { circuit } = breaker({ failureThreshold: 100, failureRatio: 0.5, minimumCalls: 10 });
    for (let index = 0; index < 5; index += 1) circuit.onSuccess();
    for (let index = 0; index < 4; index += 1) circuit.onFailure(serverError);
    expect(circuit.state).toBe('closed'); // 4 of 9: under the minimum
    circuit.onFailure(serverError);
    expect(circuit.state).toBe('open'); // 5 of 10
  });

  it('half-opens after the cooldown, admits one probe, and closes on its success', () => {
    const { circuit, clock, fail, changes } = breaker();
    fail(5);
    clock.advance(9_999);
    expect(circuit.state).toBe('open');
    clock.advance(1);
    expect(circuit.state).toBe('half-open');
    expect(circuit.isAvailable()).toBe(true);
    expect(circuit.canRequest()).toBe(true);
    expect(circuit.isAvailable()).toBe(false);
    expect(circuit.canRequest()).toBe(false);
    circuit.onSuccess();
    expect(circuit.state).toBe('closed');
    expect(circuit.canRequest()).toBe(true);
    expect(changes.map((change) => change.to)).toEqual(['open', 'half-open', 'closed']);
    expect(circuit.snapshot()).toMatchObject({ state: 'closed', failures: 0, consecutiveOpens: 0 });
  });

  it('reopens when the probe fails, with a doubled cooldown capped at maxCooldown', () => {
    const { circuit, clock, fail, changes } = breaker({ maxCooldown: '30s' });
    fail(5);
    const cooldowns: number[] = [];
    for (let round = 0; round < 4; round += 1) {
      cooldowns.push(circuit.retryAfterMs());
      clock.advance(circuit.retryAfterMs());
      expect(circuit.canRequest()).toBe(true);
      circuit.onFailure(serverError);
      expect(circuit.state).toBe('open');
    }
    expect(cooldowns).toEqual([10_000, 20_000, 30_000, 30_000]);
    expect(changes.filter((change) => change.to === 'open').map((c) => c.cooldownMs)).toEqual([
      10_000, 20_000, 30_000, 30_000, 30_000,
    ]);
    // Success resets the growth: the next open lasts the base cooldown again.
    clock.advance(30_000);
    expect(circuit.canRequest()).toBe(true);
    circuit.onSuccess();
    fail(5);
    expect(circuit.retryAfterMs()).toBe(10_000);
  });

  it('needs as many successes as probes to close, and releases abandoned probes', () => {
    const { circuit, clock, fail } = breaker({ halfOpenProbes: 2 });
    fail(5);
    clock.advance(10_000);
    expect(circuit.canRequest()).toBe(true);
    expect(circuit.canRequest()).toBe(true);
    expect(circuit.canRequest()).toBe(false);
    circuit.release();
    expect(circuit.canRequest()).toBe(true);
    circuit.onSuccess();
    expect(circuit.state).toBe('half-open');
    circuit.onSuccess();
    expect(circuit.state).toBe('closed');
  });

  it('frees a probe slot that never reports after probeTimeout', () => {
    const { circuit, clock, fail } = breaker({ probeTimeout: '5s' });
    fail(5);
    clock.advance(10_000);
    expect(circuit.canRequest()).toBe(true);
    clock.advance(4_999);
    expect(circuit.canRequest()).toBe(false);
    clock.advance(1);
    expect(circuit.canRequest()).toBe(true);
  });

  it('ignores outcomes of calls admitted before it opened', () => {
    const { circuit, fail } = breaker();
    fail(5);
    circuit.onSuccess();
    circuit.onFailure(serverError);
    expect(circuit.state).toBe('open');
    expect(circuit.retryAfterMs()).toBe(10_000);
  });

  it('refuses invalid options', () => {
    expect(() => new CircuitBreaker('x', { failureThreshold: 0 })).toThrow(/failureThreshold/);
    expect(() => new CircuitBreaker('x', { failureRatio: 1.5 })).toThrow(/failureRatio/);
    expect(() => new CircuitBreaker('x', { cooldown: '1m', maxCooldown: '10s' })).toThrow(
      /maxCooldown/,
    );
    expect(() => new CircuitBreaker('x', { window: 'soon' })).toThrow(/window/);
  });
});
