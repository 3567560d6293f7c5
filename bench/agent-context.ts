/**
 * Part 1 of `sluice bench agent`: the context manager replayed on the agent sessions shipped in
 * test/context/fixtures/sessions (format: docs/context.md, "Replayed agent sessions").
 *
 * Every session is replayed request by request (a request before each assistant message that
 * follows a user or tool message, as the session's agent made them) under three strategies with
 * the same token budget:
 * - `full`: the whole history every turn (what an agent without context management sends);
 * - `keep-last`: the naive sliding window, keep-last-N with N as large as fits: system messages
 *   plus the newest messages that fit the budget, never splitting a tool exchange;
 * - `sluice`: `createContextManager({ model, maxTokens: budget }).fitSync(history)`.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { type ChatMessage, createContextManager } from '../src/context/index.js';
import { price } from '../src/cost/prices.js';
import { type Tokenizer, tokenizerForModel } from '../src/cost/tokens.js';
import { ConfigError } from '../src/shared/errors.js';

/** A fact a later request needs (docs/context.md). */
export interface PlantedFact {
  id: string;
  /** Text that must be in the prompt for the fact to have survived (case-insensitive). */
  text: string;
  /** Index of the message that first carries the fact. */
  plantedAt: number;
  description: string;
  /** Messages produced using the fact: the request before each (`messages.slice(0, i)`) needed it. */
  neededAt: number[];
}

export interface AgentSession {
  name: string;
  description: string;
  model: string;
  /** The budget the session was written for, in tokens. */
  budgetTokens: number;
  plantedFacts: PlantedFact[];
  messages: ChatMessage[];
}

export type ContextStrategy = 'full' | 'keep-last' | 'sluice';
export const CONTEXT_STRATEGIES: readonly ContextStrategy[] = ['full', 'keep-last', 'sluice'];

export interface StrategyOutcome {
  /** Prompt tokens over every request of the session (reply priming included). */
  tokensSent: number;
  /** The largest prompt of the session, in tokens. */
  maxPromptTokens: number;
  /** Prompts larger than the budget. */
  overBudget: number;
  /** Planted-fact uses (fact × `neededAt`) whose fact was in the prompt. */
  factsSurvived: number;
  /** Planted facts lost, as `id@index`. */
  factsLost: string[];
  /**
   * Tokens of the leading messages each prompt shares with the previous request's prompt,
   * from the second request on: what a provider's prompt cache can serve.
   */
  prefixTokens: number;
  /** Tokens sent from the second request on (the denominator of prefix reuse). */
  prefixBaseTokens: number;
  /** Requests whose prompt starts with the whole previous prompt (append-only turns). */
  appendOnlyTurns: number;
  /**
   * Of `prefixTokens`, what OpenAI's prompt caching would bill as cached: a shared prefix of at
   * least 1,024 tokens, counted in steps of 128 (`cachedPromptTokens`).
   */
  cachedTokens: number;
  /** Input cost of every request, USD: uncached tokens at the input price, cached at the cached price. */
  inputUsd: number;
  /** Time spent building the prompts (fitting or windowing), ms. */
  ms: number;
}

export interface SessionCase {
  session: string;
  model: string;
  /** `1×` for the session's own budget, `1.5×` etc. */
  budgetLabel: string;
  budget: number;
  messages: number;
  requests: number;
  /** Tokens of the whole conversation (its last message included). */
  conversationTokens: number;
  factsNeeded: number;
  outcomes: Record<ContextStrategy, StrategyOutcome>;
  /** Fits of the context manager that dropped something (from its `stats()`). */
  prunedFits: number;
}

/**
 * The sessions directory: `--sessions DIR`, else the first `test/context/fixtures/sessions`
 * above this module (the repository the benchmark was built in) or the working directory.
 */
