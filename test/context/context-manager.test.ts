import type { ChatCompletionMessageParam } from 'openai/resources/chat/completions';
import { describe, expect, it } from 'vitest';
import {
  type ChatMessage,
  ContextOverflowError,
  createContextManager,
  type FitResult,
} from '../../src/context/index.js';
import { price } from '../../src/cost/prices.js';
import { ConfigError } from '../../src/shared/errors.js';
import { createRandom } from '../../src/shared/random.js';
import { filler, randomConversation, tokenizer, toolViolation } from './conversations.js';

/** Checks what every fit must satisfy, whatever the conversation. */
function expectConsistent(messages: readonly ChatMessage[], result: FitResult): void {
  expect(result.tokens.before).toBe(tokenizer.countMessages(messages));
  expect(result.tokens.after).toBe(tokenizer.countMessages(result.messages));
  expect(result.tokens.after).toBeLessThanOrEqual(result.tokens.budget);
  expect([...result.kept, ...result.dropped].sort((a, b) => a - b)).toEqual(
    messages.map((_, index) => index),
  );
  const inputs = new Set<unknown>(messages);
  const keptMessages = result.messages.filter((message) => inputs.has(message));
  expect(keptMessages).toEqual(result.kept.map((index) => messages[index]));
  for (const index of result.retained) expect(result.kept).toContain(index);
}

describe('budget', () => {
  const conversation = randomConversation(createRandom(1), { turns: 30 });

  it.each([800, 1_200, 1_500, 3_000, 6_000, 100_000])(
    'fits into %i tokens, counts exactly as the tokenizer',
    (maxTokens) => {
      const result = createContextManager({ maxTokens }).fitSync(conversation);
      expectConsistent(conversation, result);
      expect(result.tokens.budget).toBe(maxTokens);
      if (result.tokens.before <= maxTokens) expect(result.dropped).toEqual([]);
      else expect(result.dropped.length).toBeGreaterThan(0);
    },
  );

  it('keeps everything, as the same objects, when the conversation fits', () => {
    const result = createContextManager({ maxTokens: 100_000 }).fitSync(conversation);
    expect(result.messages).toEqual(conversation);
    result.messages.forEach((message, index) => {
      expect(message).toBe(conversation[index]);
    });
    expect(result.compactions).toBe(0);
  });

  it('takes reserveForOutput and tool definitions off the budget', () => {
    const tools = [
      { type: 'function', function: { name: 'lookup', parameters: { type: 'object' } } },
    ];
    const manager = createContextManager({ maxTokens: 2_000, reserveForOutput: 500 });
    const result = manager.fitSync(conversation, { tools });
    expect(result.tokens.budget).toBe(1_500 - tokenizer.countTools(tools));
    expectConsistent(conversation, result);
    expect(manager.fitSync(conversation, { maxTokens: 1_400 }).tokens.budget).toBe(900);
  });

  it("defaults to the model's context window minus its output cap", () => {
    const known = price('gpt-4o');
    expect(known?.contextWindow).toBeDefined();
    const result = createContextManager({ model: 'gpt-4o' }).fitSync(conversation);
    expect(result.tokens.budget).toBe(
      (known?.contextWindow ?? 0) - (known?.maxOutputTokens ?? 4096),
    );
  });

  it('refuses to guess a budget for an unknown model', () => {
    expect(() => createContextManager({ model: 'my-finetune' }).fitSync(conversation)).toThrow(
      ConfigError,
    );
  });

  it('throws ContextOverflowError when the always-kept messages alone do not fit', () => {
    const messages: ChatMessage[] = [
      { role: 'system', content: filler(createRandom(2), 400) },
      { role: 'user', content: 'hello' },
    ];
    const manager = createContextManager({ maxTokens: 200 });
    let error: unknown;
    try {
      manager.fitSync(messages);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ContextOverflowError);
    expect((error as ContextOverflowError).code).toBe('E_CONTEXT_OVERFLOW');
    expect((error as ContextOverflowError).required).toBeGreaterThan(200);
    expect((error as ContextOverflowError).isRetryable).toBe(false);
  });

  it('accepts OpenAI SDK message types as they are', () => {
    const messages: ChatCompletionMessageParam[] = [
      { role: 'developer', content: 'Be brief.' },
      { role: 'user', content: [{ type: 'text', text: 'What is in this file?' }] },
      {
        role: 'assistant',
        content: null,
        tool_calls: [
          { id: 'c1', type: 'function', function: { name: 'read', arguments: '{"path":"a.ts"}' } },
        ],
      },
      { role: 'tool', tool_call_id: 'c1', content: 'export const a = 1;' },
    ];
    const result = createContextManager({ maxTokens: 1_000 }).fitSync(messages);
    const first: ChatCompletionMessageParam | { role: 'user' | 'system'; content: string } = result
      .messages[0] as ChatCompletionMessageParam;
    expect(first).toBe(messages[0]);
    expect(result.tokens.after).toBe(tokenizer.countMessages(messages));
  });
});

