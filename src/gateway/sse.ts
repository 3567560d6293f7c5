const USAGE_PATTERN = /"usage"\s*:\s*\{/;

/** One `data:` payload of an OpenAI stream, and whether it is the usage-only chunk. */
export interface StreamEvent {
  readonly data: string;
  readonly isUsage: boolean;
}

/**
 * Splits an SSE byte stream into `data:` payloads as events complete, whatever the chunking
 * (events split across chunks, several events per chunk, CRLF line ends). Comments and other
 * fields are dropped; multi-line data is joined with newlines as the SSE spec says.
 */
export class SseParser {
  readonly #decoder = new TextDecoder();
  #pending = '';

  /** The events completed by this chunk. `[DONE]` is returned as data `'[DONE]'`. */
  push(chunk: Uint8Array): StreamEvent[] {
    this.#pending += this.#decoder.decode(chunk, { stream: true });
    return this.#drain();
  }

  /** Events left when the stream ends (a last event without its blank line is still an event). */
  end(): StreamEvent[] {
    this.#pending += this.#decoder.decode();
    if (this.#pending.trim().length > 0) this.#pending += '\n\n';
    return this.#drain();
  }

  #drain(): StreamEvent[] {
    if (this.#pending.includes('\r')) this.#pending = this.#pending.replace(/\r\n?/g, '\n');
    const events: StreamEvent[] = [];
    let boundary = this.#pending.indexOf('\n\n');
    while (boundary !== -1) {
      const block = this.#pending.slice(0, boundary);
      this.#pending = this.#pending.slice(boundary + 2);
      const data = dataOf(block);
      if (data !== undefined) events.push({ data, isUsage: isUsageChunk(data) });
      boundary = this.#pending.indexOf('\n\n');
    }
    return events;
  }
}

function dataOf(block: string): string | undefined {
  let data: string | undefined;
  for (const line of block.split('\n')) {
    if (!line.startsWith('data:')) continue;
    const value = line.charCodeAt(5) === 32 ? line.slice(6) : line.slice(5);
    data = data === undefined ? value : `${data}\n${value}`;
  }
  return data;
}

/** The final chunk a stream sends when asked for usage: no choices, a usage object. */
function isUsageChunk(data: string): boolean {
  if (!USAGE_PATTERN.test(data)) return false;
  try {
    const chunk = JSON.parse(data) as { choices?: unknown[] };
    return Array.isArray(chunk.choices) && chunk.choices.length === 0;
  } catch {
    return false;
  }
}

export function sseFrame(data: string): string {
  return `data: ${data}\n\n`;
}