export function findSessionsDir(override: string | undefined): string {
  const isDir = (path: string): boolean => {
    try {
      return statSync(path).isDirectory();
    } catch {
      return false;
    }
  };
  if (override !== undefined && override !== '') {
    const dir = resolve(override);
    if (!isDir(dir)) throw new ConfigError(`--sessions ${override}: no directory at ${dir}`);
    return dir;
  }
  const searched: string[] = [];
  for (const start of [dirname(fileURLToPath(import.meta.url)), process.cwd()]) {
    let dir = start;
    for (;;) {
      const candidate = join(dir, 'test', 'context', 'fixtures', 'sessions');
      if (isDir(candidate)) return candidate;
      if (!searched.includes(candidate)) searched.push(candidate);
      const parent = dirname(dir);
      if (parent === dir) break;
      dir = parent;
    }
  }
  throw new ConfigError(
    `agent sessions not found: run from a clone of Sluice or pass --sessions DIR. Looked in:\n  ${searched.join('\n  ')}`,
  );
}

export function loadSessions(dir: string): AgentSession[] {
  const files = readdirSync(dir)
    .filter((file) => file.endsWith('.json'))
    .sort();
  if (files.length === 0) throw new ConfigError(`no session files (*.json) in ${dir}`);
  return files.map((file) => {
    const session = JSON.parse(readFileSync(join(dir, file), 'utf8')) as AgentSession;
    if (
      !Array.isArray(session.messages) ||
      !Array.isArray(session.plantedFacts) ||
      typeof session.budgetTokens !== 'number'
    ) {
      throw new ConfigError(`${join(dir, file)}: not an agent session (docs/context.md)`);
    }
    return session;
  });
}

/** Request points: before each assistant message that follows a user or tool message. */
export function requestEnds(messages: readonly ChatMessage[]): number[] {
  const ends: number[] = [];
  messages.forEach((message, index) => {
    if (message.role === 'assistant' && index > 0 && messages[index - 1]?.role !== 'assistant') {
      ends.push(index);
    }
  });
  return ends;
}

/** Tokens of one message in a prompt (its 3 framing tokens included, no reply priming). */
class MessageTokens {
  readonly #tokenizer: Tokenizer;
  readonly #counts = new WeakMap<object, number>();

  constructor(tokenizer: Tokenizer) {
    this.#tokenizer = tokenizer;
  }

  of(message: unknown): number {
    const key = message as object;
    let count = this.#counts.get(key);
    if (count === undefined) {
      // countMessages adds 3 tokens of reply priming per prompt: not the message's.
      count = this.#tokenizer.countMessages([message]) - 3;
      this.#counts.set(key, count);
    }
    return count;
  }

  prompt(messages: readonly unknown[]): number {
    let total = 3;
    for (const message of messages) total += this.of(message);
    return total;
  }
}

/** OpenAI prompt caching: prompts share a cached prefix from 1,024 tokens on, in steps of 128. */
export function cachedPromptTokens(sharedPrefix: number): number {
  if (sharedPrefix < 1_024) return 0;
  return 1_024 + Math.floor((sharedPrefix - 1_024) / 128) * 128;
}

const isSystem = (message: ChatMessage): boolean =>
  message.role === 'system' || message.role === 'developer';

/**
 * The naive baseline: system messages plus the newest messages that fit `budget`, a tool
 * result never without the assistant message that called it (a sliding window, as most agents
 * do it).
 */
function keepLast(
  messages: readonly ChatMessage[],
  budget: number,
  tokens: MessageTokens,
): ChatMessage[] {
  const kept = new Set<number>();
  let used = 3;
  messages.forEach((message, index) => {
    if (isSystem(message)) {
      kept.add(index);
      used += tokens.of(message);
    }
  });
  let index = messages.length - 1;
  while (index >= 0) {
    let start = index;
    while (start > 0 && messages[start]?.role === 'tool') start -= 1;
    let cost = 0;
    for (let position = start; position <= index; position += 1) {
      if (!kept.has(position)) cost += tokens.of(messages[position]);
    }
    if (used + cost > budget) break;
    for (let position = start; position <= index; position += 1) kept.add(position);
    used += cost;
    index = start - 1;
  }
  return [...kept].sort((a, b) => a - b).map((position) => messages[position] as ChatMessage);
}

