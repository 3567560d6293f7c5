import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { propagation, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createGateway, type Gateway } from '../../src/gateway/index.js';
import { chatCompletionJson } from '../helpers/gateway.js';

/** The agent's own span: the trace the gateway's spans must join. */
const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const CLIENT_SPAN_ID = '00f067aa0ba902b7';
const TRACEPARENT = `00-${TRACE_ID}-${CLIENT_SPAN_ID}-01`;

/** An upstream that records each request's headers; answers 500 while `failing`. */
let upstream: Server;
let upstreamUrl = '';
const received: IncomingHttpHeaders[] = [];
let failing = false;

let gateway: Gateway;
let baseUrl = '';
const exporter = new InMemorySpanExporter();
let question = 0;

beforeAll(async () => {
  upstream = createServer((request, response) => {
    received.push(request.headers);
    request.resume();
    request.on('end', () => {
      if (failing) {
        response.writeHead(500, { 'content-type': 'application/json' });
        response.end(JSON.stringify({ error: { message: 'boom', type: 'server_error' } }));
        return;
      }
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(
        chatCompletionJson('upstream-mini', 'hi', { prompt_tokens: 7, completion_tokens: 3 }),
      );
    });
  });
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  upstreamUrl = `http://127.0.0.1:${(upstream.address() as AddressInfo).port}/v1`;
  gateway = createGateway(
    {
      server: { logLevel: 'silent' },
      store: { sqlite: false },
      cost: { ledger: ':memory:' },
      providers: [{ name: 'local', type: 'openai-compatible', baseUrl: upstreamUrl }],
      models: [{ name: 'gpt-4o-mini', provider: 'local', upstreamModel: 'upstream-mini' }],
      keys: [{ name: 'team-a', key: 'tracing-team-key-0001' }],
      routing: { retries: { attempts: 1 } },
    },
    { logger: false },
  );
  baseUrl = (await gateway.listen({ port: 0 })).url;
});

afterAll(async () => {
  await gateway?.close();
  await new Promise((resolve) => upstream?.close(resolve));
  trace.disable();
  propagation.disable();
});

beforeEach(() => {
  received.length = 0;
  failing = false;
  exporter.reset();
});

async function ask(headers: Record<string, string> = {}, content?: string): Promise<Response> {
  question += 1;
  const response = await fetch(`${baseUrl}/v1/chat/completions`, {
    method: 'POST',
    headers: {
      authorization: 'Bearer tracing-team-key-0001',
      'content-type': 'application/json',
      ...headers,
    },
    body: JSON.stringify({
      model: 'gpt-4o-mini',
      messages: [{ role: 'user', content: content ?? `traced question ${question}` }],
    }),
  });
  await response.text();
  return response;
}

/** Spans end as the response leaves: wait until `count` are exported. */
async function spans(count: number): Promise<ReadableSpan[]> {
  for (let waited = 0; exporter.getFinishedSpans().length < count && waited < 2_000; waited += 10) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return exporter.getFinishedSpans();
}

describe('without an OpenTelemetry SDK', () => {
  it('forwards the client’s trace context upstream unchanged', async () => {
    await ask({ traceparent: TRACEPARENT, tracestate: 'vendor=1' });
    expect(received[0]?.traceparent).toBe(TRACEPARENT);
    expect(received[0]?.tracestate).toBe('vendor=1');
    await ask();
    expect(received[1]?.traceparent).toBeUndefined();
  });
});

describe('with an SDK registered', () => {
  beforeAll(() => {
    const provider = new BasicTracerProvider({
      spanProcessors: [new SimpleSpanProcessor(exporter)],
    });
    trace.setGlobalTracerProvider(provider);
    propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  });

  it('joins the client’s trace: a server span, and a client span per upstream call whose context goes upstream', async () => {
    const response = await ask({ traceparent: TRACEPARENT });
    const finished = await spans(2);
    const server = finished.find((span) => span.kind === SpanKind.SERVER) as ReadableSpan;
    const client = finished.find((span) => span.kind === SpanKind.CLIENT) as ReadableSpan;
    expect(server.name).toBe('POST /v1/chat/completions');
    expect(server.spanContext().traceId).toBe(TRACE_ID);
    expect(server.parentSpanContext?.spanId).toBe(CLIENT_SPAN_ID);
    expect(server.attributes).toMatchObject({
      'http.request.method': 'POST',
      'http.route': '/v1/chat/completions',
      'http.response.status_code': 200,
      'gen_ai.operation.name': 'chat',
      'gen_ai.request.model': 'gpt-4o-mini',
      'gen_ai.provider.name': 'local',
      'gen_ai.usage.input_tokens': 7,
      'gen_ai.usage.output_tokens': 3,
      'sluice.cache': 'miss',
      'sluice.key': 'team-a',
      'sluice.request_id': response.headers.get('x-request-id'),
      'sluice.cost_usd': response.headers.get('x-sluice-cost-usd'),
    });
    expect(client.name).toBe('chat upstream-mini');
    expect(client.parentSpanContext?.spanId).toBe(server.spanContext().spanId);
    expect(client.attributes).toMatchObject({
      'gen_ai.operation.name': 'chat',
      'gen_ai.provider.name': 'local',
      'gen_ai.request.model': 'upstream-mini',
      'server.address': '127.0.0.1',
      'http.response.status_code': 200,
    });
    // The upstream sees the gateway's client span as the parent, in the same trace.
    expect(received[0]?.traceparent).toBe(`00-${TRACE_ID}-${client.spanContext().spanId}-01`);
  });

  it('shows a cache hit as a server span with no upstream call', async () => {
    await ask({}, 'asked twice');
    await spans(2);
    exporter.reset();
    await ask({}, 'asked twice');
    const finished = await spans(1);
    expect(finished).toHaveLength(1);
    expect(finished[0]?.attributes['sluice.cache']).toBe('hit');
    expect(finished[0]?.kind).toBe(SpanKind.SERVER);
  });

  it('marks a failed upstream call as an error, and the 5xx answer too', async () => {
    failing = true;
    const response = await ask();
    expect(response.status).toBeGreaterThanOrEqual(500);
    const finished = await spans(2);
    const client = finished.find((span) => span.kind === SpanKind.CLIENT) as ReadableSpan;
    const server = finished.find((span) => span.kind === SpanKind.SERVER) as ReadableSpan;
    expect(client.status.code).toBe(SpanStatusCode.ERROR);
    expect(client.attributes['error.type']).toBe('500');
    expect(server.status.code).toBe(SpanStatusCode.ERROR);
    expect(server.attributes['error.type']).toBe(String(response.status));
  });

  it('does not trace the gateway’s other routes', async () => {
    await fetch(`${baseUrl}/healthz`).then((response) => response.text());
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(exporter.getFinishedSpans()).toHaveLength(0);
  });
});
