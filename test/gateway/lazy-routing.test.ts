import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type MockGateway, startMockGateway } from '../helpers/gateway.js';

// A configured model is routed on a miss only: a hit is answered before the router is asked.
let served: MockGateway;

beforeAll(async () => {
  served = await startMockGateway(
    [
      { name: 'gpt-4o-mini', provider: 'mock' },
      // A window too small for the long question below: the router refuses it.
      { name: 'tiny', provider: 'mock', upstreamModel: 'mock-small', contextWindow: 64 },
      // A window the bytes of a mid-sized question exceed but its tokens do not.
      {
        name: 'narrow',
        provider: 'mock',
        upstreamModel: 'mock-narrow',
        contextWindow: 400,
        maxOutputTokens: 100,
      },
    ],
    {
      routing: { retries: { attempts: 1 }, breaker: { failures: 2, cooldown: '1m' } },
      cache: { ttl: '1h' },
    },
  );
});

afterAll(async () => {
  await served?.close();
});

const ask = (
  model: string,
  content: string,
  headers: Record<string, string> = {},
  extra: Record<string, unknown> = {},
) =>
  fetch(`${served.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ model, messages: [{ role: 'user', content }], ...extra }),
  });

describe('routing a configured model only on a miss', () => {
  it('routes and explains a miss, answers the repeat from the cache without a route', async () => {
    const miss = await ask('gpt-4o-mini', 'lazy routing question one');
    expect(miss.status).toBe(200);
    expect(miss.headers.get('x-sluice-cache')).toBe('miss');
    // One deployment, no fallbacks: nothing for the router to weigh.
    expect(miss.headers.get('x-sluice-route')).toBe('gpt-4o-mini->gpt-4o-mini (sole deployment)');
    const body = await miss.text();

    const hit = await ask('gpt-4o-mini', 'lazy routing question one');
    expect(hit.status).toBe(200);
    expect(hit.headers.get('x-sluice-cache')).toBe('hit');
    expect(hit.headers.get('x-sluice-route')).toBeNull();
    expect(await hit.text()).toBe(body);
  });

  it('serves cached answers while the circuit is open, and fails fast on misses', async () => {
    const cached = await ask('gpt-4o-mini', 'asked before the outage');
    expect(cached.status).toBe(200);
    await cached.text();

    served.upstream.setOptions({ error500Rate: 1 });
    try {
      for (let index = 0; index < 2; index++) {
        const failed = await ask('gpt-4o-mini', `failing question ${index}`);
        expect(failed.status).toBe(500);
        await failed.text();
      }
      const calls = served.upstream.stats().chatCompletions;
      const refused = await ask('gpt-4o-mini', 'a new question during the outage');
      expect(refused.status).toBe(503);
      expect(((await refused.json()) as { error: { code: string } }).error.code).toBe(
        'circuit_open',
      );

      const hit = await ask('gpt-4o-mini', 'asked before the outage');
      expect(hit.status).toBe(200);
      expect(hit.headers.get('x-sluice-cache')).toBe('hit');
      await hit.text();
      expect(served.upstream.stats().chatCompletions).toBe(calls);
    } finally {
      served.upstream.setOptions({ error500Rate: 0 });
    }
  });

  it('still refuses a request no deployment can hold, with 400 no_route', async () => {
    const calls = served.upstream.stats().chatCompletions;
    const response = await ask('tiny', 'a question far too long for the window '.repeat(20));
    expect(response.status).toBe(400);
    const { error } = (await response.json()) as { error: { code: string; param: string } };
    expect(error.code).toBe('no_route');
    expect(error.param).toBe('model');
    expect(served.upstream.stats().chatCompletions).toBe(calls);
  });

  it('leaves a sole deployment to the router whenever the cheap checks cannot tell', async () => {
    const small = await ask('narrow', 'a short question');
    expect(small.headers.get('x-sluice-route')).toBe('narrow->narrow (sole deployment)');
    await small.text();
    // About 330 bytes but well under 400 tokens: counted, routed, and explained with a cost.
    const mid = await ask(
      'narrow',
      'ten words of a question that fits the window well. '.repeat(5),
    );
    expect(mid.status).toBe(200);
    expect(mid.headers.get('x-sluice-route')).toMatch(/^narrow->narrow cost=/);
    await mid.text();
    // Over the output cap: the router refuses it, as it would have before.
    const greedy = await ask('narrow', 'a short question, again', {}, { max_tokens: 500 });
    expect(greedy.status).toBe(400);
    expect(((await greedy.json()) as { error: { code: string } }).error.code).toBe('no_route');
    // A constraint goes to the router too.
    const strict = await ask('narrow', 'a short question, once more', {
      'x-sluice-min-quality': '0.1',
    });
    expect(strict.status).toBe(200);
    expect(strict.headers.get('x-sluice-route')).toMatch(/^narrow->narrow q>=0\.1 /);
    await strict.text();
  });
});
