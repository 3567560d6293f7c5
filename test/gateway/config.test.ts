import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig, resolveConfig } from '../../src/gateway/config.js';

const ISSUE_EXAMPLE = `
server: { host: 127.0.0.1, port: 8787 }
store: { sqlite: ./.sluice/sluice.db, redis: redis://127.0.0.1:6379 }   # redis optional
providers:
  - { name: local, type: openai-compatible, baseUrl: http://127.0.0.1:9000/v1, apiKey: \${UPSTREAM_KEY} }
models:
  - { name: gpt-4o-mini, provider: local }
keys:
  - { name: team-a, key: \${TEAM_A_KEY} }
admin: { key: \${SLUICE_ADMIN_KEY} }
cache: { ttl: 1h }
`;

function writeTemp(name: string, text: string): string {
  const directory = mkdtempSync(join(tmpdir(), 'sluice-config-'));
  const path = join(directory, name);
  writeFileSync(path, text);
  return path;
}

const environment = {
  UPSTREAM_KEY: 'upstream-secret',
  TEAM_A_KEY: 'team-a-key-0123456789',
  SLUICE_ADMIN_KEY: 'admin-key-0123456789',
};

describe('gateway configuration', () => {
  it('accepts the documented example, interpolating the environment and applying defaults', () => {
    const config = loadConfig(writeTemp('sluice.yaml', ISSUE_EXAMPLE), environment);
    expect(config.server).toMatchObject({
      host: '127.0.0.1',
      port: 8787,
      bodyLimit: 4 * 1024 * 1024,
    });
    expect(config.store).toMatchObject({
      sqlite: './.sluice/sluice.db',
      redis: 'redis://127.0.0.1:6379',
    });
    expect(config.providers[0]).toMatchObject({
      name: 'local',
      baseUrl: 'http://127.0.0.1:9000/v1',
      apiKey: 'upstream-secret',
      timeoutMs: 60_000,
    });
    expect(config.keys[0]).toMatchObject({
      name: 'team-a',
      key: 'team-a-key-0123456789',
      namespace: 'team-a',
    });
    expect(config.admin?.key).toBe('admin-key-0123456789');
    expect(config.cache.ttlMs).toBe(3_600_000);
  });

  it('reads JSON files too', () => {
    const path = writeTemp(
      'sluice.json',
      JSON.stringify({
        providers: [{ name: 'p', type: 'openai-compatible', baseUrl: 'http://127.0.0.1:1/v1' }],
        models: [{ name: 'm', provider: 'p', upstreamModel: 'upstream-m' }],
      }),
    );
    expect(loadConfig(path, {}).models[0]).toEqual({
      name: 'm',
      provider: 'p',
      upstreamModel: 'upstream-m',
      deployment: 'p/m',
    });
  });

  it('names an unset environment variable and the field that uses it', () => {
    const path = writeTemp('sluice.yaml', ISSUE_EXAMPLE);
    expect(() => loadConfig(path, { ...environment, TEAM_A_KEY: undefined })).toThrow(
      /keys\.0\.key: environment variable TEAM_A_KEY is not set/,
    );
  });

  it('accepts a default for an optional variable', () => {
    const path = writeTemp(
      'sluice.yaml',
      `providers: [{ name: p, type: openai-compatible, baseUrl: "\${BASE:-http://127.0.0.1:9/v1}" }]
models: [{ name: m, provider: p }]`,
    );
    expect(loadConfig(path, {}).providers[0]?.baseUrl).toBe('http://127.0.0.1:9/v1');
  });

  it('fails with the path of every bad field and what was expected', () => {
    const attempt = () =>
      resolveConfig(
        {
          server: { port: 70_000 },
          providers: [{ name: 'p', type: 'grpc', baseUrl: 'not a url' }],
          models: [{ name: 'm', provider: 'p' }],
          extra: true,
        },
        'bad.yaml',
      );
    expect(attempt).toThrow(/invalid configuration in bad\.yaml/);
    expect(attempt).toThrow(/server\.port: /);
    expect(attempt).toThrow(/providers\.0\.type: /);
    expect(attempt).toThrow(/providers\.0\.baseUrl: /);
    expect(attempt).toThrow(/\(root\): Unrecognized key/);
  });

  it('refuses a model on an unknown provider, duplicates, bad durations and short keys', () => {
    const providers = [{ name: 'p', type: 'openai-compatible', baseUrl: 'http://127.0.0.1:1/v1' }];
    expect(() => resolveConfig({ providers, models: [{ name: 'm', provider: 'q' }] })).toThrow(
      /models\.0\.provider: unknown provider 'q'/,
    );
    expect(() =>
      resolveConfig({
        providers,
        models: [
          { name: 'm', provider: 'p' },
          { name: 'm', provider: 'p' },
        ],
      }),
    ).toThrow(/duplicate model 'm' on provider 'p'/);
    expect(() =>
      resolveConfig({ providers, models: [{ name: 'm', provider: 'p' }], cache: { ttl: 'soon' } }),
    ).toThrow(/cache\.ttl must be milliseconds or a string/);
    expect(() =>
      resolveConfig({
        providers,
        models: [{ name: 'm', provider: 'p' }],
        keys: [{ name: 'k', key: 'short' }],
      }),
    ).toThrow(/keys\.0\.key: a key of at least 16 characters/);
  });

  it('never echoes a duplicated key value', () => {
    const secret = 'duplicated-secret-value-1234';
    const providers = [{ name: 'p', type: 'openai-compatible', baseUrl: 'http://127.0.0.1:1/v1' }];
    let message = '';
    try {
      resolveConfig({
        providers,
        models: [{ name: 'm', provider: 'p' }],
        keys: [
          { name: 'a', key: secret },
          { name: 'b', key: secret },
        ],
      });
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toMatch(/duplicate key value/);
    expect(message).not.toContain(secret);
  });

  it('binds loopback only when no keys are configured', () => {
    const base = {
      providers: [{ name: 'p', type: 'openai-compatible', baseUrl: 'http://127.0.0.1:1/v1' }],
      models: [{ name: 'm', provider: 'p' }],
    };
    expect(() => resolveConfig({ ...base, server: { host: '0.0.0.0' } })).toThrow(
      /binds loopback only/,
    );
    expect(
      resolveConfig({
        ...base,
        server: { host: '0.0.0.0' },
        keys: [{ name: 'k', key: 'a-long-enough-key-123' }],
      }).server.host,
    ).toBe('0.0.0.0');
  });

  it('bounds how long a request may take to arrive: server.bodyTimeout and server.headersTimeout', () => {
    const base = {
      providers: [{ name: 'p', type: 'openai-compatible', baseUrl: 'http://127.0.0.1:1/v1' }],
      models: [{ name: 'm', provider: 'p' }],
    };
    expect(resolveConfig(base).server).toMatchObject({
      bodyTimeoutMs: 30_000,
      headersTimeoutMs: 10_000,
    });
    expect(
      resolveConfig({ ...base, server: { bodyTimeout: '2m', headersTimeout: 2_500 } }).server,
    ).toMatchObject({ bodyTimeoutMs: 120_000, headersTimeoutMs: 2_500 });
    expect(() => resolveConfig({ ...base, server: { bodyTimeout: 0 } })).toThrow(
      /server\.bodyTimeout must be more than 0/,
    );
    expect(() => resolveConfig({ ...base, server: { headersTimeout: 'soon' } })).toThrow(
      /server\.headersTimeout must be milliseconds or a string/,
    );
  });

  it('without a file, builds a single-provider gateway from OPENAI_API_KEY', () => {
    const config = loadConfig(undefined, {
      OPENAI_API_KEY: 'sk-test',
      OPENAI_BASE_URL: 'http://127.0.0.1:5/v1',
    });
    expect(config.providers).toHaveLength(1);
    expect(config.providers[0]).toMatchObject({
      baseUrl: 'http://127.0.0.1:5/v1',
      apiKey: 'sk-test',
    });
    expect(config.models).toEqual([{ name: '*', provider: 'openai', upstreamModel: undefined }]);
    expect(config.server.host).toBe('127.0.0.1');
    expect(config.store.sqlite).toBe('./.sluice/sluice.db');
    expect(() => loadConfig(undefined, {})).toThrow(/set OPENAI_API_KEY/);
  });

  it('keeps the ledger beside store.sqlite unless cost.ledger is given', () => {
    const base = {
      providers: [{ name: 'p', type: 'openai-compatible', baseUrl: 'http://127.0.0.1:1/v1' }],
      models: [{ name: 'm', provider: 'p' }],
    };
    const ledgerOf = (extra: Record<string, unknown>) =>
      resolveConfig({ ...base, ...extra }).cost.ledger;
    expect(ledgerOf({})).toBe(join('.sluice', 'ledger.db'));
    expect(ledgerOf({ store: { sqlite: '/var/lib/sluice/cache.db' } })).toBe(
      '/var/lib/sluice/ledger.db',
    );
    expect(ledgerOf({ store: { sqlite: 'state/one.db' } })).toBe(join('state', 'ledger.db'));
    expect(ledgerOf({ store: { sqlite: ':memory:' } })).toBe(':memory:');
    expect(ledgerOf({ store: { sqlite: false } })).toBe(false);
    expect(
      ledgerOf({ store: { sqlite: '/var/lib/sluice/cache.db' }, cost: { ledger: '/x/l.db' } }),
    ).toBe('/x/l.db');
  });

  it('reports a missing file and a syntax error with the path', () => {
    expect(() => loadConfig('/nonexistent/sluice.yaml', {})).toThrow(
      /cannot read the configuration file \/nonexistent\/sluice\.yaml/,
    );
    const path = writeTemp('broken.yaml', 'providers: [unclosed');
    expect(() => loadConfig(path, {})).toThrow(/broken\.yaml is not valid YAML/);
  });
});
