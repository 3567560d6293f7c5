import { createHash, randomUUID } from 'node:crypto';
import type {
  LanguageModelV3CallOptions,
  LanguageModelV3Middleware,
  LanguageModelV3StreamPart,
  LanguageModelV3Usage,
} from '@ai-sdk/provider';
import type { AccountedRequest } from '../gateway/accounting.js';
import type { Caller } from '../gateway/auth.js';
import { canonicalJson } from '../gateway/cache-key.js';
import type { Usage } from '../gateway/exchange.js';
import type { Sluice } from '../gateway/sluice.js';
import { type Duration, parseDuration } from '../shared/duration.js';
import { preparePipeline } from './prepare.js';

export interface SluiceMiddlewareOptions {
  /** The pipeline whose cache, budgets and ledger the middleware uses (`createSluice`). */
  sluice: Sluice;
  /** Who the calls are attributed to (budgets, ledger, cache namespace). @default { name: 'in-process' } */
  caller?: { name: string; namespace?: string; tags?: string[] };
  /** How long answers are kept. @default the pipeline's `cache.ttl` */
  ttl?: Duration;
}

type GenerateResult = Awaited<ReturnType<NonNullable<LanguageModelV3Middleware['wrapGenerate']>>>;

/** A generate result as cached: JSON-safe (dates as ISO strings). */
interface CachedGenerate {
  kind: 'ai-sdk-generate';
  result: Omit<GenerateResult, 'request' | 'response'> & {
    response?: { id?: string; modelId?: string; timestamp?: string };
  };
}

interface CachedStream {
  kind: 'ai-sdk-stream';
  parts: LanguageModelV3StreamPart[];
}

/** Call options that do not change the answer stay out of the key. */
const IGNORED = new Set(['abortSignal', 'headers', 'includeRawChunks']);

/**
 * An AI SDK language-model middleware (`wrapLanguageModel({ model, middleware })`): answers
 * repeated calls from Sluice's exact cache (streams replayed part for part), reserves budget
 * before a call goes to the model, and records every call, hit or miss, in the ledger with
 * its cost.
 */
