import type { HttpError } from './errors.js';
import type { StreamEvent } from './sse.js';

/** Receives one stream as it happens (or its replay, for a late joiner). */
export interface StreamListener {
  /** The upstream accepted the request: send the 200 and the SSE headers. */
  start(): void;
  event(event: StreamEvent): void;
  /** `complete` is false when the stream was cut; `error` says why. */
  end(complete: boolean, error?: HttpError): void;
  /** The upstream refused before the first byte: answer with this error instead. */
  fail(error: HttpError): void;
}

type State = 'pending' | 'streaming' | 'complete' | 'cut' | 'failed';

/**
 * One upstream stream shared by every identical concurrent request in this process: a
 * joiner replays what has arrived so far, then follows live. When the last listener leaves,
 * `onIdle` runs (the leader aborts the upstream call).
 */
export class StreamFlight {
  readonly events: StreamEvent[] = [];
  #state: State = 'pending';
  #error: HttpError | undefined;
  readonly #listeners = new Set<StreamListener>();
  readonly #onIdle: () => void;

  constructor(onIdle: () => void) {
    this.#onIdle = onIdle;
  }

  get state(): State {
    return this.#state;
  }

  /** Adds a listener, bringing it up to date; returns the function that removes it. */
  join(listener: StreamListener): () => void {
    switch (this.#state) {
      case 'failed':
        listener.fail(this.#error as HttpError);
        return noop;
      case 'complete':
      case 'cut':
        listener.start();
        for (const event of this.events) listener.event(event);
        listener.end(this.#state === 'complete', this.#error);
        return noop;
      case 'streaming':
        listener.start();
        for (const event of this.events) listener.event(event);
        break;
      case 'pending':
        break;
    }
    this.#listeners.add(listener);
    return () => {
      if (this.#listeners.delete(listener) && this.#listeners.size === 0 && this.#live()) {
        this.#onIdle();
      }
    };
  }

  start(): void {
    this.#state = 'streaming';
    for (const listener of this.#listeners) listener.start();
  }

  push(event: StreamEvent): void {
    this.events.push(event);
    for (const listener of this.#listeners) listener.event(event);
  }

  finish(complete: boolean, error?: HttpError): void {
    if (!this.#live()) return;
    this.#state = complete ? 'complete' : 'cut';
    this.#error = error;
    for (const listener of this.#listeners) listener.end(complete, error);
    this.#listeners.clear();
  }

  fail(error: HttpError): void {
    if (!this.#live()) return;
    if (this.#state === 'streaming') {
      this.finish(false, error);
      return;
    }
    this.#state = 'failed';
    this.#error = error;
    for (const listener of this.#listeners) listener.fail(error);
    this.#listeners.clear();
  }

  #live(): boolean {
    return this.#state === 'pending' || this.#state === 'streaming';
  }
}

function noop(): void {}
