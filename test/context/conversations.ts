/**
 * Conversation builders for the context tests: deterministic random agent conversations with
 * tool calls, a naive "keep the last messages that fit" baseline, and prefix measurement.
 */

import type { ChatMessage } from '../../src/context/index.js';
import { getTokenizer, type Tokenizer } from '../../src/cost/tokens.js';

export const tokenizer: Tokenizer = getTokenizer('o200k_base');

const WORDS = (
  'the agent checks the report and updates status before it moves on to the next step while ' +
  'keeping notes about progress with some detail on results from earlier work'
).split(' ');

export function filler(random: () => number, words: number): string {
  const out: string[] = [];
  for (let index = 0; index < words; index += 1) {
    out.push(WORDS[Math.floor(random() * WORDS.length)] as string);
  }
  return out.join(' ');
}

export interface RandomConversationOptions {
  turns: number;
  /** Chance that an assistant turn calls tools. */
  toolChance?: number;
  /** Most tool calls in one assistant message. */
  maxParallelCalls?: number;
  /** Words per plain message, at most. */
  maxWords?: number;
  /** Add a system message first. */
  system?: boolean;
}

let callCounter = 0;

/** A random agent conversation: user turns, assistant answers, tool calls with results. */
export function randomConversation(
  random: () => number,
  options: RandomConversationOptions,
): ChatMessage[] {
  const messages: ChatMessage[] = [];
  const maxWords = options.maxWords ?? 80;
  if (options.system ?? true) {
    messages.push({ role: 'system', content: 'You are a careful agent. Use tools when useful.' });
  }
  for (let turn = 0; turn < options.turns; turn += 1) {
    messages.push({
      role: 'user',
      content: `turn ${turn}: ${filler(random, 3 + Math.floor(random() * maxWords))}`,
    });
    while (random() < (options.toolChance ?? 0.5)) {
      const calls = 1 + Math.floor(random() * (options.maxParallelCalls ?? 3));
      const ids: string[] = [];
      for (let call = 0; call < calls; call += 1) {
        callCounter += 1;
        ids.push(`call_${callCounter}`);
      }
      messages.push({
        role: 'assistant',
        content: null,
        tool_calls: ids.map((id) => ({
          id,
          type: 'function',
          function: { name: 'lookup', arguments: JSON.stringify({ query: filler(random, 3) }) },
        })),
      });
      for (const id of ids) {
        messages.push({
          role: 'tool',
          tool_call_id: id,
          content: filler(random, 5 + Math.floor(random() * maxWords * 2)),
        });
      }
    }
    messages.push({
      role: 'assistant',
      content: filler(random, 3 + Math.floor(random() * maxWords)),
    });
  }
  return messages;
}

/**
 * The naive baseline: system messages plus the newest messages that fit, never splitting a
 * tool exchange (a sliding window, as most agents do it).
 */
export function keepLastBaseline(
  messages: readonly ChatMessage[],
  budget: number,
): { messages: ChatMessage[]; kept: number[] } {
  const isSystem = (message: ChatMessage) =>
    message.role === 'system' || message.role === 'developer';
  const kept = new Set<number>();
  let used = 3;
  messages.forEach((message, index) => {
    if (isSystem(message)) {
      kept.add(index);
      used += tokenizer.countMessages([message]) - 3;
    }
  });
  let index = messages.length - 1;
  while (index >= 0) {
    // A tool result goes back to its assistant call: take the whole block or stop.
    let start = index;
    while (start > 0 && messages[start]?.role === 'tool') start -= 1;
    let cost = 0;
    for (let position = start; position <= index; position += 1) {
      if (!kept.has(position)) cost += tokenizer.countMessages([messages[position]]) - 3;
    }
    if (used + cost > budget) break;
    for (let position = start; position <= index; position += 1) kept.add(position);
    used += cost;
    index = start - 1;
  }
  const sorted = [...kept].sort((a, b) => a - b);
  return { messages: sorted.map((position) => messages[position] as ChatMessage), kept: sorted };
}

/** Tokens of the longest common prefix of two prompts, message by message. */
export function sharedPrefixTokens(previous: readonly unknown[], next: readonly unknown[]): number {
  let tokens = 0;
  for (let index = 0; index < Math.min(previous.length, next.length); index += 1) {
    if (JSON.stringify(previous[index]) !== JSON.stringify(next[index])) break;
    tokens += tokenizer.countMessages([next[index]]) - 3;
  }
  return tokens;
}

/** Asserts the tool invariant on an output; returns a description of the first violation. */
export function toolViolation(messages: readonly ChatMessage[]): string | undefined {
  const openCalls = new Map<string, number>();
  for (const [position, message] of messages.entries()) {
    if (message.role === 'assistant' && Array.isArray(message.tool_calls)) {
      for (const call of message.tool_calls) openCalls.set(call.id ?? '', position);
    } else if (message.role === 'tool') {
      if (!openCalls.has(message.tool_call_id ?? '')) {
        return `tool message at ${position} (${message.tool_call_id}) has no call before it`;
      }
      openCalls.delete(message.tool_call_id ?? '');
    }
  }
  if (openCalls.size > 0) return `calls without results: ${[...openCalls.keys()].join(', ')}`;
  return undefined;
}
