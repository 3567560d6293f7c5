import { describe, expect, it } from 'vitest';
import {
  createMemoryStore,
  type MemoryEvents,
  type MemoryStoreOptions,
  omittedMarker,
} from '../../src/context/index.js';
import { ManualClock } from '../../src/shared/clock.js';
import { ConfigError, SluiceError } from '../../src/shared/errors.js';
import { tokenizer } from './conversations.js';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

describe('bounds', () => {
  it('refuses an unbounded store and bad options', () => {
    const bad: [string, MemoryStoreOptions][] = [
      ['no bound', {}],
      ['maxEntries 0', { maxEntries: 0 }],
      ['maxBytes 0', { maxBytes: 0 }],
      ['malformed maxBytes', { maxBytes: 'lots' }],
      ['negative weight', { maxEntries: 5, weights: { recency: -1 } }],
      ['recencyWindow 0', { maxEntries: 5, recencyWindow: 0 }],
      ['stage priority above 1', { maxEntries: 5, stages: { hot: { priority: 2 } } }],
      ['no stages', { maxEntries: 5, stages: {} }],
      ['unknown default stage', { maxEntries: 5, defaultStage: 'archive' }],
      ['defaultImportance above 1', { maxEntries: 5, defaultImportance: 1.5 }],
    ];
    for (const [name, options] of bad) {
      expect(() => createMemoryStore(options), name).toThrow(ConfigError);
    }
  });

  it('refuses bad entries', () => {
    const store = createMemoryStore({ maxEntries: 5, maxBytes: 100 });
    expect(() => store.add({ content: 'x', importance: 2 })).toThrow(ConfigError);
    expect(() => store.add({ content: 'x', stage: 'archive' })).toThrow(ConfigError);
    expect(() => store.add({ content: 'x', volumeBytes: -1 })).toThrow(ConfigError);
    let error: unknown;
    try {
      store.add({ content: 'x'.repeat(101) });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(SluiceError);
    expect((error as SluiceError).code).toBe('E_MEMORY_ENTRY_TOO_LARGE');
    expect(store.size).toBe(0);
  });

  it('never holds more than maxEntries, evicting on add', () => {
    const clock = new ManualClock();
    const store = createMemoryStore({ maxEntries: 10, clock });
    for (let index = 0; index < 100; index += 1) {
      clock.advance(1_000);
      store.add({ id: `m${index}`, content: `memory ${index}` });
      expect(store.size).toBeLessThanOrEqual(10);
    }
    expect(store.size).toBe(10);
    // Same importance and stage: the most recent survive.
    expect(
      store
        .entries()
        .map((entry) => entry.id)
        .sort(),
    ).toEqual(Array.from({ length: 10 }, (_, index) => `m${90 + index}`).sort());
    expect(store.stats().evictions.capacity).toBe(90);
  });

  it('never holds more than maxBytes (UTF-8), evicting on add', () => {
    const store = createMemoryStore({ maxBytes: '1kb', clock: new ManualClock() });
    for (let index = 0; index < 50; index += 1) {
      store.add({ content: `é${'x'.repeat(60)} ${index}` });
      expect(store.stats().bytes).toBeLessThanOrEqual(1024);
    }
    const stats = store.stats();
    expect(stats.bytes).toBe(
      store.entries().reduce((sum, entry) => sum + Buffer.byteLength(entry.content), 0),
    );
    expect(stats.utilization).toBeGreaterThan(0.9);
  });

  it('never evicts the entry just added, even when it ranks lowest', () => {
    const store = createMemoryStore({ maxEntries: 2, clock: new ManualClock() });
    store.add({ id: 'a', content: 'a', importance: 1, stage: 'long-term' });
    store.add({ id: 'b', content: 'b', importance: 1, stage: 'long-term' });
    store.add({ id: 'c', content: 'c', importance: 0, stage: 'short-term' });
    expect(store.has('c')).toBe(true);
    expect(store.size).toBe(2);
  });
});

describe('eviction order: importance, stage priority and recency', () => {
  it.each([
    {
      name: 'lower importance goes first',
      entries: [
        { id: 'low', importance: 0.1 },
        { id: 'high', importance: 0.9 },
      ],
      evicted: 'low',
    },
    {
      name: 'lower stage priority goes first',
      entries: [
        { id: 'short', stage: 'short-term' },
        { id: 'long', stage: 'long-term' },
      ],
      evicted: 'short',
    },
    {
      name: 'older goes first at equal importance and stage',
      entries: [{ id: 'old' }, { id: 'new' }],
      evicted: 'old',
    },
    {
      name: 'importance outweighs a few hours of recency',
      entries: [
        { id: 'important-old', importance: 0.9 },
        { id: 'trivial-new', importance: 0.1 },
      ],
      evicted: 'trivial-new',
    },
    {
      name: 'two days of recency outweigh importance',
      entries: [
        { id: 'important-stale', importance: 0.9 },
        { id: 'trivial-fresh', importance: 0.1 },
      ],
      gap: 2 * DAY,
      evicted: 'important-stale',
    },
  ])('$name', ({ entries, evicted, gap }) => {
    const clock = new ManualClock();
    const store = createMemoryStore({ maxEntries: 3, clock });
    for (const entry of entries) {
      store.add({ content: entry.id, ...entry });
      clock.advance(gap ?? 3 * HOUR);
    }
    store.add({ id: 'newcomer', content: 'newcomer', importance: 1, stage: 'long-term' });
    store.add({ id: 'newcomer-2', content: 'newcomer 2', importance: 1, stage: 'long-term' });
    expect(store.has(evicted)).toBe(false);
    expect(store.size).toBe(3);
  });

  it('get counts as an access and protects an entry; peek does not', () => {
    const clock = new ManualClock();
    const store = createMemoryStore({ maxEntries: 3, clock });
    for (const id of ['a', 'b', 'c']) {
      store.add({ id, content: id });
      clock.advance(HOUR);
    }
    expect(store.peek('a')?.accessCount).toBe(0);
    const touched = store.get('a');
    expect(touched?.accessCount).toBe(1);
    expect(touched?.lastAccessedAt).toBe(clock.now());
    store.add({ id: 'd', content: 'd' });
    expect(store.has('a')).toBe(true);
    expect(store.has('b')).toBe(false);
  });

  it('update re-ranks an entry', () => {
    const store = createMemoryStore({ maxEntries: 2, clock: new ManualClock() });
    store.add({ id: 'a', content: 'a', importance: 0.2 });
    store.add({ id: 'b', content: 'b', importance: 0.5 });
    expect(store.update('a', { importance: 1, stage: 'long-term', kind: 'fact' })?.kind).toBe(
      'fact',
    );
    store.add({ id: 'c', content: 'c', importance: 0.5 });
    expect(store.has('a')).toBe(true);
    expect(store.has('b')).toBe(false);
    expect(store.update('missing', { importance: 1 })).toBeUndefined();
  });

  it('weights are configurable: with recency only, the oldest goes regardless of importance', () => {
    const clock = new ManualClock();
    const store = createMemoryStore({
      maxEntries: 2,
      clock,
      weights: { importance: 0, stage: 0, recency: 1 },
    });
    store.add({ id: 'important', content: 'x', importance: 1, stage: 'long-term' });
    clock.advance(1_000);
    store.add({ id: 'b', content: 'y', importance: 0 });
    clock.advance(1_000);
    store.add({ id: 'c', content: 'z', importance: 0 });
    expect(store.has('important')).toBe(false);
  });

  it('replacing an entry by id keeps its creation time and its single slot', () => {
    const clock = new ManualClock();
    const store = createMemoryStore({ maxEntries: 5, clock });
    const first = store.add({ id: 'plan', content: 'step 1', kind: 'plan' });
    clock.advance(HOUR);
    const second = store.add({ id: 'plan', content: 'step 1 done, step 2', kind: 'plan' });
    expect(store.size).toBe(1);
    expect(second.createdAt).toBe(first.createdAt);
    expect(second.lastAccessedAt).toBe(first.createdAt + HOUR);
    expect(store.search('step 2')[0]?.entry.id).toBe('plan');
    expect(store.search('done')).toHaveLength(1);
  });
});

describe('stage TTLs and cleanup', () => {
  it('expires idle entries of a stage with a ttl', () => {
    const clock = new ManualClock();
    const evicted: MemoryEvents['memory-evicted'][] = [];
    const store = createMemoryStore({
      maxEntries: 10,
      clock,
      stages: { scratch: { priority: 0.1, ttl: '30m' }, durable: { priority: 1 } },
      defaultStage: 'durable',
    });
    store.on('memory-evicted', (event) => evicted.push(event));
    store.add({ id: 'a', content: 'a', stage: 'scratch' });
    store.add({ id: 'b', content: 'b', stage: 'scratch' });
    store.add({ id: 'c', content: 'c' });
    clock.advance(20 * 60_000);
    expect(store.get('a')).toBeDefined(); // restarts a's idle time
    clock.advance(15 * 60_000);
    expect(store.peek('b')).toBeUndefined();
    expect(store.has('a')).toBe(true);
    expect(store.cleanup()).toBe(0);
    clock.advance(31 * 60_000);
    expect(store.cleanup()).toBe(1);
    expect(store.size).toBe(1);
    expect(evicted.map((event) => [event.entry.id, event.reason])).toEqual([
      ['b', 'expired'],
      ['a', 'expired'],
    ]);
    expect(store.stats().evictions.expired).toBe(2);
  });

  it('cleanup shrinks to a tighter target, keeping the best', () => {
    const clock = new ManualClock();
    const store = createMemoryStore({ maxEntries: 100, clock });
    for (let index = 0; index < 10; index += 1) {
      store.add({ id: `m${index}`, content: `memory ${index}`, importance: index / 10 });
    }
    expect(store.cleanup({ maxEntries: 7 })).toBe(3);
    expect(store.entries().map((entry) => entry.id)).toEqual([
      'm9',
      'm8',
      'm7',
      'm6',
      'm5',
      'm4',
      'm3',
    ]);
    expect(store.remove('m9')).toBe(true);
    expect(store.remove('m9')).toBe(false);
    expect(store.stats().evictions).toEqual({ capacity: 3, expired: 0, removed: 1 });
  });
});

describe('search', () => {
  const store = createMemoryStore({ maxEntries: 50, clock: new ManualClock() });
  store.add({ id: 'order', content: 'Customer order ORD-58213 arrived damaged', kind: 'fact' });
  store.add({ id: 'email', content: 'Confirmation goes to dana@example.org', kind: 'fact' });
  store.add({ id: 'plan', content: 'Plan: refund the order, then e-mail the label', kind: 'plan' });
  store.add({ id: 'log', content: 'Tool output: refund RF-77120 approved', kind: 'tool-result' });
  store.add({ id: 'noise', content: 'The weather is nice today', kind: 'observation' });

  it.each([
    ['ORD-58213', 'order'],
    ['58213', 'order'],
    ['dana@example.org', 'email'],
    ['refund approved', 'log'],
    ['what is the plan for the label', 'plan'],
  ])('"%s" finds %s first', (query, id) => {
    expect(store.search(query)[0]?.entry.id).toBe(id);
  });

  it('finds nothing for unrelated words, filters by kind and limits', () => {
    expect(store.search('quantum chromodynamics')).toEqual([]);
    expect(store.search('refund', { kinds: ['plan'] }).map((result) => result.entry.id)).toEqual([
      'plan',
    ]);
    expect(store.search('refund order', { limit: 1 })).toHaveLength(1);
    expect(store.search('refund', { stages: ['long-term'] })).toEqual([]);
  });

  it('does not count as an access unless asked', () => {
    expect(store.search('weather')[0]?.entry.accessCount).toBe(0);
    store.search('weather', { touch: true });
    expect(store.peek('noise')?.accessCount).toBe(1);
  });
});

describe('compressedContext', () => {
  function filledStore() {
    const clock = new ManualClock();
    const store = createMemoryStore({ maxEntries: 100, clock });
    for (let index = 0; index < 30; index += 1) {
      clock.advance(60_000);
      store.add({
        id: `m${index}`,
        content: `Observation ${index}: the pipeline stage ${index} finished with status ok and no warnings.`,
        importance: index === 3 ? 1 : 0.3,
        stage: index === 3 ? 'long-term' : 'working',
        kind: index === 3 ? 'fact' : 'observation',
      });
    }
    return store;
  }

  it.each([0, 5, 20, 60, 150, 400])(
    'fits in %i tokens, with a marker for what was left out',
    (maxTokens) => {
      const store = filledStore();
      const compressed = store.compress(maxTokens);
      expect(tokenizer.count(compressed.text)).toBe(compressed.tokens);
      expect(compressed.tokens).toBeLessThanOrEqual(maxTokens);
      expect(compressed.included.length + compressed.omitted).toBe(30);
      if (compressed.omitted > 0 && compressed.text !== '') {
        expect(compressed.text.endsWith(omittedMarker(compressed.omitted))).toBe(true);
      }
      expect(store.compressedContext(maxTokens)).toBe(compressed.text);
    },
  );

  it('includes the most valuable entries first, in chronological order', () => {
    const store = filledStore();
    const compressed = store.compress(150);
    expect(compressed.omitted).toBeGreaterThan(0);
    expect(compressed.included[0]).toBe('m3'); // the important fact, oldest of the included
    expect(compressed.text).toContain('(fact) Observation 3');
    expect(compressed.text).toMatch(/\[\d+ lower-priority memories omitted\]$/);
    // The rest are the most recent observations, oldest first.
    const rest = compressed.included.slice(1).map((id) => Number(id.slice(1)));
    expect(rest).toEqual([...rest].sort((a, b) => a - b));
    expect(rest.at(-1)).toBe(29);
    expect(store.compress(150, { order: 'priority' }).included[0]).toBe('m3');
  });

  it('has no marker when everything fits', () => {
    const store = filledStore();
    const compressed = store.compress(10_000);
    expect(compressed.omitted).toBe(0);
    expect(compressed.text).not.toContain('omitted');
    expect(compressed.text.split('\n')).toHaveLength(30);
  });

  it('mentions the data volume left out', () => {
    const store = createMemoryStore({ maxEntries: 10, clock: new ManualClock() });
    store.add({
      content: 'validated 2.1 GB of events across 48 partitions of the eu-west region overnight',
      volumeBytes: 2 * 1024 ** 3,
      importance: 0.1,
    });
    store.add({ content: 'schema check passed', importance: 0.9 });
    const marker = '[1 lower-priority memory omitted, describing 2.0 GB of data]';
    const expected = `- (observation) schema check passed\n${marker}`;
    const compressed = store.compress(tokenizer.count(expected) + 3);
    expect(compressed.text).toBe(expected);
  });
});

describe('stats', () => {
  it('reports entries, bytes, utilization, age span, kinds and stages', () => {
    const clock = new ManualClock();
    const store = createMemoryStore({ maxEntries: 10, maxBytes: 1_000, clock });
    expect(store.stats()).toMatchObject({ entries: 0, bytes: 0, utilization: 0, ageSpanMs: 0 });
    const start = clock.now();
    store.add({ content: 'fact one', kind: 'fact', stage: 'long-term', importance: 1 });
    clock.advance(HOUR);
    store.add({ content: 'an observation', kind: 'observation', importance: 0.5 });
    clock.advance(HOUR);
    store.add({
      content: 'plan',
      kind: 'plan',
      stage: 'short-term',
      importance: 0,
      volumeBytes: 500,
    });
    clock.advance(30 * 60_000);
    const stats = store.stats();
    expect(stats).toMatchObject({
      entries: 3,
      bytes: 8 + 14 + 4,
      tokens:
        tokenizer.count('fact one') + tokenizer.count('an observation') + tokenizer.count('plan'),
      volumeBytes: 500,
      maxEntries: 10,
      maxBytes: 1_000,
      averageImportance: 0.5,
      oldestCreatedAt: start,
      newestCreatedAt: start + 2 * HOUR,
      ageSpanMs: 2 * HOUR,
      oldestAgeMs: 2.5 * HOUR,
      byKind: {
        fact: { entries: 1, bytes: 8 },
        observation: { entries: 1, bytes: 14 },
        plan: { entries: 1, bytes: 4 },
      },
      byStage: {
        'long-term': { entries: 1, bytes: 8 },
        working: { entries: 1, bytes: 14 },
        'short-term': { entries: 1, bytes: 4 },
      },
    });
    expect(stats.utilization).toBeCloseTo(0.3);
    store.clear();
    expect(store.stats().entries).toBe(0);
    expect(store.search('fact')).toEqual([]);
  });
});

describe('speed', () => {
  it('adds 20,000 entries into a 2,000-entry store quickly (no scan per eviction)', () => {
    const clock = new ManualClock();
    const store = createMemoryStore({ maxEntries: 2_000, clock });
    const started = performance.now();
    for (let index = 0; index < 20_000; index += 1) {
      clock.advance(10);
      store.add({
        content: `entry ${index} about topic ${index % 97}`,
        importance: (index % 10) / 10,
      });
    }
    expect(store.size).toBe(2_000);
    expect(performance.now() - started).toBeLessThan(3_000);
  });
});
