import { describe, expect, it } from 'vitest';
import { type GatewayConfigFile, resolveConfig } from '../../src/gateway/config.js';
import { checkReferences } from '../../src/gateway/config-references.js';
import { createGateway } from '../../src/gateway/index.js';

/** Two keys (one tagged), two models on two providers, an alias. */
const BASE: GatewayConfigFile = {
  providers: [
    { name: 'openai', type: 'openai-compatible', baseUrl: 'http://127.0.0.1:1/v1' },
    { name: 'local', type: 'openai-compatible', baseUrl: 'http://127.0.0.1:2/v1' },
  ],
  models: [
    { name: 'gpt-4o-mini', provider: 'openai' },
    { name: 'gpt-4o', provider: 'openai' },
    { name: 'llama', provider: 'local', price: { input: 0, output: 0 } },
  ],
  keys: [
    { name: 'team-a', key: 'team-a-key-0123456789', tags: ['batch'] },
    { name: 'team-b', key: 'team-b-key-0123456789' },
  ],
  routing: { aliases: { auto: { candidates: ['gpt-4o-mini', 'gpt-4o'] } } },
};

/** Resolves and checks as the gateway does: its callers are its keys. */
function resolve(extra: Partial<GatewayConfigFile>) {
  return gatewayConfig({ ...BASE, ...extra });
}

function gatewayConfig(file: GatewayConfigFile) {
  const config = resolveConfig(file, 'sluice.yaml');
  checkReferences(config, { callersAreKeys: true });
  return config;
}

const budget = (scope: string) => ({ scope, window: 'daily' as const, limitUsd: 1 });

