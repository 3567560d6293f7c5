import { performance } from 'node:perf_hooks';
import { CircuitOpenError, isDeploymentFailure, statusOf } from '../routing/errors.js';
import { hedge } from '../routing/hedge.js';
import {
  continueRetry,
  NEVER_ABORTED,
  type RetryContext,
  type RetryOptions,
  retry,
} from '../routing/retry.js';
import type { Router } from '../routing/router.js';
import { parseDuration } from '../shared/duration.js';
import type { CheckedAnswer } from './answer-check.js';
import { answerCutOff, HttpError, upstreamStatusError } from './errors.js';
import type { Target } from './model-table.js';
import type { UpstreamResponse } from './provider.js';

export interface DispatchOptions {
  readonly router: Router | undefined;
  /** Retries of one deployment (full-jitter backoff, `retry-after` honoured). */
  readonly retry: RetryOptions;
  /** Hedge non-streaming calls: a second attempt after the deployment's p95 (or `delayMs`). */
  readonly hedge: { readonly enabled: boolean; readonly delayMs: number | undefined };
  /** The deployment to try after a context-length error. */
  readonly contextFallback: (target: Target) => Target | undefined;
}

/** A 2xx upstream answer and the deployment that gave it. */
export interface Dispatched {
  readonly response: UpstreamResponse;
  /**
   * The whole body of a non-streaming answer, read by the dispatcher (a body cut off mid-way
   * is a deployment failure); undefined for a stream, whose body is left unread.
   */
  readonly text: string | undefined;
  /** The answer as the caller's `check` parsed it (undefined without one, and for a stream). */
  readonly checked: CheckedAnswer | undefined;
  readonly target: Target;
  /** Deployments tried before this one. */
  readonly fallbacks: number;
}

/**
 * Checks a 2xx non-streaming body before it counts as an answer: returns it parsed, or throws
 * (a retryable `HttpError`, e.g. 502 `upstream_invalid_response`) when it is not the
 * protocol's response; the attempt is then a deployment failure like any other.
 */
export type AnswerCheck = (text: string, provider: string) => CheckedAnswer;

/** What one attempt resolved with: the response, and its body's text unless it streams. */
interface Answer {
  readonly response: UpstreamResponse;
  readonly text: string | undefined;
  readonly checked: CheckedAnswer | undefined;
}

/** Marks a breaker refusal inside the retry loop: move on to the next deployment at once. */
class SkipDeployment extends Error {
  constructor(cause: unknown) {
    super('deployment skipped', { cause });
  }
}

/**
 * Sends a call along its chain of deployments: each one through its circuit breaker, retried
 * with backoff while its errors are retryable, optionally hedged; on a deployment failure
 * (429, 5xx, timeout, connection error, open circuit) the next deployment; on a context-length
 * error a bigger model. Client errors (other 4xx) end the chain at once: another deployment
 * would refuse them too. Resolves with a 2xx response (its body unread) or throws the last
 * error. A stream falls back only before its first byte, since this returns at the headers.
 */
export class Dispatcher {
  readonly #options: DispatchOptions;

