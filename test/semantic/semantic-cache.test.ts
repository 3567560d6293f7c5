import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  type ChatRequest,
  createSemanticCache,
  type SemanticCacheOptions,
  sqliteSemanticStore,
} from '../../src/semantic/index.js';
import { ManualClock } from '../../src/shared/clock.js';
import { wordHashEmbedder } from './fake-embedder.js';

const folder = mkdtempSync(join(tmpdir(), 'sluice-semantic-'));
afterAll(() => rmSync(folder, { recursive: true, force: true }));

function cache(options: Partial<SemanticCacheOptions> = {}) {
  return createSemanticCache({
    embedder: wordHashEmbedder(),
    allowUncalibrated: true,
    threshold: 0,
    ...options,
  });
}

const chat = (text: string, extra: Partial<ChatRequest> = {}): ChatRequest => ({
  model: 'gpt-4o-mini',
  messages: [
    { role: 'system', content: 'You are helpful.' },
    { role: 'user', content: text },
  ],
  temperature: 0,
  ...extra,
});

describe('scope isolation', () => {
  it('never answers across namespaces, models, system prompts, tools or parameters', async () => {
    const semantic = cache();
    const question = 'What is the capital of France?';
    await semantic.store(chat(question), 'Paris', { scope: { namespace: 'tenant-a' } });
    const same = await semantic.lookup(chat(question), { scope: { namespace: 'tenant-a' } });
    expect(same).toMatchObject({ hit: true, response: 'Paris', exact: true });

    const variants: Array<[ChatRequest, string]> = [
      [chat(question), 'tenant-b'],
      [chat(question, { model: 'gpt-4o' }), 'tenant-a'],
      [chat(question, { temperature: 0.7 }), 'tenant-a'],
      [chat(question, { tools: [{ type: 'function', function: { name: 'lookup' } }] }), 'tenant-a'],
      [
        {
          model: 'gpt-4o-mini',
          temperature: 0,
          messages: [
            { role: 'system', content: 'Answer in French.' },
            { role: 'user', content: question },
          ],
        },
        'tenant-a',
      ],
    ];
    for (const [request, namespace] of variants) {
      const result = await semantic.lookup(request, { scope: { namespace } });
      expect(result).toMatchObject({ hit: false, reason: 'no-candidate' });
    }
    await semantic.close();
  });

  it('ignores fields that do not change the answer (stream, user)', async () => {
    const semantic = cache();
    await semantic.store(chat('Name a prime number'), '7', { scope: { namespace: 'n' } });
    const result = await semantic.lookup(
      chat('Name a prime number', { stream: true, user: 'u1' }),
      {
        scope: { namespace: 'n' },
      },
    );
    expect(result.hit).toBe(true);
    await semantic.close();
  });
});

describe('multi-turn requests', () => {
  const conversation: ChatRequest = {
    model: 'm',
    messages: [
      { role: 'user', content: 'Convert 100 Celsius to Fahrenheit' },
      { role: 'assistant', content: '212 °F' },
      { role: 'user', content: 'And in Kelvin?' },
    ],
  };

  it('are not cached by default', async () => {
    const semantic = cache();
    expect(await semantic.store(conversation, '373.15 K', { scope: { namespace: 'n' } })).toEqual({
      stored: false,
      reason: 'multi-turn',
    });
    expect(await semantic.lookup(conversation, { scope: { namespace: 'n' } })).toMatchObject({
      hit: false,
      reason: 'multi-turn',
    });
    await semantic.close();
  });

  it('are scoped by their earlier turns when enabled', async () => {
    const semantic = cache({ multiTurn: true });
    await semantic.store(conversation, '373.15 K', { scope: { namespace: 'n' } });
    expect((await semantic.lookup(conversation, { scope: { namespace: 'n' } })).hit).toBe(true);
    const otherHistory: ChatRequest = {
      model: 'm',
      messages: [
        { role: 'user', content: 'Convert 50 Celsius to Fahrenheit' },
        { role: 'assistant', content: '122 °F' },
        { role: 'user', content: 'And in Kelvin?' },
      ],
    };
    expect(await semantic.lookup(otherHistory, { scope: { namespace: 'n' } })).toMatchObject({
      hit: false,
      reason: 'no-candidate',
    });
    await semantic.close();
  });
});