const mentions = (messages: readonly unknown[], text: string): boolean => {
  const needle = text.toLowerCase();
  return messages.some((message) => JSON.stringify(message).toLowerCase().includes(needle));
};

/** Identical leading messages of two prompts, in tokens. */
function sharedPrefixTokens(
  previous: readonly unknown[],
  next: readonly unknown[],
  tokens: MessageTokens,
): number {
  let shared = 0;
  const length = Math.min(previous.length, next.length);
  for (let index = 0; index < length; index += 1) {
    const before = previous[index];
    const after = next[index];
    if (before !== after && JSON.stringify(before) !== JSON.stringify(after)) break;
    shared += tokens.of(after);
  }
  return shared;
}

/** Replays one session at one budget under the three strategies. */
export function replaySessionCase(
  session: AgentSession,
  budget: number,
  budgetLabel: string,
): SessionCase {
  const tokens = new MessageTokens(tokenizerForModel(session.model));
  const prices = price(session.model)?.picoPerToken;
  if (prices === undefined) {
    throw new ConfigError(`${session.name}: model '${session.model}' is not in the price table`);
  }
  const manager = createContextManager({ model: session.model, maxTokens: budget });
  const prompts: Record<ContextStrategy, (history: readonly ChatMessage[]) => readonly unknown[]> =
    {
      full: (history) => history,
      'keep-last': (history) => keepLast(history, budget, tokens),
      sluice: (history) => manager.fitSync(history).messages,
    };
  const ends = requestEnds(session.messages);
  let factsNeeded = 0;
  for (const fact of session.plantedFacts) factsNeeded += fact.neededAt.length;
  const outcomes = {} as Record<ContextStrategy, StrategyOutcome>;
  for (const strategy of CONTEXT_STRATEGIES) {
    const prompt = prompts[strategy];
    const outcome: StrategyOutcome = {
      tokensSent: 0,
      maxPromptTokens: 0,
      overBudget: 0,
      factsSurvived: 0,
      factsLost: [],
      prefixTokens: 0,
      prefixBaseTokens: 0,
      appendOnlyTurns: 0,
      cachedTokens: 0,
      inputUsd: 0,
      ms: 0,
    };
    let previous: readonly unknown[] | undefined;
    for (const end of ends) {
      const started = performance.now();
      const messages = prompt(session.messages.slice(0, end));
      outcome.ms += performance.now() - started;
      const sent = tokens.prompt(messages);
      outcome.tokensSent += sent;
      outcome.maxPromptTokens = Math.max(outcome.maxPromptTokens, sent);
      if (sent > budget) outcome.overBudget += 1;
      let cached = 0;
      if (previous !== undefined) {
        const shared = sharedPrefixTokens(previous, messages, tokens);
        outcome.prefixTokens += shared;
        outcome.prefixBaseTokens += sent;
        if (shared === tokens.prompt(previous) - 3) outcome.appendOnlyTurns += 1;
        cached = cachedPromptTokens(shared);
      }
      outcome.cachedTokens += cached;
      outcome.inputUsd += ((sent - cached) * prices.input + cached * prices.cachedInput) * 1e-12;
      previous = messages;
    }
    for (const fact of session.plantedFacts) {
      for (const at of fact.neededAt) {
        const started = performance.now();
        const messages = prompt(session.messages.slice(0, at));
        outcome.ms += performance.now() - started;
        if (mentions(messages, fact.text)) outcome.factsSurvived += 1;
        else outcome.factsLost.push(`${fact.id}@${at}`);
      }
    }
    outcomes[strategy] = outcome;
  }
  return {
    session: session.name,
    model: session.model,
    budgetLabel,
    budget,
    messages: session.messages.length,
    requests: ends.length,
    conversationTokens: tokens.prompt(session.messages),
    factsNeeded,
    outcomes,
    prunedFits: manager.stats().pruned,
  };
}
