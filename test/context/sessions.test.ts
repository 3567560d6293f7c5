/**
 * Replays the agent sessions in fixtures/sessions/ request by request and measures what the
 * context manager keeps: the share of planted facts still in the prompt at the requests that
 * needed them, the tokens saved, and the same for the naive keep-the-last-messages baseline.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type ChatMessage, createContextManager } from '../../src/context/index.js';
import { tokenizerForModel } from '../../src/cost/tokens.js';
import { keepLastBaseline, toolViolation } from './conversations.js';

/** The fixture format (also read by the agent benchmark). */
interface PlantedFact {
  id: string;
  /** Text that must be in the prompt for the fact to have survived (case-insensitive). */
  text: string;
  /** Index of the message that first carries the fact. */
  plantedAt: number;
  description: string;
  /** Indices of messages the recorded agent produced using the fact: the request before each needed it. */
  neededAt: number[];
}

interface Session {
  name: string;
  description: string;
  model: string;
  /** Token budget for the messages in this session's replay. */
  budgetTokens: number;
  plantedFacts: PlantedFact[];
  messages: ChatMessage[];
}

const directory = join(import.meta.dirname, 'fixtures', 'sessions');
const sessions: Session[] = readdirSync(directory)
  .filter((file) => file.endsWith('.json'))
  .sort()
  .map((file) => JSON.parse(readFileSync(join(directory, file), 'utf8')) as Session);

const mentions = (messages: readonly unknown[], text: string): boolean =>
  messages.some((message) => JSON.stringify(message).toLowerCase().includes(text.toLowerCase()));

describe('fixture sessions are well formed', () => {
  it('has at least four sessions', () => {
    expect(sessions.length).toBeGreaterThanOrEqual(4);
  });

  it.each(sessions.map((session) => [session.name, session] as const))('%s', (_, session) => {
    expect(toolViolation(session.messages)).toBeUndefined();
    expect(session.plantedFacts.length).toBeGreaterThan(0);
    const tokens = tokenizerForModel(session.model).countMessages(session.messages);
    expect(tokens).toBeGreaterThan(session.budgetTokens * 1.5);
    for (const fact of session.plantedFacts) {
      expect(mentions([session.messages[fact.plantedAt]], fact.text), fact.id).toBe(true);
      // Nothing before the planting message carries the fact.
      expect(mentions(session.messages.slice(0, fact.plantedAt), fact.text), fact.id).toBe(false);
      expect(fact.neededAt.length).toBeGreaterThan(0);
      for (const at of fact.neededAt) {
        expect(at).toBeGreaterThan(fact.plantedAt);
        expect(mentions([session.messages[at]], fact.text), `${fact.id}@${at}`).toBe(true);
      }
    }
  });
});

interface Outcome {
  survived: number;
  needed: number;
  tokensSent: number;
  tokensFull: number;
}

function replaySession(
  session: Session,
  prompt: (messages: ChatMessage[]) => readonly unknown[],
): Outcome {
  const tokenizer = tokenizerForModel(session.model);
  let survived = 0;
  let needed = 0;
  for (const fact of session.plantedFacts) {
    for (const at of fact.neededAt) {
      needed += 1;
      if (mentions(prompt(session.messages.slice(0, at)), fact.text)) survived += 1;
    }
  }
  // Tokens over every request of the session (before each assistant message).
  let tokensSent = 0;
  let tokensFull = 0;
  session.messages.forEach((message, index) => {
    if (message.role !== 'assistant' || index === 0) return;
    const request = session.messages.slice(0, index);
    if (session.messages[index - 1]?.role === 'assistant') return;
    tokensSent += tokenizer.countMessages(prompt(request));
    tokensFull += tokenizer.countMessages(request);
  });
  return { survived, needed, tokensSent, tokensFull };
}

describe('planted facts survive pruning', () => {
  it('keeps far more of the facts the agent needed than the sliding window, in the same budget', () => {
    const rows: string[] = [];
    const totals = { ours: 0, baseline: 0, needed: 0, sent: 0, full: 0, baselineSent: 0 };
    for (const session of sessions) {
      const manager = createContextManager({
        model: session.model,
        maxTokens: session.budgetTokens,
      });
      const ours = replaySession(session, (messages) => {
        const result = manager.fitSync(messages);
        expect(result.tokens.after).toBeLessThanOrEqual(session.budgetTokens);
        expect(toolViolation(result.messages)).toBeUndefined();
        return result.messages;
      });
      const baseline = replaySession(
        session,
        (messages) => keepLastBaseline(messages, session.budgetTokens).messages,
      );
      totals.ours += ours.survived;
      totals.baseline += baseline.survived;
      totals.needed += ours.needed;
      totals.sent += ours.tokensSent;
      totals.full += ours.tokensFull;
      totals.baselineSent += baseline.tokensSent;
      rows.push(
        `  ${session.name.padEnd(24)} facts ${ours.survived}/${ours.needed} (baseline ${baseline.survived}/${baseline.needed}), ` +
          `tokens ${ours.tokensSent}/${ours.tokensFull} (${((1 - ours.tokensSent / ours.tokensFull) * 100).toFixed(0)}% saved)`,
      );
    }
    const share = totals.ours / totals.needed;
    const baselineShare = totals.baseline / totals.needed;
    console.info(
      `[context] planted facts surviving at the requests that needed them: sluice ${(share * 100).toFixed(1)}% ` +
        `(${totals.ours}/${totals.needed}), keep-last baseline ${(baselineShare * 100).toFixed(1)}% ` +
        `(${totals.baseline}/${totals.needed}); tokens sent ${((1 - totals.sent / totals.full) * 100).toFixed(1)}% below unpruned ` +
        `(baseline ${((1 - totals.baselineSent / totals.full) * 100).toFixed(1)}%)\n${rows.join('\n')}`,
    );
    expect(share).toBeGreaterThanOrEqual(0.85);
    expect(share).toBeGreaterThan(baselineShare + 0.2);
    expect(totals.sent).toBeLessThan(totals.full * 0.8);
  });

  it('a summary can carry what pruning dropped', async () => {
    // A summarizer that keeps every salient-looking token: what a real one should preserve.
    const summarize = async (messages: readonly ChatMessage[]) =>
      [
        ...new Set(
          messages.flatMap((message) =>
            (JSON.stringify(message).match(/[\w.@/-]*[\d_@/][\w.@/,-]*/g) ?? []).filter(
              (token) => token.length >= 4,
            ),
          ),
        ),
      ]
        .slice(-120)
        .join(' ');
    let survived = 0;
    let needed = 0;
    for (const session of sessions) {
      const manager = createContextManager({
        model: session.model,
        maxTokens: session.budgetTokens,
        summarize,
        summaryMaxTokens: 400,
      });
      for (const fact of session.plantedFacts) {
        for (const at of fact.neededAt) {
          needed += 1;
          const result = await manager.fit(session.messages.slice(0, at));
          expect(result.tokens.after).toBeLessThanOrEqual(result.tokens.budget);
          if (mentions(result.messages, fact.text)) survived += 1;
        }
      }
    }
    console.info(`[context] with a token-keeping summarizer: ${survived}/${needed} facts survive`);
    expect(survived / needed).toBeGreaterThanOrEqual(0.85);
  });
});