describe('response deduplication', () => {
  it('stores identical and near-identical responses once, reference-counted', async () => {
    const semantic = cache();
    const scope = { scope: { namespace: 'n' } };
    const body = (id: string, content: string) => ({
      id,
      created: Date.now(),
      choices: [{ message: { role: 'assistant', content } }],
    });
    const first = await semantic.store(
      'How do I reset my password?',
      body('a', 'Open settings.'),
      scope,
    );
    const second = await semantic.store(
      'Where do I change my password?',
      body('b', 'Open  settings. '),
      scope,
    );
    const third = await semantic.store('What is the weather?', body('c', 'Sunny.'), scope);
    expect(first).toMatchObject({ stored: true, deduplicated: false });
    expect(second).toMatchObject({ stored: true, deduplicated: true });
    expect(third).toMatchObject({ stored: true, deduplicated: false });
    const stats = semantic.stats();
    expect(stats.entries).toBe(3);
    expect(stats.responses.unique).toBe(2);
    expect(stats.responses.deduplicated).toBe(1);
    expect(stats.responses.savedBytes).toBeGreaterThan(0);
    await semantic.close();
  });
});

describe('bounds', () => {
  it('evicts the least recently used entry beyond maxEntries', async () => {
    const semantic = cache({ maxEntries: 2 });
    const scope = { scope: { namespace: 'n' } };
    await semantic.store('alpha question', 'a', scope);
    await semantic.store('beta question', 'b', scope);
    expect((await semantic.lookup('alpha question', scope)).hit).toBe(true); // alpha is now recent
    await semantic.store('gamma question', 'c', scope);
    expect(semantic.stats().entries).toBe(2);
    expect(semantic.stats().evictions).toBe(1);
    expect((await semantic.lookup('alpha question', scope)).hit).toBe(true);
    expect((await semantic.lookup('gamma question', scope)).hit).toBe(true);
    expect(await semantic.lookup('beta question', scope)).toMatchObject({ hit: false });
    await semantic.close();
  });

  it('expires entries after their ttl', async () => {
    const clock = new ManualClock();
    const semantic = cache({ ttl: '1m', clock });
    const scope = { scope: { namespace: 'n' } };
    await semantic.store('alpha question', 'a', scope);
    clock.advance(59_000);
    expect((await semantic.lookup('alpha question', scope)).hit).toBe(true);
    clock.advance(2_000);
    expect((await semantic.lookup('alpha question', scope)).hit).toBe(false);
    expect(semantic.stats().expired).toBe(1);
    await semantic.close();
  });

  it('refuses unbounded or invalid options', () => {
    expect(() => cache({ maxEntries: 0 })).toThrow(/maxEntries/);
    expect(() => cache({ threshold: 2 })).toThrow(/threshold/);
    expect(() => createSemanticCache({ embedder: wordHashEmbedder() })).toThrow(
      /fitted for embedder 'use-lite-512'/,
    );
  });
});

describe('index', () => {
  it('switches a scope from exact to HNSW beyond the threshold and keeps answering', async () => {
    const semantic = cache({ hnswThreshold: 20 });
    const scope = { namespace: 'n' };
    for (let index = 0; index < 19; index++) {
      await semantic.store(`question number ${index} about item${index}`, `answer ${index}`, {
        scope,
      });
    }
    expect(semantic.scopeIndex('question number 0 about item0', scope)).toEqual({
      kind: 'exact',
      size: 19,
    });
    for (let index = 19; index < 60; index++) {
      await semantic.store(`question number ${index} about item${index}`, `answer ${index}`, {
        scope,
      });
    }
    expect(semantic.scopeIndex('question number 0 about item0', scope)).toEqual({
      kind: 'hnsw',
      size: 60,
    });
    expect(semantic.stats().hnswScopes).toBe(1);
    // Not an exact text: the search goes through HNSW.
    const result = await semantic.lookup('question number 42 about item42 ?!', { scope });
    expect(result).toMatchObject({ hit: true, response: 'answer 42', exact: false });
    await semantic.close();
  });
});

