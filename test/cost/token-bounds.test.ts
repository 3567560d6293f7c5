import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import {
  type CountingBudget,
  createCostTracker,
  createCountingBudget,
  type EncodingName,
  getTokenizer,
  LONG_CHUNK_CHARS,
} from '../../src/cost/index.js';

/**
 * Counting stays exact for ordinary text, however it is cut into pieces, and is an upper bound
 * (never below the exact count) where exact counting would be costly: pre-tokenizer chunks
 * longer than `LONG_CHUNK_CHARS` (merging is quadratic in a chunk's length: 1 MB of one letter
 * took 11 minutes), and text left when a counting budget's time is spent.
 */
const PLAIN = { disallowedSpecial: new Set<string>() };
const load = createRequire(import.meta.url);
const LIBRARY: Record<EncodingName, { countTokens(text: string, options: unknown): number }> = {
  o200k_base: load('gpt-tokenizer/encoding/o200k_base'),
  cl100k_base: load('gpt-tokenizer/encoding/cl100k_base'),
};
const ENCODINGS: readonly EncodingName[] = ['o200k_base', 'cl100k_base'];
const exact = (encoding: EncodingName, text: string): number =>
  LIBRARY[encoding].countTokens(text, PLAIN);
const bytes = (text: string): number => Buffer.byteLength(text, 'utf8');

function generator(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1_103_515_245 + 12_345) & 0x7fffffff;
    return state / 0x7fffffff;
  };
}

/** Characters that sit on the pre-tokenizer's edges: cases, marks, digits, contractions, spaces. */
const TRICKY = (
  "a b Z Q é ß ǅ \u0301 中 文 Я 1 2 0 ٣ . , ' s t l v e / - \" { } 😀 \ud83d <|endoftext|> 'll 'RE " +
  "'re 'S ʰ ǈ Ⅻ ₂"
)
  .split(' ')
  .concat([' ', ' ', ' ', '  ', '\n', '\r', '\t', '\u00a0', '\u3000', '\u2028', '\n\n', '\r\n']);

/** `chars` characters of `alphabet`, in runs of at most `maxRun` picks. */
function tricky(chars: number, seed: number, maxRun = 12): string {
  const next = generator(seed);
  let text = '';
  while (text.length < chars) {
    const piece = TRICKY[Math.floor(next() * TRICKY.length)] as string;
    text += piece.repeat(1 + Math.floor(next() * maxRun));
  }
  return text;
}

const ORDINARY: Record<string, string> = {
  prose: 'The agent read the log, found the failing test and wrote a short summary. '.repeat(150),
  code: `export function add(a: number, b: number): number {\n  return a + b; // it's fine\n}\n\n`.repeat(
    60,
  ),
  'minified JSON (long runs, short chunks)': JSON.stringify(
    Array.from({ length: 150 }, (_, index) => ({ id: index, name: `item-${index}`, ok: true })),
  ),
  'tool schemas': JSON.stringify([
    {
      type: 'function',
      function: {
        name: 'search_documents',
        description: 'Searches the documents for a query and returns the best matches.',
        parameters: {
          type: 'object',
          properties: { query: { type: 'string' }, limit: { type: 'integer', minimum: 1 } },
          required: ['query'],
        },
      },
    },
  ]).repeat(20),
  'URLs and paths':
    'see https://example.com/a/b/c?query=1&x=2#frag and /usr/local/lib/node_modules/x/index.js; '.repeat(
      40,
    ),
  'CJK and emoji': '今日は良い天気ですね。明日も晴れるでしょう！😀👍🏽 '.repeat(120),
  'lines of numbers': Array.from({ length: 800 }, (_, index) => `${index * 7919}`).join('\n'),
  'indented whitespace': '\t\t  \n    \n\n  x  \r\n'.repeat(200),
};

describe('exact counts of ordinary text', () => {
  for (const encoding of ENCODINGS) {
    for (const [name, text] of Object.entries(ORDINARY)) {
      it(`${encoding}: ${name} (${text.length} characters) counts exactly`, () => {
        const report = { exact: true };
        expect(getTokenizer(encoding).count(text, { report })).toBe(exact(encoding, text));
        expect(report.exact).toBe(true);
      });
    }

    it(`${encoding}: random texts of tricky characters count exactly, cut into pieces anywhere the split allows`, () => {
      const tokenizer = getTokenizer(encoding);
      let exactCounts = 0;
      for (let seed = 1; seed <= 120; seed++) {
        // Runs of up to 3 to 40 picks stay under the long-run threshold some of the time and
        // over it the rest: both ways of cutting text into pieces are exercised.
        const text = tricky(2_500 + (seed % 40) * 60, seed, [3, 8, 12, 40][seed % 4]);
        const report = { exact: true };
        const counted = tokenizer.count(text, { report });
        if (report.exact) {
          exactCounts++;
          expect(counted, `seed ${seed}`).toBe(exact(encoding, text));
        } else expect(counted, `seed ${seed}`).toBeGreaterThanOrEqual(exact(encoding, text));
      }
      // Most texts have no chunk long enough to bound: the exact path is what is checked.
      expect(exactCounts).toBeGreaterThan(80);
    });
  }
});