describe('always kept', () => {
  const random = createRandom(3);
  const conversation = randomConversation(random, { turns: 40 });
  // A second system message in the middle, as some agents add.
  conversation.splice(30, 0, { role: 'system', content: 'Reminder: answer in English.' });

  it.each([
    { recentMessages: 1, recentUserMessages: 0 },
    { recentMessages: 4, recentUserMessages: 2 },
    { recentMessages: 8, recentUserMessages: 3 },
  ])(
    'system messages, the last $recentMessages messages and $recentUserMessages user messages',
    (recent) => {
      const result = createContextManager({ maxTokens: 1_800, ...recent }).fitSync(conversation);
      expectConsistent(conversation, result);
      expect(result.dropped.length).toBeGreaterThan(0);
      conversation.forEach((message, index) => {
        if (message.role === 'system') expect(result.kept).toContain(index);
      });
      for (
        let index = conversation.length - recent.recentMessages;
        index < conversation.length;
        index += 1
      ) {
        expect(result.kept).toContain(index);
      }
      const users = conversation.flatMap((message, index) =>
        message.role === 'user' ? [index] : [],
      );
      for (const index of users.slice(users.length - recent.recentUserMessages)) {
        expect(result.kept).toContain(index);
      }
    },
  );

  it('keeps the task of a long agent loop (the last user message, far back)', () => {
    const loop = randomConversation(createRandom(4), { turns: 1, toolChance: 0 });
    const random = createRandom(5);
    for (let step = 0; step < 60; step += 1) {
      loop.push(
        {
          role: 'assistant',
          content: null,
          tool_calls: [
            { id: `s${step}`, type: 'function', function: { name: 'step', arguments: '{}' } },
          ],
        },
        { role: 'tool', tool_call_id: `s${step}`, content: filler(random, 60) },
      );
    }
    const result = createContextManager({ maxTokens: 1_200 }).fitSync(loop);
    expectConsistent(loop, result);
    expect(result.kept).toContain(1);
    expect(result.dropped.length).toBeGreaterThan(0);
  });

  it('keeps pinned messages, and a pinned tool result keeps its call', () => {
    const pinnedIds = new Set<string>();
    const toolMessages = conversation.flatMap((message, index) =>
      message.role === 'tool' && index < 20 ? [index] : [],
    );
    const pinnedTool = toolMessages[0] as number;
    pinnedIds.add(conversation[pinnedTool]?.tool_call_id ?? '');
    const manager = createContextManager({
      maxTokens: 1_800,
      headShare: 0,
      pinned: (message, index) =>
        index === 3 || (message.role === 'tool' && pinnedIds.has(message.tool_call_id ?? '')),
    });
    const result = manager.fitSync(conversation);
    expectConsistent(conversation, result);
    expect(result.kept).toContain(3);
    expect(result.kept).toContain(pinnedTool);
    expect(toolViolation(result.messages)).toBeUndefined();
    // Without the pins, both go.
    const unpinned = createContextManager({ maxTokens: 1_800, headShare: 0 }).fitSync(conversation);
    expect(unpinned.dropped).toContain(3);
    expect(unpinned.dropped).toContain(pinnedTool);
  });
});

