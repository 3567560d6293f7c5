import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createSemanticCache,
  redisSemanticStore,
  type SemanticCache,
} from '../../src/semantic/index.js';
import { redisAvailable, redisUrl } from '../helpers/redis.js';
import { wordHashEmbedder } from './fake-embedder.js';

const available = await redisAvailable();

describe.skipIf(!available)('cross-process propagation through Redis', () => {
  const prefix = `sem-test-${randomUUID().slice(0, 8)}`;
  let first: SemanticCache;
  let second: SemanticCache;
  const make = () =>
    createSemanticCache({
      embedder: wordHashEmbedder(),
      allowUncalibrated: true,
      threshold: 0,
      store: redisSemanticStore({ url: redisUrl(9), prefix }),
    });

  beforeAll(async () => {
    first = make();
    second = make();
    await Promise.all([first.ready(), second.ready()]);
  });
  afterAll(async () => {
    await first.clear();
    await first.close();
    await second.close();
  });

  const eventually = async (check: () => Promise<boolean>) => {
    const deadline = Date.now() + 3_000;
    while (!(await check())) {
      if (Date.now() > deadline) throw new Error('condition not met within 3 s');
      await new Promise((done) => setTimeout(done, 20));
    }
  };

  it("a new entry in one cache answers in the other's index", async () => {
    const scope = { scope: { namespace: 'shared' } };
    await first.store('How many moons does Mars have?', 'Two', scope);
    await eventually(async () => second.stats().entries === 1);
    expect(second.stats().bus.loaded).toBe(1);
    // A near (not identical) text: answered through the second process's own vector index.
    const result = await second.lookup('How many moons does Mars have ?!', scope);
    expect(result).toMatchObject({ hit: true, response: 'Two', exact: false });
  });

  it('removals reach the other process too', async () => {
    const scope = { scope: { namespace: 'shared' } };
    await second.clear('shared');
    await eventually(async () => first.stats().entries === 0);
    expect((await first.lookup('How many moons does Mars have?', scope)).hit).toBe(false);
  });

  it('a third cache started later rebuilds its index from Redis', async () => {
    await first.store('Who wrote Hamlet?', 'Shakespeare', { scope: { namespace: 'shared' } });
    const third = make();
    await third.ready();
    expect((await third.lookup('Who wrote Hamlet?', { scope: { namespace: 'shared' } })).hit).toBe(
      true,
    );
    await third.close();
  });
});
