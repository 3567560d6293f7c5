import { describe, expect, it } from 'vitest';
import {
  type ChatMessage,
  createContextManager,
  isSummaryMessage,
  SUMMARY_MARKER,
  type SummarizeContext,
} from '../../src/context/index.js';
import { createRandom } from '../../src/shared/random.js';
import { filler, randomConversation, tokenizer } from './conversations.js';

interface Call {
  messages: readonly ChatMessage[];
  context: SummarizeContext;
}

/** A summarizer that records its calls and answers with the first words of each message. */
function recordingSummarizer(answer?: (call: Call) => string) {
  const calls: Call[] = [];
  const summarize = async (messages: readonly ChatMessage[], context: SummarizeContext) => {
    const call = { messages, context };
    calls.push(call);
    return (
      answer?.(call) ??
      `Covered ${messages.length} messages: ${messages
        .map((message) => String(message.content ?? '').slice(0, 12))
        .join(' | ')}`
    );
  };
  return { calls, summarize };
}

const conversation = randomConversation(createRandom(21), { turns: 40 });

describe('summaries of dropped messages', () => {
  it('replaces the dropped span with one marked message, within the budget', async () => {
    const { calls, summarize } = recordingSummarizer();
    const manager = createContextManager({ maxTokens: 2_500, summarize });
    const result = await manager.fit(conversation);
    expect(result.dropped.length).toBeGreaterThan(0);
    expect(result.summary?.inserted).toBe(true);
    expect(result.summary?.covers).toEqual(result.dropped);
    expect(calls).toHaveLength(1);
    expect(calls[0]?.messages).toEqual(result.dropped.map((index) => conversation[index]));

    const summaries = result.messages.filter(isSummaryMessage);
    expect(summaries).toHaveLength(1);
    const summary = summaries[0];
    expect(summary?.role).toBe('user');
    expect(summary?.content.startsWith(SUMMARY_MARKER)).toBe(true);
    // At the end of the dropped span: every message before it is older than the last dropped one.
    const position = result.messages.indexOf(summary as never);
    const lastDropped = result.dropped[result.dropped.length - 1] as number;
    result.messages.slice(0, position).forEach((message) => {
      expect(conversation.indexOf(message as ChatMessage)).toBeLessThan(lastDropped);
    });
    result.messages.slice(position + 1).forEach((message) => {
      expect(conversation.indexOf(message as ChatMessage)).toBeGreaterThan(lastDropped);
    });

    expect(result.tokens.after).toBe(tokenizer.countMessages(result.messages));
    expect(result.tokens.after).toBeLessThanOrEqual(result.tokens.budget);
  });

  it('calls the summarizer once per span, and again only after the next compaction', async () => {
    const { calls, summarize } = recordingSummarizer();
    const manager = createContextManager({ maxTokens: 2_500, summarize });
    const ends = conversation.flatMap((message, index) =>
      message.role === 'user' ? [index + 1] : [],
    );
    let previous: Awaited<ReturnType<typeof manager.fit>> | undefined;
    let compactionsWithDrops = 0;
    for (const end of ends) {
      const result = await manager.fit(conversation.slice(0, end));
      expect(result.tokens.after).toBe(tokenizer.countMessages(result.messages));
      expect(result.tokens.after).toBeLessThanOrEqual(result.tokens.budget);
      const coversChanged =
        JSON.stringify(result.summary?.covers ?? []) !==
        JSON.stringify(previous?.summary?.covers ?? []);
      if (coversChanged && result.dropped.length > 0) compactionsWithDrops += 1;
      if (!coversChanged && previous?.summary?.inserted) {
        // Same span: the identical summary message, no new call.
        expect(result.messages.filter(isSummaryMessage)).toEqual(
          previous.messages.filter(isSummaryMessage),
        );
      }
      previous = result;
    }
    expect(compactionsWithDrops).toBeGreaterThan(1);
    expect(calls).toHaveLength(compactionsWithDrops);
    const stats = manager.stats();
    expect(stats.summaryCalls).toBe(compactionsWithDrops);
    expect(stats.summaryHits).toBeGreaterThan(0);
  });

  it('extends the previous summary with only the newly dropped messages', async () => {
    const { calls, summarize } = recordingSummarizer();
    const manager = createContextManager({ maxTokens: 2_500, summarize });
    const ends = conversation.flatMap((message, index) =>
      message.role === 'user' ? [index + 1] : [],
    );
    const coverHistory: number[][] = [];
    for (const end of ends) {
      const result = await manager.fit(conversation.slice(0, end));
      const covers = result.summary?.covers ?? [];
      if (covers.length > 0 && JSON.stringify(covers) !== JSON.stringify(coverHistory.at(-1))) {
        coverHistory.push(covers);
      }
    }
    expect(calls.length).toBeGreaterThan(1);
    const second = calls[1] as Call;
    const [first, second_] = coverHistory;
    expect(second.context.previousSummary).toBeDefined();
    expect(isSummaryMessage(second.messages[0])).toBe(true);
    expect(String(second.messages[0]?.content)).toContain(second.context.previousSummary);
    const added = (second_ ?? []).filter((index) => !(first ?? []).includes(index));
    expect(second.messages.slice(1)).toEqual(added.map((index) => conversation[index]));
  });

  it('shares one summarizer call between concurrent fits of the same span', async () => {
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const { calls, summarize } = recordingSummarizer();
    const manager = createContextManager({
      maxTokens: 2_500,
      summarize: async (messages, context) => {
        await gate;
        return summarize(messages, context);
      },
    });
    const pending = [
      manager.fit(conversation),
      manager.fit(conversation),
      manager.fit(conversation),
    ];
    release();
    const results = await Promise.all(pending);
    expect(calls).toHaveLength(1);
    for (const result of results) expect(result.messages).toEqual(results[0]?.messages);
  });

  it('keys summaries by content: another conversation with the same shape gets its own', async () => {
    const { calls, summarize } = recordingSummarizer();
    const manager = createContextManager({ maxTokens: 2_500, summarize });
    const other = randomConversation(createRandom(21), { turns: 40 }).map((message) =>
      typeof message.content === 'string'
        ? { ...message, content: `${message.content}.` }
        : message,
    );
    await manager.fit(conversation);
    await manager.fit(other);
    expect(calls).toHaveLength(2);
  });

  it('falls back to plain dropping when the summarizer fails, and retries next time', async () => {
    let fail = true;
    const { calls, summarize } = recordingSummarizer();
    const manager = createContextManager({
      maxTokens: 2_500,
      summarize: async (messages, context) => {
        if (fail) throw new Error('summarizer down');
        return summarize(messages, context);
      },
    });
    const failed = await manager.fit(conversation);
    expect(failed.summary?.inserted).toBe(false);
    expect(failed.summary?.error).toBeInstanceOf(Error);
    expect(String(failed.summary?.error)).toContain('summarizer down');
    expect(failed.messages.some(isSummaryMessage)).toBe(false);
    expect(failed.tokens.after).toBe(tokenizer.countMessages(failed.messages));
    expect(manager.stats().summaryFailures).toBe(1);
    fail = false;
    const retried = await manager.fit(conversation);
    expect(retried.summary?.inserted).toBe(true);
    expect(calls).toHaveLength(1);
  });

  it.each([
    ['an empty summary', () => '   '],
    ['a summary too long to fit', () => filler(createRandom(22), 2_000)],
  ])('handles %s', async (name, answer) => {
    const { summarize } = recordingSummarizer(answer);
    const manager = createContextManager({ maxTokens: 2_500, summarize, summaryMaxTokens: 200 });
    const result = await manager.fit(conversation);
    const summary = result.messages.find(isSummaryMessage);
    if (name === 'an empty summary') {
      expect(result.summary?.inserted).toBe(false);
      expect(summary).toBeUndefined();
    } else {
      expect(result.summary?.inserted).toBe(true);
      expect(tokenizer.countMessages([summary]) - 3).toBeLessThanOrEqual(200);
      expect(summary?.content.endsWith('…')).toBe(true);
    }
    expect(result.tokens.after).toBe(tokenizer.countMessages(result.messages));
    expect(result.tokens.after).toBeLessThanOrEqual(result.tokens.budget);
  });

  it('tells the summarizer its token target, and honours summaryRole', async () => {
    const { calls, summarize } = recordingSummarizer();
    const manager = createContextManager({
      maxTokens: 2_500,
      summarize,
      summaryMaxTokens: 300,
      summaryRole: 'system',
    });
    const result = await manager.fit(conversation);
    expect(calls[0]?.context.maxTokens).toBeLessThan(300);
    expect(calls[0]?.context.maxTokens).toBeGreaterThan(250);
    expect(result.messages.find(isSummaryMessage)?.role).toBe('system');
  });

  it('fitSync never summarizes and reserves nothing for it', async () => {
    const { calls, summarize } = recordingSummarizer();
    const manager = createContextManager({ maxTokens: 2_500, summarize });
    const result = manager.fitSync(conversation);
    expect(result.summary).toBeUndefined();
    expect(calls).toHaveLength(0);
    // fit reserves summaryMaxTokens (512) for the summary: kept messages stay below the rest.
    const summarized = await manager.fit(conversation);
    const keptOnly = summarized.messages.filter((message) => !isSummaryMessage(message));
    expect(tokenizer.countMessages(keptOnly)).toBeLessThanOrEqual(summarized.tokens.budget - 512);
  });

  it('does not call the summarizer when nothing is dropped', async () => {
    const { calls, summarize } = recordingSummarizer();
    const result = await createContextManager({ maxTokens: 100_000, summarize }).fit(conversation);
    expect(result.summary).toBeUndefined();
    expect(calls).toHaveLength(0);
  });
});
