import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveConfig } from '../../src/gateway/config.js';
import { type MockGateway, startMockGateway } from '../helpers/gateway.js';

const KEY = 'price-key-0123456789';
const ADMIN = { authorization: 'Bearer admin-key-0123456789' };

interface Answer {
  status: number;
  costUsd: string | null;
  body: {
    usage?: { prompt_tokens: number; completion_tokens: number };
    error?: { code: string; scope?: string };
  };
}

let running: MockGateway;
let counter = 0;

beforeAll(async () => {
  running = await startMockGateway(
    [
      // Not in the price table: priced only by models[].price (USD per 1M tokens, as
      // cost.prices), once as numbers and once as decimal strings.
      { name: 'house-model', provider: 'mock', price: { input: 3, output: 12 } },
      { name: 'house-strings', provider: 'mock', price: { input: '0.25', output: '1.5' } },
      // A price that differs from the price table's: the configured one wins.
      { name: 'mock-small', provider: 'mock', price: { input: 7, output: 21 } },
      // Another name for a table model: priced as its upstream model.
      { name: 'renamed', provider: 'mock', upstreamModel: 'mock-large' },
    ],
    {
      keys: [{ name: 'pricing', key: KEY }],
      admin: { key: 'admin-key-0123456789' },
      budgets: [{ scope: 'model:house-model', window: 'daily', limitUsd: '0.0002' }],
    },
  );
});

afterAll(async () => {
  await running?.close();
});

async function ask(model: string, maxTokens = 30): Promise<Answer> {
  const response = await fetch(`${running.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      model,
      max_tokens: maxTokens,
      messages: [{ role: 'user', content: `what does ${model} cost? (${++counter})` }],
    }),
  });
  return {
    status: response.status,
    costUsd: response.headers.get('x-sluice-cost-usd'),
    body: (await response.json()) as Answer['body'],
  };
}

/** The cost of an answer's usage at USD-per-1M-token prices, in nano-dollars. */
function nanosOf(answer: Answer, inputPerMillion: number, outputPerMillion: number): number {
  const usage = answer.body.usage;
  if (usage === undefined) throw new Error(`no usage in ${JSON.stringify(answer.body)}`);
  // $X per 1M tokens is X × 1,000 nano-dollars a token.
  return (
    usage.prompt_tokens * inputPerMillion * 1_000 +
    usage.completion_tokens * outputPerMillion * 1_000
  );
}

describe('models[].price', () => {
  it('prices a model the price table does not know, in USD per 1M tokens like cost.prices', async () => {
    const answer = await ask('house-strings');
    expect(answer.status).toBe(200);
    const expected = nanosOf(answer, 0.25, 1.5);
    expect(expected).toBeGreaterThan(0);
    expect(answer.costUsd).toBe((expected / 1e9).toFixed(9));
  });

  it('wins over the price table for that model', async () => {
    const answer = await ask('mock-small');
    expect(answer.status).toBe(200);
    expect(answer.costUsd).toBe((nanosOf(answer, 7, 21) / 1e9).toFixed(9));
  });

  it('prices a renamed model as its upstream model when it has no price of its own', async () => {
    const answer = await ask('renamed');
    expect(answer.status).toBe(200);
    // mock-large in the bundled table: $2 in, $8 out per 1M tokens.
    expect(answer.costUsd).toBe((nanosOf(answer, 2, 8) / 1e9).toFixed(9));
  });

  it('records the cost in the ledger and a budget on the model refuses once it is spent', async () => {
    const first = await ask('house-model');
    expect(first.status).toBe(200);
    const firstNanos = nanosOf(first, 3, 12);
    expect(first.costUsd).toBe((firstNanos / 1e9).toFixed(9));
    const ledger = (await (
      await fetch(`${running.url}/admin/ledger?format=json`, { headers: ADMIN })
    ).json()) as { data: { model: string; costNanos: number }[] };
    expect(ledger.data.filter((row) => row.model === 'house-model')[0]?.costNanos).toBe(firstNanos);
    // $0.0002 at $3/$12 per 1M tokens: a few requests at most.
    let refusal: Answer | undefined;
    for (let attempt = 0; attempt < 40 && refusal === undefined; attempt++) {
      const answer = await ask('house-model');
      if (answer.status === 429) refusal = answer;
      else expect(answer.status).toBe(200);
    }
    expect(refusal?.body.error).toMatchObject({
      code: 'budget_exceeded',
      scope: 'model:house-model',
    });
  });
});

describe('models[].price in the configuration', () => {
  it('names the field of a price that is not a decimal number of USD per 1M tokens', () => {
    const withPrice = (price: { input: number | string; output: number | string }) => () =>
      resolveConfig(
        {
          providers: [{ name: 'p', type: 'openai-compatible', baseUrl: 'http://127.0.0.1:1/v1' }],
          models: [{ name: 'm', provider: 'p', price }],
        },
        'sluice.yaml',
      );
    expect(withPrice({ input: 'abc', output: 1 })).toThrow(
      'sluice.yaml: models.0.price.input must be a decimal number',
    );
    // Finer than a pico-dollar per token cannot be priced exactly.
    expect(withPrice({ input: 1, output: '0.0000001' })).toThrow(
      'sluice.yaml: models.0.price.output',
    );
    expect(() => withPrice({ input: '0.15', output: 0.6 })()).not.toThrow();
  });
});
