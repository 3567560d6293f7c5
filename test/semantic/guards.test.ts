import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  analyzeText,
  comparePair,
  createSemanticCache,
  localEmbedder,
  type SemanticCache,
} from '../../src/semantic/index.js';

/** Look-alike pairs: high embedding similarity, different meaning. Each must be refused. */
const LOOK_ALIKES: Array<[string, string, string]> = [
  ['numbers', 'Convert 100 Celsius to Fahrenheit', 'Convert 200 Celsius to Fahrenheit'],
  ['numbers', 'What is 15% of 80?', 'What is 25% of 80?'],
  ['numbers', 'Convert 100 km to miles', 'Convert 100 kg to pounds'],
  ['negation', 'Which foods are safe for dogs?', 'Which foods are not safe for dogs?'],
  ['negation', 'How do I make bread with yeast?', 'How do I make bread without yeast?'],
  ['negation', 'Why does my code compile?', "Why doesn't my code compile?"],
  ['entities', 'What is the capital of France?', 'What is the capital of Germany?'],
  ['entities', 'Who founded Microsoft?', 'Who founded Apple?'],
  ['entities', 'How do I deploy to AWS?', 'How do I deploy to GCP?'],
  ['direction', 'Convert 100 Celsius to Fahrenheit', 'Convert 100 Fahrenheit to Celsius'],
  [
    'direction',
    'Translate this sentence from English to French',
    'Translate this sentence from French to English',
  ],
  ['direction', 'Should I buy Tesla stock now?', 'Should I sell Tesla stock now?'],
  ['direction', 'How do I increase the font size?', 'How do I decrease the font size?'],
  ['direction', 'What should I eat before running?', 'What should I eat after running?'],
  [
    'direction',
    'How do you convert ethanol to ethanoic acid?',
    'How do you convert ethanoic acid to ethanol?',
  ],
  ['quoted', 'What does "carpe diem" mean?', 'What does "memento mori" mean?'],
  ['code', 'What does `useEffect` do in React?', 'What does `useState` do in React?'],
  ['code', 'How do I use Array.prototype.map?', 'How do I use Array.prototype.filter?'],
  ['code', 'Why is my_variable undefined?', 'Why is other_variable undefined?'],
];

const PARAPHRASES: Array<[string, string]> = [
  ['How do I reset my password?', 'How can I reset my password?'],
  ['What is the capital of France?', "What's the capital of France?"],
  ['What are some good tips for self study?', 'What are the best tips for self studying?'],
  ['How can I improve my English speaking skills?', 'How do I improve my English speaking skills?'],
  ['Convert 100 Celsius to Fahrenheit', 'convert 100 celsius to fahrenheit please'],
];

describe('guards on hand-written pairs (text only)', () => {
  it.each(LOOK_ALIKES)('%s: refuses "%s" vs "%s"', (guard, left, right) => {
    const { guards } = comparePair(analyzeText(right), analyzeText(left), 0.99);
    expect(guards).toContain(guard);
  });

  it.each(PARAPHRASES)('no guard fires on "%s" vs "%s"', (left, right) => {
    expect(comparePair(analyzeText(right), analyzeText(left), 0.99).guards).toEqual([]);
  });
});

describe('the cache with the local model', () => {
  let cache: SemanticCache;
  const scope = { namespace: 'guards', model: 'test' };

  beforeAll(async () => {
    // A lenient threshold: the point is that guards refuse look-alikes whatever the score.
    cache = createSemanticCache({ embedder: localEmbedder(), targetFalseHitRate: 0.2 });
    // Loads the model (the packages are installed here): a warm-up that cannot load rejects.
    await Promise.all([cache.ready(), cache.warmUp()]);
  }, 60_000);
  afterAll(() => cache.close());

  it('refuses every look-alike (by a guard wherever the embedding calls them similar)', async () => {
    let byGuard = 0;
    for (const [, stored, asked] of LOOK_ALIKES) {
      await cache.clear();
      await cache.store(stored, `answer to: ${stored}`, { scope });
      const result = await cache.lookup(asked, { scope });
      expect(result, `${stored} / ${asked}`).toMatchObject({ hit: false });
      if (!result.hit && result.reason.startsWith('guard:')) byGuard++;
    }
    expect(cache.stats().hits).toBe(0);
    expect(byGuard).toBeGreaterThanOrEqual(LOOK_ALIKES.length - 3);
  }, 60_000);

  it('answers paraphrases', async () => {
    for (const [stored, asked] of PARAPHRASES) {
      await cache.clear();
      await cache.store(stored, `answer to: ${stored}`, { scope });
      const result = await cache.lookup(asked, { scope });
      expect(result, `${stored} / ${asked}`).toMatchObject({
        hit: true,
        response: `answer to: ${stored}`,
      });
    }
  }, 60_000);
});
