import { describe, expect, it } from 'vitest';
import { type BalancerCandidate, createBalancer } from '../../src/routing/balancer.js';

interface FakeDeployment extends BalancerCandidate {
  profile: { deployment: string; weight: number };
  stats: { inFlight: number; latencyEwma: number | undefined };
  breaker: { open: boolean; isAvailable(): boolean };
}

function deployment(
  id: string,
  {
    weight = 1,
    inFlight = 0,
    latency,
  }: { weight?: number; inFlight?: number; latency?: number } = {},
): FakeDeployment {
  return {
    profile: { deployment: id, weight },
    stats: { inFlight, latencyEwma: latency },
    breaker: {
      open: false,
      isAvailable() {
        return !this.open;
      },
    },
  };
}

function picks(balancer: ReturnType<typeof createBalancer>, pool: FakeDeployment[], n: number) {
  return Array.from({ length: n }, () => balancer.pick(pool)?.profile.deployment).join(' ');
}

function counts(sequence: string): Record<string, number> {
  const result: Record<string, number> = {};
  for (const id of sequence.split(' ')) result[id] = (result[id] ?? 0) + 1;
  return result;
}

describe('balancer', () => {
  it('weighted: smooth weighted round-robin gives an exact, evenly spread sequence', () => {
    const balancer = createBalancer({ strategy: 'weighted' });
    const pool = [
      deployment('a', { weight: 5 }),
      deployment('b', { weight: 1 }),
      deployment('c', { weight: 1 }),
    ];
    expect(picks(balancer, pool, 14)).toBe('a a b a c a a a a b a c a a');
    const equal = createBalancer();
    expect(picks(equal, [deployment('x'), deployment('y'), deployment('z')], 6)).toBe(
      'x y z x y z',
    );
  });

  it('weighted: skips a deployment whose circuit is open, and returns to it once closed', () => {
    const balancer = createBalancer();
    const pool = [deployment('a', { weight: 2 }), deployment('b', { weight: 1 })];
    const b = pool[1] as FakeDeployment;
    b.breaker.open = true;
    expect(picks(balancer, pool, 4)).toBe('a a a a');
    b.breaker.open = false;
    expect(counts(picks(balancer, pool, 30))).toEqual({ a: 20, b: 10 });
    (pool[0] as FakeDeployment).breaker.open = true;
    b.breaker.open = true;
    expect(balancer.pick(pool)).toBeUndefined();
    expect(balancer.pick([])).toBeUndefined();
  });

  it('least-busy: the fewest in-flight calls; ties rotate', () => {
    const balancer = createBalancer({ strategy: 'least-busy' });
    const pool = [
      deployment('a', { inFlight: 3 }),
      deployment('b', { inFlight: 1 }),
      deployment('c', { inFlight: 1 }),
    ];
    expect(picks(balancer, pool, 4)).toBe('b c b c');
    (pool[0] as FakeDeployment).stats.inFlight = 0;
    expect(balancer.pick(pool)?.profile.deployment).toBe('a');
  });

  it('latency: the lowest EWMA, an unobserved idle deployment first', () => {
    const balancer = createBalancer({ strategy: 'latency', exploration: 0 });
    const pool = [
      deployment('slow', { latency: 900 }),
      deployment('fast', { latency: 200 }),
      deployment('new'),
    ];
    expect(balancer.pick(pool)?.profile.deployment).toBe('new');
    (pool[2] as FakeDeployment).stats.inFlight = 1;
    expect(picks(balancer, pool, 3)).toBe('fast fast fast');
    (pool[1] as FakeDeployment).breaker.open = true;
    expect(balancer.pick(pool)?.profile.deployment).toBe('slow');
  });

  it('latency: explores with probability ε, so a recovered deployment gets traffic again', () => {
    // A seeded LCG for reproducible draws.
    let state = 12_345;
    const random = () => {
      state = (Math.imul(state, 1_103_515_245) + 12_345) >>> 0;
      return state / 4_294_967_296;
    };
    const balancer = createBalancer({ strategy: 'latency', exploration: 0.05, random });
    // 'recovered' was slow when last measured; it is fast again but only exploration finds out.
    const pool = [
      deployment('steady', { latency: 300 }),
      deployment('recovered', { latency: 5_000 }),
    ];
    const total = 20_000;
    const result = counts(picks(balancer, pool, total));
    // ε/2 of the picks explore to 'recovered' (exploration is uniform over both).
    expect((result.recovered ?? 0) / total).toBeGreaterThan(0.02);
    expect((result.recovered ?? 0) / total).toBeLessThan(0.03);
    // Once re-measured fast, it takes the traffic.
    (pool[1] as FakeDeployment).stats.latencyEwma = 150;
    const after = counts(picks(balancer, pool, 1_000));
    expect((after.recovered ?? 0) / 1_000).toBeGreaterThan(0.95);

    const never = createBalancer({ strategy: 'latency', exploration: 0.05, random: () => 0.5 });
    expect(counts(picks(never, pool, 100))).toEqual({ recovered: 100 });
    const always = createBalancer({ strategy: 'latency', exploration: 0.05, random: () => 0.01 });
    expect(counts(picks(always, pool, 10))).toEqual({ steady: 10 });
  });

  it('refuses an unknown strategy and a bad exploration rate', () => {
    expect(() => createBalancer({ strategy: 'random' as 'weighted' })).toThrow(/strategy/);
    expect(() => createBalancer({ exploration: 1 })).toThrow(/exploration/);
  });
});
