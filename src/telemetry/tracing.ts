/**
 * Traces through the OpenTelemetry API: a SERVER span per model request the gateway answers
 * and a CLIENT span per upstream attempt, named and attributed after OpenTelemetry's HTTP and
 * GenAI semantic conventions (`chat gpt-4o-mini`, `gen_ai.operation.name`,
 * `gen_ai.request.model`, `gen_ai.usage.input_tokens`, ...), plus Sluice's own `sluice.*`
 * attributes (cache result, cost, request id).
 *
 * Sluice depends on `@opentelemetry/api` only: until the application registers an SDK (a
 * tracer provider and a propagator), every span is a no-op that costs tens of nanoseconds. W3C
 * trace context (`traceparent`, `tracestate`) is read from the client and sent upstream through
 * the registered propagator; without one, the client's headers are forwarded as they came, so
 * the upstream's spans still join the agent's trace.
 */
import {
  type Attributes,
  type Context,
  INVALID_SPAN_CONTEXT,
  ProxyTracerProvider,
  propagation,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  type TextMapGetter,
  type TextMapSetter,
  trace,
} from '@opentelemetry/api';

const TRACER_NAME = 'sluice';
const TRACER_VERSION = '0.1.0';
const tracer = trace.getTracer(TRACER_NAME, TRACER_VERSION);

/** The span of a request nothing traces: records nothing, holds nothing, shared. */
const UNTRACED_SPAN: Span = trace.wrapSpanContext(INVALID_SPAN_CONTEXT);

/**
 * Whether spans could be recorded or trace context propagated: an SDK registered a tracer
 * provider or a propagator. Read per request (an SDK may be registered after the gateway
 * starts); a few property reads when none is. A global from another copy of the API counts
 * as registered.
 */
function tracingRegistered(): boolean {
  if (propagation.fields().length > 0) return true;
  const provider = trace.getTracerProvider();
  return (
    !(provider instanceof ProxyTracerProvider) ||
    provider.getDelegateTracer(TRACER_NAME, TRACER_VERSION) !== undefined
  );
}

type IncomingHeaders = Readonly<Record<string, string | string[] | undefined>>;

const headerGetter: TextMapGetter<IncomingHeaders> = {
  get: (carrier, key) => carrier[key],
  keys: (carrier) => Object.keys(carrier),
};

/** Writes injected headers as undici's flat name/value array. */
const flatSetter: TextMapSetter<string[]> = {
  set: (carrier, key, value) => {
    carrier.push(key, value);
  },
};

/** The trace context headers a client may send. */
const TRACE_HEADERS = ['traceparent', 'tracestate'] as const;

/** A model request's span, and the context its upstream calls are made in. */
export interface RequestTrace {
  readonly span: Span;
  /** The context upstream calls are made in (the span's, under the client's). */
  readonly context: Context;
  /** The client's own trace headers, forwarded when no propagator is registered. */
  readonly incoming: readonly string[];
}

/**
 * A traced request: its context is worked out when an upstream call needs it, which a cache
 * hit never does.
 */
class LazyRequestTrace implements RequestTrace {
  readonly span: Span;
  readonly #parent: Context;
  readonly #headers: IncomingHeaders;
  #context: Context | undefined;

  constructor(span: Span, parent: Context, headers: IncomingHeaders) {
    this.span = span;
    this.#parent = parent;
    this.#headers = headers;
  }

  get context(): Context {
    this.#context ??= trace.setSpan(this.#parent, this.span);
    return this.#context;
  }

  get incoming(): readonly string[] {
    return incomingTraceHeaders(this.#headers);
  }
}

/**
 * A request traced by nothing (no SDK registered): no span, context or propagation at all;
 * only the client's own trace headers, forwarded upstream as they came.
 */
class UntracedRequest implements RequestTrace {
  readonly span = UNTRACED_SPAN;
  readonly context = ROOT_CONTEXT;
  readonly #headers: IncomingHeaders;

  constructor(headers: IncomingHeaders) {
    this.#headers = headers;
  }