describe('the head', () => {
  const conversation = randomConversation(createRandom(30), { turns: 40 });

  it('keeps the first messages up to headShare of the budget, and drops after them', () => {
    const result = createContextManager({ maxTokens: 2_000, headShare: 0.2 }).fitSync(conversation);
    expectConsistent(conversation, result);
    // The kept run from the start covers the head; the first dropped message comes after it.
    let run = 0;
    while (result.kept[run] === run) run += 1;
    const headTokens = tokenizer.countMessages(conversation.slice(1, run)) - 3;
    expect(run).toBeGreaterThan(2);
    expect(headTokens).toBeLessThanOrEqual(400);
    expect(result.dropped[0]).toBe(run);
  });

  it('with headShare 0, drops from the start of the history instead', () => {
    const result = createContextManager({ maxTokens: 2_000, headShare: 0 }).fitSync(conversation);
    expect(result.dropped[0]).toBe(1);
  });
});

describe('tool calls and their results are kept or dropped together', () => {
  it('holds for 300 random conversations and budgets', () => {
    for (let seed = 0; seed < 300; seed += 1) {
      const random = createRandom(1_000 + seed);
      const conversation = randomConversation(random, {
        turns: 3 + Math.floor(random() * 25),
        toolChance: random() * 0.8,
        maxParallelCalls: 1 + Math.floor(random() * 4),
        maxWords: 20 + Math.floor(random() * 120),
        system: random() < 0.8,
      });
      const manager = createContextManager({
        maxTokens: 300 + Math.floor(random() * 4_000),
        recentMessages: 1 + Math.floor(random() * 4),
        recentUserMessages: Math.floor(random() * 3),
        compactTo: 0.5 + random() * 0.5,
        retainedShare: random() * 0.3,
      });
      let result: FitResult;
      try {
        result = manager.fitSync(conversation);
      } catch (error) {
        // A budget below the always-kept messages is the only acceptable failure.
        expect(error, `seed ${seed}`).toBeInstanceOf(ContextOverflowError);
        continue;
      }
      expectConsistent(conversation, result);
      expect(toolViolation(result.messages), `seed ${seed}`).toBeUndefined();
    }
  });

  it('an orphan tool message stays with the message before it', () => {
    const messages: ChatMessage[] = [
      { role: 'system', content: 'sys' },
      { role: 'user', content: filler(createRandom(6), 200) },
      { role: 'assistant', content: filler(createRandom(7), 200) },
      { role: 'tool', tool_call_id: 'unknown', content: 'orphan result' },
      { role: 'user', content: 'next' },
      { role: 'assistant', content: 'ok' },
    ];
    const result = createContextManager({
      maxTokens: 120,
      recentMessages: 2,
      recentUserMessages: 1,
    }).fitSync(messages);
    expect(result.kept.includes(2)).toBe(result.kept.includes(3));
  });
});

