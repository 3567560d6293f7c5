import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import type { GatewayConfigFile } from '../gateway/config.js';
import { createGateway } from '../gateway/gateway.js';
import { createMockProvider } from '../mock-provider/index.js';
import { ConfigError } from '../shared/errors.js';
import { quantile } from '../shared/quantile.js';
import { type DemoMessage, type DemoSession, demoSessions, searchResult } from './demo-workload.js';
import { withTemporaryDirectory } from './temporary-directory.js';

interface Measured {
  latenciesMs: number[];
  cache: Record<string, number>;
  failures: number;
}

/**
 * `sluice demo`: a mock upstream with realistic latency, the gateway in front of it on
 * embedded defaults (memory + a SQLite file), and an agent workload replayed twice: straight
 * to the upstream, then through Sluice. Prints what Sluice saved. Its files live in a
 * temporary folder, removed at the end (also on Ctrl-C); nothing is written to the current one.
 */
export async function runGatewayDemo(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      sessions: { type: 'string', default: '80' },
      concurrency: { type: 'string', default: '8' },
      'ttft-ms': { type: 'string', default: '60' },
      'token-ms': { type: 'string', default: '3' },
    },
    strict: true,
  });
  const sessionCount = positive(values.sessions, '--sessions');
  const concurrency = positive(values.concurrency, '--concurrency');
  const ttftMs = positive(values['ttft-ms'], '--ttft-ms', true);
  const tokenMs = positive(values['token-ms'], '--token-ms', true);

  await withTemporaryDirectory('sluice-demo-', async (directory) => {
    const upstream = createMockProvider({ ttftMs, tokenMs });
    const { url: upstreamUrl } = await upstream.listen(0);
    try {
      const gateway = createGateway(demoGatewayConfig(directory, upstreamUrl), { logger: false });
      try {
        const { url } = await gateway.listen({ port: 0 });
        const sessions = demoSessions(sessionCount);
        const agents = count(sessions.map((session) => session.agent));
        console.log(
          `sluice demo: ${sessions.length} agent sessions (${Object.entries(agents)
            .map(([agent, number]) => `${number} ${agent}`)
            .join(
              ', ',
            )}), ${concurrency} at a time; mock upstream ${ttftMs} ms to first token + ${tokenMs} ms/token`,
        );
        console.log('  1/2 straight to the upstream ...');
        const direct = await replay(upstreamUrl, sessions, concurrency);
        const directCalls = upstream.stats().requests;
        upstream.reset();
        console.log(`  2/2 through the Sluice gateway at ${url}/v1 ...`);
        const viaSluice = await replay(`${url}/v1`, sessions, concurrency);
        const sluiceCalls = upstream.stats().requests;
        report(direct, viaSluice, directCalls, sluiceCalls);
      } finally {
        await gateway.close();
      }
    } finally {
      await upstream.close();
    }
  });
}

/**
 * The demo gateway's configuration: embedded defaults, except that every file it writes (the
 * SQLite cache and semantic store, the cost ledger) lives in `directory`, a temporary folder
 * removed after the run, so the demo's requests never reach a gateway later started in the
 * user's folder.
 */
export function demoGatewayConfig(directory: string, upstreamUrl: string): GatewayConfigFile {
  return {
    store: { sqlite: join(directory, 'sluice.db') },
    cost: { ledger: join(directory, 'ledger.db') },
    // The reworded questions are what the semantic cache is for.
    semantic: { enabled: true, targetFalseHitRate: 0.01 },
    providers: [{ name: 'mock', type: 'openai-compatible', baseUrl: upstreamUrl }],
    models: [{ name: '*', provider: 'mock' }],
  };
}

