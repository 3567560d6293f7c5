import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveConfig } from '../../src/gateway/config.js';
import { type MockGateway, startMockGateway } from '../helpers/gateway.js';

/** The alias from docs/configuration.md: a second name for a model on the same provider. */
const ALIASED = [
  { name: 'mock-small', provider: 'mock' },
  { name: 'fast', provider: 'mock', upstreamModel: 'mock-small' },
];

let running: MockGateway;

beforeAll(async () => {
  running = await startMockGateway(ALIASED);
});

afterAll(async () => {
  await running?.close();
});

async function ask(model: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${running.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'cache-control': 'no-store' },
    body: JSON.stringify({ model, messages: [{ role: 'user', content: 'same question' }] }),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

describe('two names for one upstream model', () => {
  it('both answer, from the same upstream model', async () => {
    const direct = await ask('mock-small');
    const aliased = await ask('fast');
    expect(direct.status).toBe(200);
    expect(aliased.status).toBe(200);
    // The mock answers from the model it was sent and the messages: the same upstream model
    // gives the same answer.
    expect(aliased.body.model).toBe('mock-small');
    expect(aliased.body.choices).toEqual(direct.body.choices);
    const listed = (await (await fetch(`${running.url}/v1/models`)).json()) as {
      data: { id: string }[];
    };
    expect(listed.data.map((model) => model.id).sort()).toEqual(['fast', 'mock-small']);
  });

  it('are two deployments with ids from their names', () => {
    const config = resolveConfig({
      providers: [{ name: 'p', type: 'openai-compatible', baseUrl: 'http://127.0.0.1:1/v1' }],
      models: [
        { name: 'gpt-4o-mini', provider: 'p' },
        { name: 'fast', provider: 'p', upstreamModel: 'gpt-4o-mini' },
        { name: 'named', provider: 'p', upstreamModel: 'gpt-4o-mini', deployment: 'eu-mini' },
      ],
    });
    expect(config.models.map((model) => model.deployment)).toEqual([
      'p/gpt-4o-mini',
      'p/fast',
      'eu-mini',
    ]);
  });

  it('refuses a deployment id used twice, naming both entries and a key that exists', () => {
    const clash = () =>
      resolveConfig(
        {
          providers: [{ name: 'p', type: 'openai-compatible', baseUrl: 'http://127.0.0.1:1/v1' }],
          models: [
            { name: 'gpt-4o-mini', provider: 'p' },
            {
              name: 'fast',
              provider: 'p',
              upstreamModel: 'gpt-4o-mini',
              deployment: 'p/gpt-4o-mini',
            },
          ],
        },
        'test.yaml',
      );
    expect(clash).toThrow(
      "test.yaml: models.1.deployment: deployment id 'p/gpt-4o-mini' is already the id of models.0",
    );
    expect(() =>
      resolveConfig({
        providers: [{ name: 'p', type: 'openai-compatible', baseUrl: 'http://127.0.0.1:1/v1' }],
        models: [{ name: '*', provider: 'p', deployment: 'all' }],
      }),
    ).toThrow("models.0.deployment: the '*' model passes names through");
  });
});

describe('GET /v1/models/{id} behind a wildcard', () => {
  it('shows a configured name as listed and any other name as passed through', async () => {
    const wildcard = await startMockGateway([
      { name: 'fast', provider: 'mock', upstreamModel: 'mock-small' },
      { name: '*', provider: 'mock' },
    ]);
    try {
      const one = async (id: string) =>
        (await (await fetch(`${wildcard.url}/v1/models/${encodeURIComponent(id)}`)).json()) as {
          id: string;
          object: string;
          owned_by: string;
        };
      expect(await one('fast')).toEqual({
        id: 'fast',
        object: 'model',
        created: 0,
        owned_by: 'mock',
      });
      expect(await one('vendor/any-model')).toEqual({
        id: 'vendor/any-model',
        object: 'model',
        created: 0,
        owned_by: 'mock',
      });
    } finally {
      await wildcard.close();
    }
  });
});