describe('upper bounds where exact counting is costly', () => {
  const long: Record<string, string> = {
    'one letter': 'a'.repeat(3_000),
    'one capital letter': 'A'.repeat(3_000),
    spaces: `x${' '.repeat(3_000)}y`,
    punctuation: '!'.repeat(3_000),
    base64: Buffer.from(Array.from({ length: 2_400 }, (_, index) => (index * 131) % 256)).toString(
      'base64',
    ),
    'a word then prose': `${'z'.repeat(1_000)} and then ordinary words follow it. `.repeat(3),
  };
  for (const encoding of ENCODINGS) {
    for (const [name, text] of Object.entries(long)) {
      it(`${encoding}: ${name} is at least the exact count and at most its UTF-8 bytes`, () => {
        const report = { exact: true };
        const counted = getTokenizer(encoding).count(`${encoding} ${text}`, { report });
        expect(counted).toBeGreaterThanOrEqual(exact(encoding, `${encoding} ${text}`));
        expect(counted).toBeLessThanOrEqual(bytes(`${encoding} ${text}`));
      });
    }
  }

  it('bounds only the long chunk: the ordinary text around it counts exactly', () => {
    const tokenizer = getTokenizer('o200k_base');
    const before = 'Here is the attachment you asked for: ';
    const blob = 'q'.repeat(LONG_CHUNK_CHARS * 4);
    const after = ' and that is all of it. Thanks!';
    const report = { exact: true };
    expect(tokenizer.count(`${before}${blob}${after}`, { report })).toBe(
      exact('o200k_base', before) + bytes(blob) + exact('o200k_base', after),
    );
    expect(report.exact).toBe(false);
  });

  it('counts megabytes of hostile text in milliseconds of CPU (an exact count takes minutes)', () => {
    const tokenizer = getTokenizer('o200k_base');
    const hostile = [
      'b'.repeat(1_000_000),
      ' '.repeat(1_000_000),
      Buffer.alloc(750_000, 7).toString('hex'),
      `${'x'.repeat(200)}\n`.repeat(5_000),
    ];
    for (const text of hostile) {
      const started = process.cpuUsage();
      const counted = tokenizer.count(text);
      const used = process.cpuUsage(started);
      expect(counted).toBeLessThanOrEqual(bytes(text));
      // CPU time, not wall time: robust to a loaded machine. About 5 ms each here.
      expect((used.user + used.system) / 1_000).toBeLessThan(1_000);
    }
  });
});

/** A budget that allows `pieces` more pieces of text to be counted exactly. */
function piecesBudget(pieces: number): CountingBudget {
  let left = pieces;
  return {
    allows: () => left > 0,
    now: () => 0,
    charge: () => {
      left--;
    },
  };
}

describe('a counting budget', () => {
  const text = 'An ordinary sentence of a long document, counted in pieces. '.repeat(400);

  it('bounds the text left when its time is spent, and remembers only complete counts', () => {
    const tokenizer = getTokenizer('o200k_base');
    const own = `${Date.now()} ${text}`;
    // Three pieces (of about 2,000 characters) counted exactly, the rest bounded.
    const report = { exact: true };
    const bounded = tokenizer.count(own, { budget: piecesBudget(3), report });
    expect(report.exact).toBe(false);
    expect(bounded).toBeGreaterThan(exact('o200k_base', own));
    expect(bounded).toBeLessThan(bytes(own));
    // Not remembered: counted again, exactly, with time to do it.
    const again = { exact: true };
    expect(tokenizer.count(own, { budget: piecesBudget(1_000), report: again })).toBe(
      exact('o200k_base', own),
    );
    expect(again.exact).toBe(true);
    // Remembered now: even an empty budget answers exactly.
    expect(tokenizer.count(own, { budget: piecesBudget(0) })).toBe(exact('o200k_base', own));
  });

  it('is shared: once spent, other counts are bounds until the clock refills it', () => {
    let now = 0;
    const budget = createCountingBudget({ burstMs: 5, now: () => now });
    const tokenizer = getTokenizer('cl100k_base');
    const first = `${Date.now()} first ${text}`;
    const second = `${Date.now()} second ${text}`;
    budget.charge(now - 5); // a burst already spent
    const report = { exact: true };
    expect(tokenizer.count(first, { budget, report })).toBe(bytes(first));
    expect(report.exact).toBe(false);
    now += 10; // idle: the budget refills (up to its burst)
    expect(tokenizer.count(second, { budget })).toBe(exact('cl100k_base', second));
  });

  it('refuses a burst that is not a finite number of ms', () => {
    expect(() => createCountingBudget({ burstMs: -1 })).toThrow(/burstMs/);
    expect(() => createCountingBudget({ burstMs: Number.POSITIVE_INFINITY })).toThrow(/burstMs/);
  });

  it("makes a tracker's estimate say when the prompt is a bound", () => {
    const spent = createCostTracker({ countingBudgetMs: 0 });
    const unlimited = createCostTracker({ countingBudgetMs: false });
    const request = { messages: [{ role: 'user', content: `${Date.now()} ${text}` }] };
    const bound = spent.estimate('gpt-4o-mini', request);
    const counted = unlimited.estimate('gpt-4o-mini', request);
    expect(bound.promptTokensExact).toBe(false);
    expect(counted.promptTokensExact).toBe(true);
    expect(bound.promptTokens).toBeGreaterThan(counted.promptTokens);
    expect(bound.maxCostNanos).toBeGreaterThan(counted.maxCostNanos);
  });
});