describe('persistence', () => {
  it('answers after a restart over the same SQLite file', async () => {
    const path = join(folder, 'restart.db');
    const first = cache({ store: sqliteSemanticStore({ path }) });
    await first.store(chat('How tall is Mount Everest?'), '8,849 m', { scope: { namespace: 'n' } });
    await first.store(chat('How deep is the Mariana Trench?'), '10,994 m', {
      scope: { namespace: 'n' },
    });
    await first.close();

    const embedder = wordHashEmbedder();
    const second = cache({ embedder, store: sqliteSemanticStore({ path }) });
    await second.ready();
    expect(second.stats().entries).toBe(2);
    const result = await second.lookup(chat('How tall is Mount Everest?'), {
      scope: { namespace: 'n' },
    });
    expect(result).toMatchObject({ hit: true, response: '8,849 m' });
    expect(embedder.calls).toBe(0); // rebuilt from persisted vectors, exact text needs no embedding
    await second.close();
  });

  it('removes evicted entries from the file', async () => {
    const path = join(folder, 'evict.db');
    const first = cache({ store: sqliteSemanticStore({ path }), maxEntries: 1 });
    await first.store('alpha question', 'a', { scope: { namespace: 'n' } });
    await first.store('beta question', 'b', { scope: { namespace: 'n' } });
    await new Promise((done) => setTimeout(done, 10));
    await first.close();
    const second = cache({ store: sqliteSemanticStore({ path }) });
    await second.ready();
    expect(second.stats().entries).toBe(1);
    expect((await second.lookup('beta question', { scope: { namespace: 'n' } })).hit).toBe(true);
    await second.close();
  });
});

describe('neighbourhood margin', () => {
  // Fixed vectors: the query is 0.95 similar to a negated look-alike, 0.90 to a plain paraphrase.
  const vectors = new Map<string, number[]>([
    ['how do I reset my router', [1, 0, 0, 0]],
    ['how do I not reset my router', [0.95, Math.sqrt(1 - 0.95 ** 2), 0, 0]],
    ['steps to reset a router', [0.9, 0, Math.sqrt(1 - 0.9 ** 2), 0]],
  ]);
  const fixedEmbedder = {
    dimensions: 4,
    id: 'test-fixed',
    async embed(texts: readonly string[]): Promise<Float32Array[]> {
      return texts.map((text) => Float32Array.from(vectors.get(text) ?? [0, 0, 0, 1]));
    },
  };

  it('does not fall back to a farther entry when a closer one with another answer was refused', async () => {
    const scope = { scope: { namespace: 'n' } };
    for (const ambiguityMargin of [0.01, 0]) {
      const semantic = cache({ embedder: fixedEmbedder, ambiguityMargin });
      await semantic.store('how do I not reset my router', 'keep it', scope);
      await semantic.store('steps to reset a router', 'hold the button', scope);
      const result = await semantic.lookup('how do I reset my router', scope);
      if (ambiguityMargin > 0) expect(result).toMatchObject({ hit: false, reason: 'ambiguous' });
      else expect(result).toMatchObject({ hit: true, response: 'hold the button' });
      await semantic.close();
    }
  });

  it('answers from the nearest entry when it is clear of the others', async () => {
    const semantic = cache({ embedder: fixedEmbedder });
    const scope = { scope: { namespace: 'n' } };
    await semantic.store('steps to reset a router', 'hold the button', scope);
    const result = await semantic.lookup('how do I reset my router', scope);
    expect(result).toMatchObject({ hit: true, response: 'hold the button' });
    await semantic.close();
  });
});

describe('warming up the embedder', () => {
  it('loads the model through the embedder ahead of the first lookup', async () => {
    let warmed = 0;
    const embedder = { ...wordHashEmbedder(), warmUp: async () => void warmed++ };
    const semantic = cache({ embedder });
    await semantic.warmUp();
    expect(warmed).toBe(1);
    // An embedder with nothing to load (a remote one) needs no warm-up.
    await cache().warmUp();
    await semantic.close();
  });

  it('rejects with the embedder’s error, and counts each call that cannot embed', async () => {
    const unavailable = new Error('the local embedding model failed to load');
    const semantic = cache({
      embedder: {
        dimensions: 64,
        id: 'broken',
        embed: () => Promise.reject(unavailable),
        warmUp: () => Promise.reject(unavailable),
      },
    });
    await expect(semantic.warmUp()).rejects.toBe(unavailable);
    const scope = { scope: { namespace: 'a' } };
    await expect(
      semantic.store(chat('What is the capital of France?'), 'Paris', scope),
    ).rejects.toBe(unavailable);
    await expect(semantic.store(chat('And of Spain?'), 'Madrid', scope)).rejects.toBe(unavailable);
    expect(semantic.stats().embed).toMatchObject({ calls: 2, errors: 2 });
    await semantic.close();
  });
});
