import {
  createGateway,
  type Gateway,
  type GatewayConfigFile,
  type GatewayOptions,
} from '../../src/gateway/index.js';
import { createMockProvider, type MockProvider } from '../../src/mock-provider/index.js';

/** A gateway in front of its own mock upstream (provider `mock`), both on free ports. */
export interface MockGateway {
  readonly gateway: Gateway;
  readonly upstream: MockProvider;
  /** The gateway's origin. */
  readonly url: string;
  close(): Promise<void>;
}

/**
 * Starts a mock provider and a gateway routing `models` to it, on embedded defaults fit for
 * tests: no SQLite cache file, an in-memory ledger, silent logs. `extra` adds or replaces
 * top-level configuration keys.
 */
export async function startMockGateway(
  models: GatewayConfigFile['models'],
  extra: Partial<GatewayConfigFile> = {},
  options: GatewayOptions = { logger: false },
): Promise<MockGateway> {
  const upstream = createMockProvider();
  const { url: upstreamUrl } = await upstream.listen(0);
  const gateway = createGateway(
    {
      server: { logLevel: 'silent' },
      store: { sqlite: false },
      cost: { ledger: ':memory:' },
      providers: [{ name: 'mock', type: 'openai-compatible', baseUrl: upstreamUrl }],
      models,
      ...extra,
    },
    options,
  );
  const { url } = await gateway.listen({ port: 0 });
  return {
    gateway,
    upstream,
    url,
    async close() {
      await gateway.close();
      await upstream.close();
    },
  };
}

/** A minimal OpenAI chat completion body, for hand-written upstreams in tests. */
export function chatCompletionJson(
  model: string,
  content: string,
  usage: { prompt_tokens: number; completion_tokens: number },
): string {
  return JSON.stringify({
    id: 'chatcmpl-1',
    object: 'chat.completion',
    created: 1,
    model,
    choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }],
    usage: { ...usage, total_tokens: usage.prompt_tokens + usage.completion_tokens },
  });
}