function report(
  direct: Measured,
  viaSluice: Measured,
  directCalls: number,
  sluiceCalls: number,
): void {
  const requests = viaSluice.latenciesMs.length;
  const hits = viaSluice.cache.hit ?? 0;
  const rows: [string, string, string][] = [
    ['requests', String(direct.latenciesMs.length), String(requests)],
    ['upstream calls', String(directCalls), String(sluiceCalls)],
    ['cache hits', '-', `${hits} (${((100 * hits) / Math.max(1, requests)).toFixed(1)}%)`],
    [
      'semantic hits',
      '-',
      `${viaSluice.cache['semantic-hit'] ?? 0} (${((100 * (viaSluice.cache['semantic-hit'] ?? 0)) / Math.max(1, requests)).toFixed(1)}%)`,
    ],
    [
      'latency p50',
      `${percentile(direct.latenciesMs, 0.5).toFixed(1)} ms`,
      `${percentile(viaSluice.latenciesMs, 0.5).toFixed(1)} ms`,
    ],
    [
      'latency p95',
      `${percentile(direct.latenciesMs, 0.95).toFixed(1)} ms`,
      `${percentile(viaSluice.latenciesMs, 0.95).toFixed(1)} ms`,
    ],
    ['failures', String(direct.failures), String(viaSluice.failures)],
  ];
  console.log('');
  console.log(`  ${'metric'.padEnd(16)}${'direct'.padStart(16)}${'via Sluice'.padStart(18)}`);
  for (const [name, left, right] of rows) {
    console.log(`  ${name.padEnd(16)}${left.padStart(16)}${right.padStart(18)}`);
  }
  const avoided = directCalls - sluiceCalls;
  console.log('');
  console.log(
    `  upstream calls avoided: ${avoided} of ${directCalls} (${((100 * avoided) / Math.max(1, directCalls)).toFixed(1)}%)`,
  );
  console.log(
    '  Repeated questions are answered by the exact cache; reworded ones by the semantic cache when its verifier is confident.',
  );
}

async function replay(
  baseUrl: string,
  sessions: readonly DemoSession[],
  concurrency: number,
): Promise<Measured> {
  const measured: Measured = { latenciesMs: [], cache: {}, failures: 0 };
  let next = 0;
  const worker = async () => {
    while (next < sessions.length) {
      const session = sessions[next++];
      if (session !== undefined) await runSession(baseUrl, session, measured);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return measured;
}

async function runSession(
  baseUrl: string,
  session: DemoSession,
  measured: Measured,
): Promise<void> {
  const messages: DemoMessage[] = [{ role: 'system', content: session.system }];
  for (const turn of session.turns) {
    messages.push({ role: 'user', content: turn });
    // A tool-using turn: the model asks for a tool, the agent runs it, the model answers.
    for (let step = 0; step < 3; step++) {
      const answer = await complete(baseUrl, session, messages, measured);
      if (answer === undefined) return;
      messages.push(answer);
      const call = answer.tool_calls?.[0];
      if (call === undefined) break;
      let query = '';
      try {
        query = String((JSON.parse(call.function.arguments) as { query?: unknown }).query ?? '');
      } catch {
        query = call.function.arguments;
      }
      messages.push({ role: 'tool', tool_call_id: call.id, content: searchResult(query) });
    }
  }
}

async function complete(
  baseUrl: string,
  session: DemoSession,
  messages: DemoMessage[],
  measured: Measured,
): Promise<DemoMessage | undefined> {
  const body = {
    model: 'gpt-4o-mini',
    messages,
    temperature: 0,
    max_tokens: 48,
    ...(session.tools === undefined ? {} : { tools: session.tools }),
    ...(session.stream ? { stream: true } : {}),
  };
  const started = performance.now();
  try {
    const response = await fetch(`${baseUrl}/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    const text = await response.text();
    measured.latenciesMs.push(performance.now() - started);
    const cache = response.headers.get('x-sluice-cache') ?? 'none';
    measured.cache[cache] = (measured.cache[cache] ?? 0) + 1;
    if (!response.ok) {
      measured.failures += 1;
      return undefined;
    }
    return session.stream
      ? assembleStream(text)
      : (JSON.parse(text) as { choices: { message: DemoMessage }[] }).choices[0]?.message;
  } catch {
    measured.failures += 1;
    return undefined;
  }
}

/** Rebuilds the assistant message from an SSE body. */
function assembleStream(text: string): DemoMessage {
  let content = '';
  for (const line of text.split('\n')) {
    if (!line.startsWith('data: ') || line === 'data: [DONE]') continue;
    const chunk = JSON.parse(line.slice(6)) as {
      choices: { delta?: { content?: string | null } }[];
    };
    content += chunk.choices[0]?.delta?.content ?? '';
  }
  return { role: 'assistant', content };
}

/** The `q` quantile of `values`; 0 when there are none. */
function percentile(values: readonly number[], q: number): number {
  return values.length === 0 ? 0 : quantile(values, q);
}

function count(values: readonly string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const value of values) counts[value] = (counts[value] ?? 0) + 1;
  return counts;
}

function positive(text: string | undefined, name: string, allowZero = false): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < (allowZero ? 0 : 1)) {
    throw new ConfigError(
      `${name} must be a whole number${allowZero ? '' : ' above 0'}, got '${text}'`,
    );
  }
  return value;
}
