/**
 * Prompt caches (OpenAI, Anthropic, DeepSeek, Gemini) reuse the longest prefix a prompt shares
 * with an earlier one. This measures, over a conversation growing turn by turn, how many of the
 * tokens sent each turn repeat the previous turn's prompt from its start: the share a provider
 * could serve from its cache. The naive alternative keeps the newest messages that fit, so its
 * window slides every turn and only the system prompt stays in front.
 */
import { describe, expect, it } from 'vitest';
import { type ChatMessage, createContextManager, type FitResult } from '../../src/context/index.js';
import { createRandom } from '../../src/shared/random.js';
import {
  keepLastBaseline,
  randomConversation,
  sharedPrefixTokens,
  tokenizer,
} from './conversations.js';

interface Replay {
  /** Shared-prefix tokens / tokens sent, over turns where the conversation exceeded the budget. */
  prefixShare: number;
  /** Turns whose prompt starts with the whole previous prompt's kept part (an append-only turn). */
  appendOnlyTurns: number;
  turns: number;
  tokensSent: number;
  tokensFull: number;
}

/** Request points: before each assistant answer that follows a user message. */
function requestEnds(conversation: readonly ChatMessage[]): number[] {
  return conversation.flatMap((message, index) => (message.role === 'user' ? [index + 1] : []));
}

function replay(
  conversation: readonly ChatMessage[],
  budget: number,
  prompt: (messages: readonly ChatMessage[]) => { messages: readonly unknown[]; tokens: number },
  turns: number,
): Replay {
  const unpruned = createContextManager({ maxTokens: 10_000_000 });
  const ends = requestEnds(conversation);
  // The last `turns` requests, all of them beyond the budget.
  let previous: readonly unknown[] = [];
  let shared = 0;
  let sent = 0;
  let full = 0;
  let appendOnly = 0;
  let measured = 0;
  for (const end of ends.slice(-turns - 1)) {
    const messages = conversation.slice(0, end);
    const result = prompt(messages);
    if (previous.length > 0) {
      const prefix = sharedPrefixTokens(previous, result.messages);
      shared += prefix;
      sent += result.tokens;
      measured += 1;
      const previousTokens = sharedPrefixTokens(previous, previous);
      if (prefix === previousTokens) appendOnly += 1;
    }
    if (previous.length > 0) full += unpruned.fitSync(messages).tokens.after;
    previous = result.messages;
  }
  expect(measured).toBe(turns);
  // Every measured turn is beyond the budget: otherwise reuse would be trivially complete.
  expect(full / turns).toBeGreaterThan(budget);
  return {
    prefixShare: shared / sent,
    appendOnlyTurns: appendOnly,
    turns: measured,
    tokensSent: sent,
    tokensFull: full,
  };
}

describe('prefix stability over 20 growing turns', () => {
  const budget = 3_000;
  const cases = [11, 12, 13, 14].map((seed) => ({
    seed,
    conversation: randomConversation(createRandom(seed), { turns: 70, toolChance: 0.45 }),
  }));

  function measure(maxTokens: number): { ours: Replay[]; baseline: Replay[] } {
    const ours: Replay[] = [];
    const baseline: Replay[] = [];
    for (const { conversation } of cases) {
      const manager = createContextManager({ maxTokens });
      ours.push(
        replay(
          conversation,
          maxTokens,
          (messages) => {
            const result: FitResult = manager.fitSync(messages);
            return { messages: result.messages, tokens: result.tokens.after };
          },
          20,
        ),
      );
      baseline.push(
        replay(
          conversation,
          maxTokens,
          (messages) => {
            const kept = keepLastBaseline(messages, maxTokens).messages;
            return { messages: kept, tokens: tokenizer.countMessages(kept) };
          },
          20,
        ),
      );
    }
    return { ours, baseline };
  }

  const mean = (replays: Replay[], pick: (replay: Replay) => number): number =>
    replays.reduce((sum, replay) => sum + pick(replay), 0) / replays.length;

  it.each([3_000, 12_000])(
    'budget %i: the kept prefix survives from turn to turn; the sliding window does not',
    (maxTokens) => {
      const { ours, baseline } = measure(maxTokens);
      const oursShare = mean(ours, (replay) => replay.prefixShare);
      const baselineShare = mean(baseline, (replay) => replay.prefixShare);
      const appendOnly = mean(ours, (replay) => replay.appendOnlyTurns);
      const saved = 1 - mean(ours, (replay) => replay.tokensSent / replay.tokensFull);
      console.info(
        `[context] budget ${maxTokens}, 20 growing turns x ${cases.length} conversations: ` +
          `prefix reuse sluice ${(oursShare * 100).toFixed(1)}% ` +
          `(${appendOnly.toFixed(1)}/20 append-only turns), keep-last baseline ` +
          `${(baselineShare * 100).toFixed(1)}% ` +
          `(${mean(baseline, (replay) => replay.appendOnlyTurns).toFixed(1)}/20); ` +
          `tokens sent ${(saved * 100).toFixed(1)}% below the unpruned conversation`,
      );
      expect(oursShare).toBeGreaterThan(0.7);
      expect(baselineShare).toBeLessThan(0.35);
      expect(oursShare).toBeGreaterThan(2 * baselineShare);
      for (const replay of ours) {
        expect(replay.prefixShare).toBeGreaterThan(0.6);
        expect(replay.appendOnlyTurns).toBeGreaterThanOrEqual(12);
      }
    },
  );

  it('without a head, compaction turns lose the old prefix: headShare pays for itself', () => {
    const { conversation } = cases[0] as (typeof cases)[number];
    const share = (headShare: number): number => {
      const manager = createContextManager({ maxTokens: budget, headShare });
      return replay(
        conversation,
        budget,
        (messages) => {
          const result = manager.fitSync(messages);
          return { messages: result.messages, tokens: result.tokens.after };
        },
        20,
      ).prefixShare;
    };
    expect(share(0.2)).toBeGreaterThan(share(0));
  });

  it('a message once dropped stays dropped unless a later message refers to it', () => {
    const { conversation } = cases[0] as (typeof cases)[number];
    const manager = createContextManager({ maxTokens: budget });
    const everDropped = new Set<number>();
    for (const end of requestEnds(conversation)) {
      const result = manager.fitSync(conversation.slice(0, end));
      for (const index of result.kept) {
        if (everDropped.has(index)) {
          // Only a recall through a reference may bring it back.
          expect(result.retained).toContain(index);
        }
      }
      for (const index of result.dropped) everDropped.add(index);
    }
    expect(everDropped.size).toBeGreaterThan(0);
  });

  it('decisions depend only on the past: a longer conversation repeats the earlier plan', () => {
    const { conversation } = cases[1] as (typeof cases)[number];
    const manager = createContextManager({ maxTokens: budget });
    const ends = requestEnds(conversation);
    for (let turn = 1; turn < ends.length; turn += 1) {
      const before = manager.fitSync(conversation.slice(0, ends[turn - 1]));
      const after = manager.fitSync(conversation.slice(0, ends[turn]));
      if (after.compactions === before.compactions) {
        // No compaction in between: the new prompt is the old one plus appended messages
        // (or a recalled message re-inserted, which the retained list shows).
        const recalled = after.retained.filter((index) => !before.kept.includes(index));
        if (recalled.length === 0) {
          expect(after.messages.slice(0, before.messages.length)).toEqual(before.messages);
        }
      }
    }
  });
});
