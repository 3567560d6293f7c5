import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBudgets } from '../../src/cost/budgets.js';
import { createMockProvider, type MockProvider } from '../../src/mock-provider/index.js';
import { ensureBuilt, ROOT } from '../helpers/build.js';
import { redisAvailable, redisUrl } from '../helpers/redis.js';

const DB = 7;
const available = await redisAvailable();
/** Node starts, loads the package and answers in about a second here; the bound is generous. */
const EXIT_WITHIN_MS = 10_000;

interface Outcome {
  code: number | null;
  exitedByItself: boolean;
  output: string;
}

/** Runs an ES module script in its own Node process, from the checkout's root (so `openai` resolves). */
function runScript(source: string, args: string[]): Promise<Outcome> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', source, '--', ...args], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    let exitedByItself = true;
    const deadline = setTimeout(() => {
      exitedByItself = false;
      child.kill('SIGKILL');
    }, EXIT_WITHIN_MS);
    child.once('exit', (code) => {
      clearTimeout(deadline);
      resolve({ code, exitedByItself, output });
    });
  });
}

/**
 * A script wraps a client with Sluice on Redis (cache, bus, budgets and rate limits all hold
 * connections), makes one call, and ends without `close()`: it must exit by itself, with its
 * answer cached in Redis and its spend counted on the shared budget (the first call waits for
 * the budgets' Redis connection instead of counting in the process's memory only).
 */
describe.skipIf(!available)('a script using Sluice with Redis exits without close()', () => {
  let upstream: MockProvider;
  let upstreamUrl = '';
  let dist = '';
  const admin = new Redis(redisUrl(DB));
  const prefixes: string[] = [];

  beforeAll(async () => {
    dist = pathToFileURL(ensureBuilt()).href;
    upstream = createMockProvider();
    upstreamUrl = (await upstream.listen(0)).url;
  }, 180_000);

  afterAll(async () => {
    await upstream?.close();
    for (const prefix of prefixes) {
      const keys = await admin.keys(`*${prefix}*`);
      if (keys.length > 0) await admin.del(...keys);
    }
    admin.disconnect();
  });

  const budget = { scope: 'global', window: 'daily', limitUsd: 5 } as const;

  function config(prefix: string) {
    return JSON.stringify({
      store: { sqlite: false, redis: redisUrl(DB), prefix },
      cost: { ledger: false },
      budgets: [budget],
      rateLimits: [{ scope: 'global', requestsPerMinute: 1_000 }],
    });
  }

  function newPrefix(): string {
    const prefix = `exit-${randomUUID().slice(0, 8)}`;
    prefixes.push(prefix);
    return prefix;
  }

  /** What a script left in Redis: proof that it used Redis, not a fallback to memory. */
  async function cacheEntries(prefix: string): Promise<number> {
    return (await admin.keys(`${prefix}:e:*`)).length;
  }

  /** The spend the script's call left on the shared budget, in nano-dollars. */
  async function spentNanos(prefix: string): Promise<number> {
    const budgets = createBudgets({ budgets: [budget], redis: redisUrl(DB), prefix });
    await budgets.ready();
    const [status] = await budgets.status();
    await budgets.close();
    return status?.spentNanos ?? 0;
  }

  it('wrapOpenAI', async () => {
    const prefix = newPrefix();
    const script = `
      import OpenAI from 'openai';
      import { wrapOpenAI } from '${dist}/adapters/index.js';
      const [baseURL, config] = process.argv.slice(-2);
      const client = wrapOpenAI(new OpenAI({ baseURL, apiKey: 'test' }), { config: JSON.parse(config) });
      const answer = await client.chat.completions.create({
        model: 'mock-small',
        messages: [{ role: 'user', content: 'exit by itself' }],
      });
      console.log('answered', answer.choices.length);
    `;
    const outcome = await runScript(script, [upstreamUrl, config(prefix)]);
    expect(outcome.output).toContain('answered 1');
    expect(outcome.exitedByItself, outcome.output).toBe(true);
    expect(outcome.code).toBe(0);
    expect(await cacheEntries(prefix)).toBe(1);
    // Exiting did not cut off the settlement that runs after the answer: the spend is counted.
    expect(await spentNanos(prefix)).toBeGreaterThan(0);
  }, 30_000);

  it('the AI SDK middleware on createSluice', async () => {
    const prefix = newPrefix();
    const script = `
      import { createOpenAICompatible } from '@ai-sdk/openai-compatible';
      import { generateText, wrapLanguageModel } from 'ai';
      import { sluiceMiddleware } from '${dist}/adapters/index.js';
      import { createSluice } from '${dist}/gateway/index.js';
      const [baseURL, config] = process.argv.slice(-2);
      const sluice = createSluice({
        ...JSON.parse(config),
        providers: [{ name: 'unused', type: 'openai-compatible', baseUrl: baseURL }],
        models: [{ name: '*', provider: 'unused' }],
      });
      const provider = createOpenAICompatible({ name: 'mock', baseURL, apiKey: 'test' });
      const model = wrapLanguageModel({
        model: provider.chatModel('mock-small'),
        middleware: sluiceMiddleware({ sluice }),
      });
      const result = await generateText({ model, prompt: 'exit by itself' });
      console.log('answered', result.text.length > 0);
    `;
    const outcome = await runScript(script, [upstreamUrl, config(prefix)]);
    expect(outcome.output).toContain('answered true');
    expect(outcome.exitedByItself, outcome.output).toBe(true);
    expect(outcome.code).toBe(0);
    expect(await cacheEntries(prefix)).toBe(1);
    expect(await spentNanos(prefix)).toBeGreaterThan(0);
  }, 30_000);
});