describe('importance (no head, so that only scores decide)', () => {
  /** Old history with two equally long facts, one referenced later; then filler turns. */
  function conversationWithReference(): ChatMessage[] {
    const random = createRandom(8);
    const messages: ChatMessage[] = [
      { role: 'system', content: 'You are an assistant.' },
      {
        role: 'user',
        content: 'The staging database host is db-staging-7.internal and the port is 6432.',
      },
      { role: 'assistant', content: 'Noted, I will use those settings.' },
      { role: 'user', content: 'The weather was nice this morning and the office was quiet too.' },
      { role: 'assistant', content: 'Good to hear, let me know what to do next.' },
    ];
    for (let turn = 0; turn < 16; turn += 1) {
      messages.push({ role: 'user', content: `next step ${turn}: ${filler(random, 40)}` });
      messages.push({
        role: 'assistant',
        content:
          turn === 2 ? 'Connecting to db-staging-7.internal on port 6432 now.' : filler(random, 40),
      });
    }
    return messages;
  }

  it('a referenced older message survives over an unreferenced one', () => {
    const messages = conversationWithReference();
    const result = createContextManager({ maxTokens: 700, headShare: 0 }).fitSync(messages);
    expectConsistent(messages, result);
    expect(result.kept).toContain(1);
    expect(result.retained).toContain(1);
    expect(result.dropped).toContain(3);
  });

  it('without the reference weight the referenced message is dropped like the other', () => {
    const messages = conversationWithReference();
    const result = createContextManager({
      maxTokens: 700,
      headShare: 0,
      weights: { reference: 0 },
    }).fitSync(messages);
    expect(result.dropped).toContain(1);
    expect(result.dropped).toContain(3);
  });

  it.each([
    ['a keyword', 'Remember: the deploy window is Tuesday.', ['remember']],
    ['a custom keyword', 'Heads-up: the deploy window is Tuesday.', ['heads-up']],
  ])('%s keeps an older message', (_, content, keywords) => {
    const random = createRandom(9);
    const messages: ChatMessage[] = [
      { role: 'system', content: 'You are an assistant.' },
      { role: 'user', content },
      { role: 'user', content: 'The deploy window is something we discussed.' },
    ];
    for (let turn = 0; turn < 16; turn += 1) {
      messages.push({ role: 'user', content: filler(random, 40) });
      messages.push({ role: 'assistant', content: filler(random, 40) });
    }
    const result = createContextManager({ maxTokens: 700, headShare: 0, keywords }).fitSync(
      messages,
    );
    expect(result.kept).toContain(1);
    expect(result.dropped).toContain(2);
  });

  it('a message referenced after it was dropped is recalled', () => {
    const random = createRandom(10);
    const messages: ChatMessage[] = [
      { role: 'system', content: 'You are an assistant.' },
      { role: 'user', content: 'My ticket is INC-40917, keep it handy.' },
    ];
    for (let turn = 0; turn < 14; turn += 1) {
      messages.push({ role: 'assistant', content: filler(random, 40) });
      messages.push({ role: 'user', content: filler(random, 40) });
    }
    const manager = createContextManager({ maxTokens: 600, headShare: 0 });
    const before = manager.fitSync(messages);
    expect(before.dropped).toContain(1);
    messages.push({ role: 'assistant', content: 'Is this about INC-40917?' });
    messages.push({ role: 'user', content: 'Yes.' });
    const after = manager.fitSync(messages);
    expectConsistent(messages, after);
    expect(after.kept).toContain(1);
  });
});

describe('options', () => {
  it.each<[string, Parameters<typeof createContextManager>[0]]>([
    ['maxTokens 0', { maxTokens: 0 }],
    ['fractional maxTokens', { maxTokens: 10.5 }],
    ['negative reserveForOutput', { reserveForOutput: -1 }],
    ['recentMessages 0', { recentMessages: 0 }],
    ['negative recentUserMessages', { recentUserMessages: -1 }],
    ['compactTo 0', { compactTo: 0 }],
    ['compactTo above 1', { compactTo: 1.5 }],
    ['retainedShare at compactTo', { compactTo: 0.5, retainedShare: 0.5, headShare: 0 }],
    ['head and retained above compactTo', { compactTo: 0.5, retainedShare: 0.2, headShare: 0.3 }],
    ['headShare above 1', { headShare: 1.5 }],
    ['negative weight', { weights: { reference: -1 } }],
    ['role score above 1', { roleScores: { user: 2 } }],
    ['empty keyword', { keywords: [' '] }],
    ['retainThreshold above 1', { retainThreshold: 1.2 }],
    ['tiny summaryMaxTokens', { summaryMaxTokens: 4 }],
    ['summaryCacheSize 0', { summaryCacheSize: 0 }],
    ['bad summaryRole', { summaryRole: 'assistant' as 'user' }],
  ])('refuses %s', (_, options) => {
    expect(() => createContextManager(options)).toThrow(ConfigError);
  });

  it('refuses a budget that leaves no room for messages', () => {
    const manager = createContextManager({ maxTokens: 100, reserveForOutput: 100 });
    expect(() => manager.fitSync([{ role: 'user', content: 'hi' }])).toThrow(ConfigError);
  });
});

describe('speed', () => {
  it('fits 4,000 messages in well under a second, and faster once counted', () => {
    const conversation = randomConversation(createRandom(11), { turns: 1_000 });
    const manager = createContextManager({ maxTokens: 8_000 });
    let started = performance.now();
    const first = manager.fitSync(conversation);
    const cold = performance.now() - started;
    started = performance.now();
    const second = manager.fitSync(conversation);
    const warm = performance.now() - started;
    expect(second.kept).toEqual(first.kept);
    expect(cold).toBeLessThan(2_000);
    expect(warm).toBeLessThan(cold);
    expect(warm).toBeLessThan(200);
  });
});