  get incoming(): readonly string[] {
    return incomingTraceHeaders(this.#headers);
  }
}

function incomingTraceHeaders(headers: IncomingHeaders): string[] {
  const incoming: string[] = [];
  for (const name of TRACE_HEADERS) {
    const value = headers[name];
    if (typeof value === 'string' && value.length <= 512) incoming.push(name, value);
  }
  return incoming;
}

/** The server span's name and attributes, one frozen object per route (spans copy them). */
const serverSpans = new Map<string, { readonly name: string; readonly attributes: Attributes }>();

/** What the gateway knows of a request once it is answered. */
export interface RequestOutcome {
  readonly status: number;
  /** `hit`, `semantic-hit`, `miss` or `bypass`. */
  readonly cache: string;
  readonly requestId: string;
  /**
   * The model the client asked for (empty when refused before it was known), and the one that
   * answered (after aliases and fallbacks).
   */
  readonly requestModel: string;
  readonly responseModel?: string | undefined;
  readonly provider?: string | undefined;
  readonly caller?: string | undefined;
  readonly costUsd?: string | undefined;
  readonly overheadMs: number;
  readonly inputTokens?: number | undefined;
  readonly outputTokens?: number | undefined;
  /** `error.type`: the error's code for a failed request. */
  readonly errorType?: string | undefined;
}

/**
 * Starts the SERVER span of a chat or embeddings request, as a child of the client's trace
 * context when it sent one.
 */
export function startRequestTrace(
  operation: 'chat' | 'embeddings',
  route: string,
  headers: IncomingHeaders,
): RequestTrace {
  if (!tracingRegistered()) return new UntracedRequest(headers);
  const parent = propagation.extract(ROOT_CONTEXT, headers, headerGetter);
  let known = serverSpans.get(route);
  if (known === undefined || known.attributes['gen_ai.operation.name'] !== operation) {
    known = {
      name: `POST ${route}`,
      attributes: Object.freeze({
        'http.request.method': 'POST',
        'http.route': route,
        'gen_ai.operation.name': operation,
      }),
    };
    // Routes are the gateway's own (a handful); bounded all the same.
    if (serverSpans.size < 64) serverSpans.set(route, known);
  }
  const span = tracer.startSpan(
    known.name,
    { kind: SpanKind.SERVER, attributes: known.attributes },
    parent,
  );
  return new LazyRequestTrace(span, parent, headers);
}

/** Ends a request's span with what the gateway answered. */
export function endRequestTrace(requestTrace: RequestTrace, outcome: RequestOutcome): void {
  const span = requestTrace.span;
  if (span.isRecording()) {
    const attributes: Attributes = {
      'http.response.status_code': outcome.status,
      'sluice.cache': outcome.cache,
      'sluice.request_id': outcome.requestId,
      'sluice.overhead_ms': Number(outcome.overheadMs.toFixed(3)),
    };
    // Empty when the request was refused before its model was known.
    if (outcome.requestModel !== '') attributes['gen_ai.request.model'] = outcome.requestModel;
    if (outcome.responseModel !== undefined)
      attributes['gen_ai.response.model'] = outcome.responseModel;
    if (outcome.provider !== undefined) attributes['gen_ai.provider.name'] = outcome.provider;
    if (outcome.caller !== undefined) attributes['sluice.key'] = outcome.caller;
    if (outcome.costUsd !== undefined) attributes['sluice.cost_usd'] = outcome.costUsd;
    if (outcome.inputTokens !== undefined)
      attributes['gen_ai.usage.input_tokens'] = outcome.inputTokens;
    if (outcome.outputTokens !== undefined) {
      attributes['gen_ai.usage.output_tokens'] = outcome.outputTokens;
    }
    if (outcome.errorType !== undefined) attributes['error.type'] = outcome.errorType;
    span.setAttributes(attributes);
    // A server span is an error for a 5xx only: a 4xx is the client's (HTTP conventions).
    if (outcome.status >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
  }
  span.end();
}

/** An upstream attempt's CLIENT span and the headers that carry its context upstream. */
export interface UpstreamTrace {
  readonly span: Span;
  /** Flat name/value pairs for the upstream request (undici's array form); may be empty. */
  readonly headers: readonly string[];
}

/** Starts the CLIENT span of one upstream attempt under the request's span. */
export function startUpstreamTrace(
  requestTrace: RequestTrace | undefined,
  operation: 'chat' | 'embeddings',
  provider: string,
  model: string,
  serverAddress: string | undefined,
): UpstreamTrace {
  // Registered since the request arrived or not, its own trace stays untraced.
  if (requestTrace instanceof UntracedRequest) {
    return { span: UNTRACED_SPAN, headers: requestTrace.incoming };
  }
  const parent = requestTrace?.context ?? ROOT_CONTEXT;
  const attributes: Attributes = {
    'gen_ai.operation.name': operation,
    'gen_ai.provider.name': provider,
    'gen_ai.request.model': model,
  };
  if (serverAddress !== undefined) attributes['server.address'] = serverAddress;
  const span = tracer.startSpan(
    `${operation} ${model}`,
    { kind: SpanKind.CLIENT, attributes },
    parent,
  );
  const headers: string[] = [];
  propagation.inject(trace.setSpan(parent, span), headers, flatSetter);
  // No propagator registered: pass the client's context on unchanged.
  if (headers.length === 0 && requestTrace !== undefined) headers.push(...requestTrace.incoming);
  return { span, headers };
}

/** Ends an upstream attempt's span with the status it answered, or the error it failed with. */
export function endUpstreamTrace(
  upstreamTrace: UpstreamTrace,
  status: number | undefined,
  error?: unknown,
): void {
  const span = upstreamTrace.span;
  if (span.isRecording()) {
    if (status !== undefined) span.setAttribute('http.response.status_code', status);
    if (error !== undefined || (status !== undefined && status >= 400)) {
      const type =
        error !== undefined
          ? (((error as { code?: unknown }).code as string | undefined) ?? 'Error')
          : String(status);
      span.setAttribute('error.type', String(type));
      span.setStatus({ code: SpanStatusCode.ERROR });
      if (error instanceof Error) span.recordException(error);
    }
  }
  span.end();
}