  constructor(options: DispatchOptions) {
    // Durations resolved once, not on every call.
    const { baseDelay, maxDelay, maxRetryAfter } = options.retry;
    this.#options = {
      ...options,
      retry: {
        ...options.retry,
        ...(baseDelay === undefined ? {} : { baseDelay: parseDuration(baseDelay, 'baseDelay') }),
        ...(maxDelay === undefined ? {} : { maxDelay: parseDuration(maxDelay, 'maxDelay') }),
        ...(maxRetryAfter === undefined
          ? {}
          : { maxRetryAfter: parseDuration(maxRetryAfter, 'maxRetryAfter') }),
      },
    };
  }

  /** The retry options, with the caller's signal when there is one. */
  #retryOptions(signal: AbortSignal | undefined): RetryOptions {
    return signal === undefined ? this.#options.retry : { ...this.#options.retry, signal };
  }

  async send(
    chain: readonly Target[],
    call: (target: Target, signal: AbortSignal | undefined) => Promise<UpstreamResponse>,
    options: { stream: boolean; signal?: AbortSignal; hedge?: boolean; check?: AnswerCheck },
  ): Promise<Dispatched> {
    const { router } = this.#options;
    // Copied only when a context-length fallback joins the chain.
    let queue = chain;
    let lastError: unknown;
    let lastUpstreamError: unknown;
    for (let index = 0; index < queue.length; index++) {
      const target = queue[index] as Target;
      const breaker =
        router !== undefined && target.deployment !== undefined
          ? router.breaker(target.deployment)
          : undefined;
      if (breaker !== undefined && !breaker.isAvailable()) {
        lastError = new CircuitOpenError(target.deployment as string, breaker.retryAfterMs());
        continue;
      }
      const once = async (signal: AbortSignal | undefined): Promise<Answer> => {
        let tracked: ReturnType<Router['begin']> | undefined;
        if (router !== undefined && target.deployment !== undefined) {
          try {
            tracked = router.begin(target.deployment);
          } catch (error) {
            throw new SkipDeployment(error);
          }
        }
        const started = performance.now();
        try {
          const response = await call(target, signal);
          if (response.status < 200 || response.status >= 300) {
            const text = response.text ?? (await response.body.text().catch(() => ''));
            throw statusError(target, response, text);
          }
          if (options.stream) {
            // A stream is judged at its headers: after the first byte there is no fallback.
            tracked?.success(performance.now() - started);
            return { response, text: undefined, checked: undefined };
          }
          // A JSON answer counts only once its whole body is in: a body cut off mid-way is a
          // deployment failure (retried, sent to the fallback, counted by the breaker).
          // (Providers that read the body whole before answering have given it as `text`.)
          let text = response.text;
          if (text === undefined) {
            try {
              text = await response.body.text();
            } catch (error) {
              throw answerCutOff(target.provider.name, error);
            }
          }
          // A body that is not the protocol's answer (cut short and closed cleanly, or of
          // another shape) is a deployment failure too: never passed on, never stored.
          const checked = options.check?.(text, target.provider.name);
          tracked?.success(performance.now() - started);
          return { response, text, checked };
        } catch (error) {
          if (signal?.aborted === true && !(error instanceof HttpError)) tracked?.cancel();
          else {
            tracked?.failure(error);
            lastUpstreamError = error;
          }
          // A rate-limited deployment with another one behind it: move on now rather than
          // wait out its retry-after.
          if (statusOf(error) === 429 && index < queue.length - 1) throw new SkipDeployment(error);
          throw error;
        }
      };
      try {
        const hedged =
          !options.stream && (options.hedge ?? this.#options.hedge.enabled) && router !== undefined;
        let answer: Answer;
        if (hedged) {
          answer = await hedge(
            ({ signal }) => retry(retryAttempt(once, signal), this.#retryOptions(signal)),
            {
              ...(this.#options.hedge.delayMs === undefined
                ? {}
                : { delayMs: this.#options.hedge.delayMs }),
              ...(target.deployment === undefined || router === undefined
                ? {}
                : { stats: router.stats(target.deployment) }),
              ...(options.signal === undefined ? {} : { signal: options.signal }),
            },
          );
        } else if (this.#options.retry.deadline === undefined) {
          // The first attempt made here, outside the retry loop, which only a failure enters:
          // nearly every call succeeds at once, and then costs no loop (two async frames).
          // Without a deadline the loop would have given the attempt the caller's signal.
          const { signal } = options;
          try {
            signal?.throwIfAborted();
            answer = await once(signal);
          } catch (error) {
            answer = await continueRetry(
              error,
              retryAttempt(once, signal),
              this.#retryOptions(signal),
            );
          }
        } else {
          answer = await retry(
            retryAttempt(once, options.signal),
            this.#retryOptions(options.signal),
          );
        }
        return {
          response: answer.response,
          text: answer.text,
          checked: answer.checked,
          target,
          fallbacks: index,
        };
      } catch (error) {
        const cause = error instanceof SkipDeployment ? error.cause : error;
        lastError = cause;
        if (!(error instanceof SkipDeployment) && !(cause instanceof CircuitOpenError))
          lastUpstreamError = cause;
        if (options.signal?.aborted === true) throw cause;
        if (isContextLengthError(cause)) {
          const bigger = this.#options.contextFallback(target);
          if (bigger !== undefined && !queue.includes(bigger)) {
            queue = [...queue.slice(0, index + 1), bigger, ...queue.slice(index + 1)];
          }
          continue;
        }
        if (
          error instanceof SkipDeployment ||
          cause instanceof CircuitOpenError ||
          isDeploymentFailure(cause)
        )
          continue;
        throw cause;
      }
    }
    // A real upstream answer explains the failure better than a breaker that opened on it.
    if (lastUpstreamError !== undefined) throw lastUpstreamError;
    if (lastError instanceof CircuitOpenError) {
      throw new HttpError(503, 'upstream_error', 'circuit_open', lastError.message, {
        isRetryable: true,
        upstream: true,
        headers: { 'retry-after': String(Math.max(1, Math.ceil(lastError.retryAfterMs / 1_000))) },
        cause: lastError,
      });
    }
    throw (
      lastError ??
      new HttpError(502, 'upstream_error', 'upstream_error', 'no deployment could answer', {
        upstream: true,
      })
    );
  }
}

/**
 * `once` as the attempt of a retry loop: given the loop's own signal, or the caller's when the
 * loop has none (nothing can abort it).
 */
function retryAttempt(
  once: (signal: AbortSignal | undefined) => Promise<Answer>,
  callerSignal: AbortSignal | undefined,
): (context: RetryContext) => Promise<Answer> {
  return ({ signal }) => once(signal === NEVER_ABORTED ? callerSignal : signal);
}

/** An upstream's error status as an `HttpError`, with `retryAfterMs` from `retry-after`. */
function statusError(target: Target, response: UpstreamResponse, text: string): HttpError {
  const error = upstreamStatusError(target.provider.name, response.status, text);
  const retryAfter = response.headers['retry-after'];
  if (typeof retryAfter !== 'string' || !/^\d{1,6}$/.test(retryAfter)) return error;
  return new HttpError(error.status, error.type, error.code, error.message, {
    param: error.param,
    isRetryable: error.isRetryable,
    upstream: true,
    headers: { 'retry-after': retryAfter },
    retryAfterMs: Number(retryAfter) * 1_000,
  });
}

/** The upstream refused the prompt as too long for the model. */
export function isContextLengthError(error: unknown): boolean {
  if (!(error instanceof HttpError) || error.status !== 400) return false;
  return (
    error.code === 'context_length_exceeded' ||
    /context length|context window|maximum context|too many tokens|prompt is too long/i.test(
      error.message,
    )
  );
}
