import { describe, expect, it } from 'vitest';
import {
  type ComplexityRequest,
  createComplexityEstimator,
  estimateComplexity,
} from '../../src/routing/complexity.js';

const user = (content: string) => ({ role: 'user', content });
const tool = {
  type: 'function',
  function: { name: 'search', parameters: { type: 'object', properties: {} } },
};

describe('complexity estimation', () => {
  it('a short chat is trivial and accepts a small model', () => {
    const estimate = estimateComplexity({ messages: [user('What is the capital of France?')] });
    expect(estimate.score).toBe(0);
    expect(estimate.minQuality).toBe(0.5);
    expect(estimate.signals.promptTokens).toBeGreaterThan(0);
  });

  it('each added feature never lowers the score (monotone), and most raise it', () => {
    const steps: { name: string; request: ComplexityRequest; promptTokens?: number }[] = [
      { name: 'short chat', request: { messages: [user('Summarise this sentence.')] } },
      {
        name: '+ reasoning cue',
        request: { messages: [user('Summarise this sentence, step by step.')] },
      },
      {
        name: '+ code',
        request: {
          messages: [user('Fix this, step by step:\n```ts\nconst x = () => 1;\n```')],
        },
      },
      {
        name: '+ tools',
        request: {
          messages: [user('Fix this, step by step:\n```ts\nconst x = () => 1;\n```')],
          tools: [tool, tool],
        },
      },
      {
        name: '+ json_schema output',
        request: {
          messages: [user('Fix this, step by step:\n```ts\nconst x = () => 1;\n```')],
          tools: [tool, tool],
          response_format: { type: 'json_schema', json_schema: { name: 'fix', schema: {} } },
        },
      },
      {
        name: '+ long prompt',
        request: {
          messages: [user('Fix this, step by step:\n```ts\nconst x = () => 1;\n```')],
          tools: [tool, tool],
          response_format: { type: 'json_schema', json_schema: { name: 'fix', schema: {} } },
        },
        promptTokens: 12_000,
      },
    ];
    let previous = -1;
    const scores: Record<string, number> = {};
    for (const step of steps) {
      const { score } = estimateComplexity(step.request, step.promptTokens);
      scores[step.name] = score;
      expect(score, step.name).toBeGreaterThan(previous);
      previous = score;
    }
    expect(scores['+ long prompt']).toBeLessThanOrEqual(1);
  });

  it('length counts log-linearly between the short and long thresholds', () => {
    const request = { messages: [user('hello')] };
    const at = (tokens: number) => estimateComplexity(request, tokens).signals.length;
    expect(at(100)).toBe(0);
    expect(at(200)).toBe(0);
    expect(at(16_000)).toBe(1);
    expect(at(1_000_000)).toBe(1);
    const middle = at(Math.round(Math.sqrt(200 * 16_000)));
    expect(middle).toBeCloseTo(0.5, 2);
    expect(at(2_000)).toBeLessThan(at(4_000));
  });

  it('estimates tokens from characters when no count is given', () => {
    const text = 'word '.repeat(4_000); // 20,000 characters
    const estimate = estimateComplexity({ messages: [user(text)] });
    expect(estimate.signals.promptTokens).toBeGreaterThan(4_900);
    expect(estimate.signals.promptTokens).toBeLessThan(5_200);
    expect(estimateComplexity({ messages: [user(text)] }, 50).signals.promptTokens).toBe(50);
  });

  it('detects code without fences, tool traffic, turns and json_object', () => {
    const code = estimateComplexity({
      messages: [user('why does console.log(a); return x; fail when a => b && c || d')],
    });
    expect(code.signals.code).toBe(0.6);
    const prose = estimateComplexity({
      messages: [user('Please import the class list from the school website.')],
    });
    expect(prose.signals.code).toBe(0);

    const agentLoop = estimateComplexity({
      messages: [
        user('Find the weather'),
        { role: 'assistant', content: null, tool_calls: [{ function: { arguments: '{}' } }] },
        { role: 'tool', content: '{"temp": 21}' },
      ],
    });
    expect(agentLoop.signals.tools).toBe(0.6);
    expect(agentLoop.signals.turns).toBeCloseTo(2 / 19, 6);

    const json = estimateComplexity({
      messages: [user('list three colours')],
      response_format: { type: 'json_object' },
    });
    expect(json.signals.structuredOutput).toBe(0.5);
  });

  it('recognises reasoning and math cues in the system prompt and the last user message', () => {
    const strong = estimateComplexity({ messages: [user('Prove that the sum is finite.')] });
    const mild = estimateComplexity({ messages: [user('Compare these two phones.')] });
    const math = estimateComplexity({ messages: [user('Solve the equation x = 3 * 4')] });
    const both = estimateComplexity({
      messages: [user('Prove, step by step, that the integral of 2 * x is x^2.')],
    });
    expect(strong.signals.reasoning).toBe(0.7);
    expect(mild.signals.reasoning).toBe(0.4);
    expect(math.signals.reasoning).toBe(0.5);
    expect(both.signals.reasoning).toBe(1);
    const system = estimateComplexity({
      messages: [{ role: 'system', content: 'Think carefully.' }, user('hi')],
    });
    expect(system.signals.reasoning).toBe(0.7);
  });

  it('maps complexity to a quality floor with a configurable line', () => {
    const estimator = createComplexityEstimator({ qualityBase: 0.4, qualitySlope: 0.5 });
    expect(estimator.qualityFor(0)).toBe(0.4);
    expect(estimator.qualityFor(1)).toBe(0.9);
    expect(estimator.qualityFor(5)).toBe(0.9);
    expect(createComplexityEstimator().qualityFor(0.5)).toBe(0.725);
    const noLength = createComplexityEstimator({ weights: { length: 0 } });
    expect(noLength.estimate({ messages: [user('hi')] }, 50_000).score).toBe(0);
    expect(() => createComplexityEstimator({ weights: { code: -1 } })).toThrow(/non-negative/);
    expect(() =>
      createComplexityEstimator({ shortPromptTokens: 500, longPromptTokens: 100 }),
    ).toThrow(/must exceed/);
  });

  it('is deterministic and fast on a typical request', () => {
    const request: ComplexityRequest = {
      messages: [
        { role: 'system', content: 'You are a helpful assistant for a travel agency. '.repeat(8) },
        user('Compare the two itineraries below and recommend one.\n'.repeat(6)),
        { role: 'assistant', content: 'Sure: here is my analysis. '.repeat(20) },
        user('Now give me the cheaper one as JSON.'),
      ],
      tools: [tool],
      response_format: { type: 'json_object' },
    };
    const first = estimateComplexity(request, 600);
    for (let index = 0; index < 2_000; index += 1) estimateComplexity(request, 600);
    const runs = 5_000;
    const started = process.hrtime.bigint();
    for (let index = 0; index < runs; index += 1) estimateComplexity(request, 600);
    const microseconds = Number(process.hrtime.bigint() - started) / 1_000 / runs;
    expect(estimateComplexity(request, 600)).toEqual(first);
    expect(microseconds).toBeLessThan(50);
  });
});