describe('names a configuration refers to', () => {
  it('refuses a budget scope that names no key, model, provider or tag, with the closest name', () => {
    expect(() => resolve({ budgets: [budget('global'), budget('key:team-aa')] })).toThrow(
      "sluice.yaml: budgets.1.scope: 'key:team-aa' names no configured key (keys[].name); did you mean 'key:team-a'? (keys: team-a, team-b)",
    );
    expect(() => resolve({ budgets: [budget('model:gpt-4o-mni')] })).toThrow(
      "budgets.0.scope: 'model:gpt-4o-mni' names no configured model (models[].name); did you mean 'model:gpt-4o-mini'?",
    );
    expect(() => resolve({ budgets: [budget('provider:opnai')] })).toThrow(
      "budgets.0.scope: 'provider:opnai' names no configured provider (providers[].name); did you mean 'provider:openai'?",
    );
    expect(() => resolve({ budgets: [budget('tag:bach')] })).toThrow(
      "budgets.0.scope: 'tag:bach' names no configured tag (keys[].tags); did you mean 'tag:batch'?",
    );
    // Nothing close: no suggestion, the names there are.
    expect(() => resolve({ budgets: [budget('key:nobody-at-all')] })).toThrow(
      "'key:nobody-at-all' names no configured key (keys[].name) (keys: team-a, team-b)",
    );
  });

  it('refuses a rate-limit scope that names nothing, and accepts its wildcards', () => {
    expect(() =>
      resolve({ rateLimits: [{ scope: 'model:nomodel', requestsPerMinute: 10 }] }),
    ).toThrow("sluice.yaml: rateLimits.0.scope: 'model:nomodel' names no configured model");
    const config = resolve({
      rateLimits: [
        { scope: 'global', requestsPerMinute: 1000 },
        { scope: 'key:*', requestsPerMinute: 100 },
        { scope: 'model:*', requestsPerMinute: 100 },
        { scope: 'tag:*', requestsPerMinute: 100 },
        { scope: 'key:team-b', requestsPerMinute: 10 },
        { scope: 'tag:batch', requestsPerMinute: 10 },
      ],
    });
    expect(config.rateLimits).toHaveLength(6);
  });

  it('accepts every scope that names something configured', () => {
    const config = resolve({
      budgets: [
        budget('global'),
        budget('key:team-a'),
        budget('model:llama'),
        budget('provider:local'),
        budget('tag:batch'),
      ],
    });
    expect(config.budgets).toHaveLength(5);
  });

  it('refuses a budget wildcard and a routing alias as a model scope, saying why', () => {
    expect(() => resolve({ budgets: [budget('key:*')] })).toThrow(
      "budgets.0.scope: 'key:*': a budget takes no wildcard",
    );
    expect(() => resolve({ budgets: [budget('model:auto')] })).toThrow(
      "budgets.0.scope: 'model:auto' names a routing alias",
    );
    expect(() => resolve({ rateLimits: [{ scope: 'model:auto', maxConcurrent: 1 }] })).toThrow(
      "rateLimits.0.scope: 'model:auto' names a routing alias",
    );
  });

  it('checks key scopes against configured keys; with none, the caller is anonymous', () => {
    const open = { ...BASE, keys: [] };
    expect(gatewayConfig({ ...open, budgets: [budget('key:anonymous')] }).budgets).toHaveLength(1);
    expect(() => gatewayConfig({ ...open, budgets: [budget('key:team-a')] })).toThrow(
      "'key:team-a' names no configured key",
    );
    expect(() => gatewayConfig({ ...open, budgets: [budget('tag:batch')] })).toThrow(
      "'tag:batch' names no configured tag (keys[].tags) (no tags are configured)",
    );
  });

  it('accepts any model name when a wildcard model passes names through', () => {
    const config = gatewayConfig({
      ...BASE,
      models: [...(BASE.models ?? []), { name: '*', provider: 'openai' }],
      budgets: [budget('model:o3')],
      rateLimits: [{ scope: 'model:o4-mini', requestsPerMinute: 5 }],
    });
    expect(config.budgets).toHaveLength(1);
  });

  it('refuses the other names a configuration refers to when they name nothing', () => {
    expect(() =>
      resolve({
        budgets: [
          {
            ...budget('global'),
            actions: [{ at: 0.5, action: 'downgrade', models: { 'gpt-4o': 'gpt-4o-mnii' } }],
          },
        ],
      }),
    ).toThrow(
      "budgets.0.actions.0.models: 'gpt-4o-mnii' names no configured model (models[].name); did you mean 'gpt-4o-mini'?",
    );
    expect(() => resolve({ semantic: { enabled: true, keys: ['team-c'] } })).toThrow(
      "semantic.keys.0: 'team-c' names no configured key (keys[].name); did you mean 'team-a'?",
    );
    expect(() =>
      resolve({ semantic: { embedder: { provider: 'loca', model: 'text-embedding-3-small' } } }),
    ).toThrow(
      "semantic.embedder.provider: 'loca' names no configured provider (providers[].name); did you mean 'local'?",
    );
    expect(() =>
      resolve({
        keys: [{ name: 'team-a', key: 'team-a-key-0123456789', models: ['gpt-4o', 'lama'] }],
      }),
    ).toThrow(
      "keys.0.models.1: 'lama' names no configured model (models[].name); did you mean 'llama'?",
    );
    // A key may be allowed an alias, or every model.
    expect(
      resolve({
        keys: [{ name: 'team-a', key: 'team-a-key-0123456789', models: ['auto', 'llama', '*'] }],
      }).keys[0]?.models,
    ).toEqual(['auto', 'llama', '*']);
  });

  it('are checked by createGateway before it opens anything', () => {
    expect(() =>
      createGateway(
        { ...BASE, store: { sqlite: false }, budgets: [budget('key:team-aa')] },
        { logger: false },
      ),
    ).toThrow("budgets.0.scope: 'key:team-aa' names no configured key");
  });

  it('leave key and tag names to code in-process, where code names the caller', () => {
    // createSluice and the SDK adapters: the caller is named in code, not among `keys`.
    const config = resolveConfig({
      ...BASE,
      keys: [],
      budgets: [budget('key:research-agent'), budget('tag:research')],
      semantic: { keys: ['research-agent'] },
    });
    expect(config.budgets).toHaveLength(2);
    // Models and providers are the configuration's own in every context.
    expect(() => resolveConfig({ ...BASE, keys: [], budgets: [budget('provider:opnai')] })).toThrow(
      "'provider:opnai' names no configured provider",
    );
  });
});