export function sluiceMiddleware(options: SluiceMiddlewareOptions): LanguageModelV3Middleware {
  const { sluice } = options;
  const cache = sluice.cache;
  const ttl =
    options.ttl === undefined ? sluice.config.cache.ttlMs : parseDuration(options.ttl, 'ttl');
  const caller: Caller = {
    name: options.caller?.name ?? 'in-process',
    namespace: options.caller?.namespace ?? options.caller?.name ?? 'in-process',
    models: undefined,
    tags: options.caller?.tags ?? [],
  };
  const accounted = (
    model: { provider: string; modelId: string },
    params: LanguageModelV3CallOptions,
  ): AccountedRequest => ({
    route: 'chat',
    exchange: sluice.exchange(randomUUID(), 'chat', caller),
    caller,
    namespace: caller.namespace,
    target: { model: model.modelId, provider: { name: model.provider } },
    body: { messages: approximateMessages(params), max_tokens: params.maxOutputTokens },
    priority: 'normal',
  });
  const keyOf = (
    model: { provider: string; modelId: string },
    params: LanguageModelV3CallOptions,
    kind: string,
  ) => {
    const hash = createHash('sha256').update(
      `ai-sdk\u0000${kind}\u0000${caller.namespace}\u0000${model.provider}\u0000${model.modelId}\u0000`,
    );
    for (const key of Object.keys(params).sort()) {
      if (IGNORED.has(key)) continue;
      hash.update(`${key}\u0000${canonicalJson((params as Record<string, unknown>)[key])}\u0000`);
    }
    return hash.digest('base64url');
  };

  return {
    specificationVersion: 'v3',

    async wrapGenerate({ doGenerate, params, model }) {
      await preparePipeline(sluice);
      const request = accounted(model, params);
      const key = keyOf(model, params, 'generate');
      const cached = (await cache?.get(key)) as CachedGenerate | undefined;
      if (cached?.kind === 'ai-sdk-generate') {
        request.exchange.cache = 'hit';
        sluice.accounting.complete(request, 200, toOpenAIUsage(cached.result.usage));
        const { response, ...rest } = cached.result;
        return {
          ...rest,
          ...(response === undefined
            ? {}
            : {
                response: {
                  ...response,
                  ...(response.timestamp === undefined
                    ? {}
                    : { timestamp: new Date(response.timestamp) }),
                },
              }),
        } as GenerateResult;
      }
      request.exchange.cache = cache === undefined ? 'bypass' : 'miss';
      await sluice.accounting.admit(request);
      let result: GenerateResult;
      try {
        result = await doGenerate();
      } catch (error) {
        sluice.accounting.complete(request, 502, undefined);
        throw error;
      }
      sluice.accounting.complete(request, 200, toOpenAIUsage(result.usage));
      if (cache !== undefined) {
        const { request: _request, response, ...rest } = result;
        const entry: CachedGenerate = {
          kind: 'ai-sdk-generate',
          result: {
            ...rest,
            ...(response === undefined
              ? {}
              : {
                  response: {
                    ...(response.id === undefined ? {} : { id: response.id }),
                    ...(response.modelId === undefined ? {} : { modelId: response.modelId }),
                    ...(response.timestamp === undefined
                      ? {}
                      : { timestamp: response.timestamp.toISOString() }),
                  },
                }),
          },
        };
        await cache.set(key, JSON.parse(JSON.stringify(entry)), {
          ttl,
          tags: [`ns:${caller.namespace}`],
        });
      }
      return result;
    },

    async wrapStream({ doStream, params, model }) {
      await preparePipeline(sluice);
      const request = accounted(model, params);
      const key = keyOf(model, params, 'stream');
      const cached = (await cache?.get(key)) as CachedStream | undefined;
      if (cached?.kind === 'ai-sdk-stream') {
        request.exchange.cache = 'hit';
        const finish = cached.parts.find((part) => part.type === 'finish');
        sluice.accounting.complete(
          request,
          200,
          finish?.type === 'finish' ? toOpenAIUsage(finish.usage) : undefined,
        );
        const parts = cached.parts.map(reviveDates);
        return {
          stream: new ReadableStream<LanguageModelV3StreamPart>({
            start(controller) {
              for (const part of parts) controller.enqueue(part);
              controller.close();
            },
          }),
        };
      }
      request.exchange.cache = cache === undefined ? 'bypass' : 'miss';
      await sluice.accounting.admit(request);
      let upstream: Awaited<ReturnType<typeof doStream>>;
      try {
        upstream = await doStream();
      } catch (error) {
        sluice.accounting.complete(request, 502, undefined);
        throw error;
      }
      const recorded: LanguageModelV3StreamPart[] = [];
      let failed = false;
      let usage: LanguageModelV3Usage | undefined;
      const recorder = new TransformStream<LanguageModelV3StreamPart, LanguageModelV3StreamPart>({
        transform(part, controller) {
          if (part.type === 'error') failed = true;
          if (part.type === 'finish') usage = part.usage;
          if (part.type !== 'raw') recorded.push(part);
          controller.enqueue(part);
        },
        async flush() {
          const complete = !failed && usage !== undefined;
          sluice.accounting.complete(
            request,
            complete ? 200 : 502,
            usage === undefined ? undefined : toOpenAIUsage(usage),
          );
          // Only a stream that finished is stored; a cut or failed one never is.
          if (complete && cache !== undefined) {
            const entry: CachedStream = { kind: 'ai-sdk-stream', parts: recorded };
            await cache.set(key, JSON.parse(JSON.stringify(entry)), {
              ttl,
              tags: [`ns:${caller.namespace}`],
            });
          }
        },
      });
      return { ...upstream, stream: upstream.stream.pipeThrough(recorder) };
    },
  };
}

/** AI SDK usage as the OpenAI-shaped usage Sluice prices (cache reads and writes kept apart). */
export function toOpenAIUsage(
  usage: LanguageModelV3Usage,
): Usage & { cache_creation_input_tokens?: number } {
  const input = usage.inputTokens.total ?? 0;
  const cacheRead = usage.inputTokens.cacheRead ?? 0;
  const cacheWrite = usage.inputTokens.cacheWrite ?? 0;
  return {
    prompt_tokens: input,
    completion_tokens: usage.outputTokens.total ?? 0,
    total_tokens: input + (usage.outputTokens.total ?? 0),
    prompt_tokens_details: { cached_tokens: cacheRead },
    completion_tokens_details: { reasoning_tokens: usage.outputTokens.reasoning ?? 0 },
    ...(cacheWrite > 0 ? { cache_creation_input_tokens: cacheWrite } : {}),
  };
}

/** The prompt as chat messages of text, for the token estimate of a budget reservation. */
function approximateMessages(
  params: LanguageModelV3CallOptions,
): { role: string; content: string }[] {
  return params.prompt.map((message) => ({
    role: message.role,
    content:
      typeof message.content === 'string'
        ? message.content
        : message.content
            .map((part) => ('text' in part && typeof part.text === 'string' ? part.text : ''))
            .join(''),
  }));
}

function reviveDates(part: LanguageModelV3StreamPart): LanguageModelV3StreamPart {
  if (part.type === 'response-metadata' && typeof part.timestamp === 'string') {
    return { ...part, timestamp: new Date(part.timestamp) };
  }
  return part;
}
