import { describe, expect, it } from 'vitest';
import { createCostTracker } from '../../src/cost/tracker.js';
import type { BreakerStateChange } from '../../src/routing/breaker.js';
import {
  CircuitOpenError,
  NO_ROUTE_CODE,
  NoRouteError,
  UNKNOWN_MODEL_CODE,
} from '../../src/routing/errors.js';
import {
  createRouter,
  type RouteConstraints,
  type RouteDecision,
  type RouteRequest,
  type Router,
  type RouterOptions,
} from '../../src/routing/router.js';
import { ManualClock } from '../../src/shared/clock.js';

const tracker = createCostTracker();
const MODELS = ['gpt-4.1-nano', 'gpt-4o-mini', 'gpt-4.1-mini', 'gpt-4o', 'gpt-4.1'];
const id = (model: string) => `openai/${model}`;

function setup(options: Partial<RouterOptions> = {}) {
  const clock = new ManualClock();
  const router = createRouter({
    costTracker: tracker,
    clock,
    deployments: MODELS.map((model) => ({ model })),
    aliases: {
      auto: { candidates: MODELS },
      quality: { candidates: MODELS, weights: { cost: 0.1, quality: 0.9, speed: 0 } },
      fast: { candidates: MODELS, weights: { cost: 0, quality: 0, speed: 1 }, complexity: false },
    },
    fallbacks: { 'gpt-4o': ['gpt-4.1', 'gpt-4o-mini'] },
    ...options,
  });
  return { router, clock };
}

/** Records `samples` successful calls of `latencyMs` on a deployment. */
function observe(router: Router, deployment: string, latencyMs: number, samples = 20) {
  const stats = router.stats(deployment);
  if (stats === undefined) throw new Error(`no deployment ${deployment}`);
  for (let index = 0; index < samples; index += 1) stats.record({ ok: true, latencyMs });
}

function trip(router: Router, deployment: string) {
  for (let index = 0; index < 5; index += 1) {
    router.breaker(deployment)?.onFailure({ status: 503 });
  }
}

/** Each model's rejection reasons, merged over its deployments: `{ 'gpt-4o': 'context' }`. */
function rejections(decision: RouteDecision): Record<string, string> {
  const result: Record<string, string> = {};
  for (const candidate of decision.candidates) {
    if (candidate.rejections.length === 0) continue;
    const reasons = new Set((result[candidate.profile.model] ?? '').split('+').filter(Boolean));
    for (const rejection of candidate.rejections) reasons.add(rejection.reason);
    result[candidate.profile.model] = [...reasons].join('+');
  }
  return result;
}

const chat = (content: string, model = 'auto'): RouteRequest => ({
  model,
  messages: [{ role: 'user', content }],
});
const SHORT_CHAT = chat('What is the capital of France?');
const CODE =
  '```ts\n' +
  'export function add(a: number, b: number): number {\n  return a + b;\n}\n'.repeat(300) +
  '```';
const CODE_TOOLS_LONG: RouteRequest = {
  model: 'auto',
  messages: [{ role: 'user', content: `Refactor this module and run the tests:\n${CODE}` }],
  tools: [{ type: 'function', function: { name: 'run_tests', parameters: { type: 'object' } } }],
};

interface Case {
  name: string;
  request: RouteRequest;
  constraints?: RouteConstraints;
  arrange?: (router: Router) => void;
  expected: string;
  rejected: Record<string, string>;
  relaxed?: string[];
}

const CASES: Case[] = [
  {
    name: 'a short chat goes to the cheapest small model',
    request: SHORT_CHAT,
    expected: 'gpt-4.1-nano',
    rejected: {},
  },
  {
    name: 'code + tools + a long prompt needs a large model (the cheaper large one)',
    request: CODE_TOOLS_LONG,
    expected: 'gpt-4.1',
    rejected: { 'gpt-4.1-nano': 'quality', 'gpt-4o-mini': 'quality', 'gpt-4.1-mini': 'quality' },
  },
  {
    name: 'minQuality forces a bigger model',
    request: SHORT_CHAT,
    constraints: { minQuality: 0.7 },
    expected: 'gpt-4.1-mini',
    rejected: { 'gpt-4.1-nano': 'quality', 'gpt-4o-mini': 'quality' },
  },
  {
    name: 'maxLatencyMs excludes a model observed slow',
    request: CODE_TOOLS_LONG,
    constraints: { maxLatencyMs: 3_000 },
    arrange: (router) => observe(router, id('gpt-4.1'), 5_000),
    expected: 'gpt-4o',
    rejected: {
      'gpt-4.1-nano': 'quality',
      'gpt-4o-mini': 'quality',
      'gpt-4.1-mini': 'quality',
      'gpt-4.1': 'latency',
    },
  },
  {
    name: 'the context window excludes models too small for the prompt',
    request: SHORT_CHAT,
    constraints: { promptTokens: 200_000 },
    expected: 'gpt-4.1-mini',
    rejected: {
      'gpt-4.1-nano': 'quality', // 200k tokens are complex enough to need more than 0.6
      'gpt-4o-mini': 'quality+context',
      'gpt-4o': 'context',
    },
  },
  {
    name: "the budget excludes a model whose reservation (output cap 32k) exceeds what's left",
    request: SHORT_CHAT,
    constraints: { minQuality: 0.85, remainingBudgetNanos: 200_000_000 },
    expected: 'gpt-4o',
    rejected: {
      'gpt-4.1-nano': 'quality',
      'gpt-4o-mini': 'quality',
      'gpt-4.1-mini': 'quality',
      'gpt-4.1': 'budget',
    },
  },
  {
    name: 'an open circuit breaker excludes its deployment',
    request: SHORT_CHAT,
    arrange: (router) => trip(router, id('gpt-4.1-nano')),
    expected: 'gpt-4o-mini',
    rejected: { 'gpt-4.1-nano': 'circuit' },
  },
  {
    name: 'weights that favour quality choose a large model for the same chat',
    request: { ...SHORT_CHAT, model: 'quality' },
    expected: 'gpt-4.1',
    rejected: {},
  },
  {
    name: 'a speed-only weighting chooses the fastest observed model',
    request: { ...SHORT_CHAT, model: 'fast' },
    arrange: (router) => {
      observe(router, id('gpt-4.1-nano'), 2_000);
      observe(router, id('gpt-4o-mini'), 400);
      observe(router, id('gpt-4.1'), 900);
    },
    expected: 'gpt-4o-mini',
    rejected: {},
  },
  {
    name: 'when nothing meets the quality floor, it is relaxed to the closest model',
    request: SHORT_CHAT,
    constraints: { minQuality: 0.95 },
    expected: 'gpt-4.1',
    rejected: {
      'gpt-4.1-nano': 'quality',
      'gpt-4o-mini': 'quality',
      'gpt-4.1-mini': 'quality',
      'gpt-4o': 'quality',
      'gpt-4.1': 'quality',
    },
    relaxed: ['quality'],
  },
];

describe('router: right-sizing', () => {
  it.each(CASES)('$name', ({ request, constraints, arrange, expected, rejected, relaxed }) => {
    const { router } = setup();
    arrange?.(router);
    const decision = router.route(request, constraints);
    expect(decision.chosen.model).toBe(expected);
    expect(rejections(decision)).toEqual(rejected);
    expect(decision.relaxed).toEqual(relaxed ?? []);
    expect(decision.explain.startsWith(`${request.model}->${expected} `)).toBe(true);
    // The fallbacks are the other eligible deployments, best first.
    const eligible = decision.candidates.filter((candidate) => candidate.eligible);
    if (relaxed === undefined) {
      const ranked = eligible
        .filter((candidate) => candidate.profile !== decision.chosen)
        .sort((a, b) => (b.score ?? 0) - (a.score ?? 0))
        .map((candidate) => candidate.profile.model);
      expect(decision.fallbacks.map((profile) => profile.model)).toEqual(ranked);
    }
  });

  it('explains a decision in one short ASCII line', () => {
    const { router } = setup();
    const decision = router.route(CODE_TOOLS_LONG);
    expect(decision.explain).toMatch(
      /^auto->gpt-4\.1 q>=0\.\d{1,3} cost=0\.\d+ score=\d\.\d\d; rejected: gpt-4\.1-nano\(quality\),gpt-4o-mini\(quality\),gpt-4\.1-mini\(quality\)$/,
    );
    expect(decision.constraints.minQualitySource).toBe('complexity');
    expect(decision.complexity?.score).toBeGreaterThan(0.56);
    const withLatency = router.route(SHORT_CHAT, { maxLatencyMs: 2_500, minQuality: 0.62 });
    expect(withLatency.explain).toMatch(
      /^auto->gpt-4\.1-mini q>=0\.62 lat<=2500ms cost=0\.\d+ score=\d\.\d\d; rejected: gpt-4\.1-nano\(quality\),gpt-4o-mini\(quality\)$/,
    );
    const relaxed = router.route(SHORT_CHAT, { minQuality: 0.95 });
    expect(relaxed.explain).toMatch(/^auto->gpt-4\.1 q>=0\.95 cost=0\.\d+ relaxed=quality; /);
    expect(relaxed.score).toBeUndefined();
  });

  it('keeps the explanation within 256 ASCII characters however many models are rejected', () => {
    const names = Array.from({ length: 40 }, (_, index) => `model-${index}-with-a-long-name`);
    const router = createRouter({
      costTracker: tracker,
      deployments: [
        ...names.map((model) => ({
          model,
          provider: 'custom',
          price: { input: 1, output: 2 },
          quality: 0.5,
        })),
        { model: 'modèle-ünïcode', provider: 'custom', price: { input: 5, output: 5 }, quality: 1 },
      ],
      aliases: { many: { candidates: [...names, 'modèle-ünïcode'], minQuality: 0.9 } },
    });
    const decision = router.route({ ...SHORT_CHAT, model: 'many' });
    expect(decision.chosen.model).toBe('modèle-ünïcode');
    expect(decision.explain.length).toBeLessThanOrEqual(256);
    expect(decision.explain).toMatch(/^[\x20-\x7e]+$/);
    expect(decision.explain).toMatch(/^many->mod\?le-\?n\?code q>=0\.9 /);
    expect(decision.explain).toMatch(/,\+\d+$/);
  });

  it('is reproducible: the same request and state give the same decision', () => {
    const { router } = setup();
    observe(router, id('gpt-4o'), 1_200);
    const first = router.route(CODE_TOOLS_LONG, { maxLatencyMs: 10_000 });
    const second = router.route(CODE_TOOLS_LONG, { maxLatencyMs: 10_000 });
    expect(second.explain).toBe(first.explain);
    expect(second.candidates).toEqual(first.candidates);
    expect(second.fallbacks).toEqual(first.fallbacks);
  });

  it('measures savings against the best-quality, most expensive candidate', () => {
    const { router } = setup();
    const decision = router.route(SHORT_CHAT);
    expect(decision.baseline.model).toBe('gpt-4o');
    expect(decision.baseline.estimatedCostNanos).toBeGreaterThan(decision.estimatedCostNanos * 20);
    // Costs follow the cost tracker: the bound matches its reservation exactly.
    const reservation = tracker.estimate('gpt-4.1-nano', SHORT_CHAT);
    expect(decision.maxCostNanos).toBe(reservation.maxCostNanos);
    const chosen = decision.candidates.find((c) => c.profile === decision.chosen);
    expect(chosen?.promptTokens).toBe(reservation.promptTokens);
  });

  it('uses the observed p95 once there are enough samples, the EWMA before, the expected latency before any', () => {
    const { router } = setup({
      deployments: [
        { model: 'gpt-4o-mini', expectedLatencyMs: 5_000 },
        { model: 'gpt-4.1-nano', expectedLatencyMs: 500 },
      ],
      aliases: { auto: { candidates: ['gpt-4o-mini', 'gpt-4.1-nano'], maxLatencyMs: 3_000 } },
      fallbacks: {},
    });
    const latency = (decision: RouteDecision) =>
      decision.candidates.find((c) => c.profile.model === 'gpt-4o-mini');
    let decision = router.route(SHORT_CHAT);
    expect(latency(decision)).toMatchObject({ latencyMs: 5_000, latencySource: 'expected' });
    expect(latency(decision)?.rejections[0]?.detail).toBe('expected 5000ms > 3000ms');
    const stats = router.stats(id('gpt-4o-mini'));
    stats?.record({ ok: true, latencyMs: 1_000 });
    decision = router.route(SHORT_CHAT);
    expect(latency(decision)).toMatchObject({ latencyMs: 1_000, latencySource: 'ewma' });
    expect(latency(decision)?.eligible).toBe(true);
    for (let index = 0; index < 17; index += 1) stats?.record({ ok: true, latencyMs: 1_000 });
    stats?.record({ ok: true, latencyMs: 4_000 });
    // 19 samples: still the EWMA (1000 + 0.2 x 3000).
    expect(latency(router.route(SHORT_CHAT))).toMatchObject({ latencySource: 'ewma' });
    stats?.record({ ok: true, latencyMs: 4_000 });
    decision = router.route(SHORT_CHAT);
    expect(latency(decision)).toMatchObject({ latencyMs: 4_000, latencySource: 'p95' });
    expect(latency(decision)?.eligible).toBe(false);
  });

  it('throws NoRouteError for an unknown model, or when hard constraints exclude everything', () => {
    const { router } = setup();
    const unknown = (() => {
      try {
        router.route(chat('hi', 'gpt-7'));
      } catch (error) {
        return error;
      }
    })();
    expect(unknown).toBeInstanceOf(NoRouteError);
    expect(unknown).toMatchObject({ code: UNKNOWN_MODEL_CODE, isRetryable: false });

    try {
      router.route(SHORT_CHAT, { promptTokens: 2_000_000 });
      expect.unreachable();
    } catch (error) {
      expect(error).toMatchObject({ code: NO_ROUTE_CODE });
      expect((error as NoRouteError).explain).toBe(
        'auto->none q>=0.635; rejected: gpt-4.1-nano(quality+context),gpt-4o-mini(quality+context),gpt-4.1-mini(context),gpt-4o(context),gpt-4.1(context)',
      );
    }

    const strict = setup({ relaxConstraints: false }).router;
    expect(() => strict.route(SHORT_CHAT, { minQuality: 0.95 })).toThrow(NoRouteError);
    expect(() => router.route(SHORT_CHAT, { minQuality: 2 })).toThrow(/minQuality/);
  });
});

describe('router: concrete models and fallbacks', () => {
  it('returns the requested model with its configured fallback chain, without complexity', () => {
    const { router } = setup();
    const decision = router.route({ ...CODE_TOOLS_LONG, model: 'gpt-4o' });
    expect(decision.kind).toBe('model');
    expect(decision.chosen.model).toBe('gpt-4o');
    expect(decision.fallbacks.map((profile) => profile.model)).toEqual(['gpt-4.1', 'gpt-4o-mini']);
    expect(decision.complexity).toBeUndefined();
    expect(decision.constraints.minQualitySource).toBe('none');
    const small = router.route({ ...CODE_TOOLS_LONG, model: 'gpt-4o-mini' });
    expect(small.chosen.model).toBe('gpt-4o-mini');
    expect(small.fallbacks).toEqual([]);
    expect(small.explain).toMatch(/^gpt-4o-mini->gpt-4o-mini cost=0\.\d+ score=1\.00$/);
  });

  it('refuses no deployment for its context window on a prompt counted as an upper bound', () => {
    // 600 KB of one letter: about 75,000 tokens, bounded by its 600,000 bytes (a run that long
    // would take minutes to count exactly).
    const long = chat('a'.repeat(600_000), 'gpt-4o');
    const decision = setup().router.route(long);
    expect(decision.chosen.model).toBe('gpt-4o');
    expect(rejections(decision)).toEqual({});
    // The same bound refuses nothing as a stated prompt size would.
    const stated = setup().router.route(chat('hi', 'gpt-4o'), { promptTokens: 600_000 });
    expect(stated.chosen.model).not.toBe('gpt-4o');
    // An exact count still excludes what is too small: 200,000 short words (counted without
    // a time budget, so that the count is exact on a loaded machine too).
    const exactTracker = createCostTracker({ countingBudgetMs: false });
    const words = setup({ costTracker: exactTracker }).router.route(
      chat('a '.repeat(200_000), 'gpt-4o'),
    );
    expect(rejections(words)['gpt-4o']).toBe('context');
  });

  it('moves down the chain when the requested model cannot serve the request', () => {
    const { router } = setup();
    const decision = router.route(chat('hi', 'gpt-4o'), { promptTokens: 200_000 });
    expect(decision.chosen.model).toBe('gpt-4.1');
    expect(decision.fallbacks).toEqual([]);
    expect(decision.explain).toMatch(
      /^gpt-4o->gpt-4\.1 cost=[\d.]+ score=[\d.]+; rejected: gpt-4o\(context\),gpt-4o-mini\(context\)$/,
    );
    trip(router, id('gpt-4o'));
    expect(router.route(chat('hi', 'gpt-4o')).chosen.model).toBe('gpt-4.1');
  });

  it('rejects a max_tokens above the model output cap as a context problem', () => {
    const { router } = setup();
    const decision = router.route({ ...chat('hi', 'gpt-4o'), max_tokens: 20_000 });
    expect(decision.chosen.model).toBe('gpt-4.1');
    expect(decision.candidates[0]?.rejections).toEqual([
      { reason: 'context', detail: 'max output 20000 > cap 16384' },
    ]);
  });

  it('finds a larger-context fallback: configured first, else the cheapest adequate one', () => {
    const { router } = setup({ contextFallbacks: { 'gpt-4o-mini': ['gpt-4.1'] } });
    expect(router.contextFallbackFor('gpt-4o')?.model).toBe('gpt-4.1');
    expect(router.contextFallbackFor('gpt-4o-mini')?.model).toBe('gpt-4.1');
    const automatic = setup().router;
    expect(automatic.contextFallbackFor('gpt-4o-mini')?.model).toBe('gpt-4.1-nano');
    trip(automatic, id('gpt-4.1-nano'));
    expect(automatic.contextFallbackFor('gpt-4o-mini')?.model).toBe('gpt-4.1-mini');
    expect(automatic.contextFallbackFor('gpt-4.1')).toBeUndefined();
    expect(automatic.contextFallbackFor('gpt-4o', { requiredTokens: 2_000_000 })).toBeUndefined();
    expect(automatic.contextFallbackFor('gpt-9')).toBeUndefined();
  });
});

describe('router: deployments', () => {
  const twoMini = (): RouterOptions => ({
    costTracker: tracker,
    clock: new ManualClock(),
    deployments: [
      { model: 'gpt-4o-mini', weight: 2 },
      {
        model: 'gpt-4o-mini',
        deployment: 'azure-east',
        provider: 'azure',
        upstreamModel: 'my-mini-deployment',
        pricedAs: 'gpt-4o-mini',
      },
      { model: 'gpt-4o' },
    ],
    aliases: { auto: { candidates: ['gpt-4o-mini', 'gpt-4o'] } },
  });

  it('balances a model across its deployments and skips an open circuit', () => {
    const router = createRouter(twoMini());
    const sequence = Array.from({ length: 6 }, () => router.route(SHORT_CHAT).chosen.deployment);
    expect(sequence).toEqual([
      'openai/gpt-4o-mini',
      'azure-east',
      'openai/gpt-4o-mini',
      'openai/gpt-4o-mini',
      'azure-east',
      'openai/gpt-4o-mini',
    ]);
    const decision = router.route(SHORT_CHAT);
    expect(decision.explain).toMatch(/^auto->gpt-4o-mini@(openai\/gpt-4o-mini|azure-east) /);
    expect(decision.chosen.upstreamModel).toMatch(/gpt-4o-mini|my-mini-deployment/);

    trip(router, 'azure-east');
    for (let index = 0; index < 3; index += 1) {
      const routed = router.route(SHORT_CHAT);
      expect(routed.chosen.deployment).toBe('openai/gpt-4o-mini');
      expect(routed.explain).toMatch(/; rejected: gpt-4o-mini@azure-east\(circuit\)$/);
      expect(routed.fallbacks.map((profile) => profile.deployment)).toEqual(['openai/gpt-4o']);
    }
  });

  it('tracks calls: latency, errors that count, circuit opening and events', () => {
    const options = twoMini();
    const clock = options.clock as ManualClock;
    const router = createRouter(options);
    const changes: BreakerStateChange[] = [];
    router.events.on('breaker-state-change', (change) => changes.push(change));

    const call = router.begin('openai/gpt-4o');
    expect(router.stats('openai/gpt-4o')?.inFlight).toBe(1);
    clock.advance(850);
    call.success();
    call.failure(new Error('late duplicate report'));
    expect(router.stats('openai/gpt-4o')?.snapshot()).toMatchObject({
      inFlight: 0,
      samples: 1,
      latencyEwmaMs: 850,
      errorRate: 0,
    });

    // A client error is not the deployment's fault: neither an error nor a breaker failure.
    for (let index = 0; index < 10; index += 1) {
      router.begin('openai/gpt-4o').failure({ status: 400, isRetryable: false });
    }
    expect(router.stats('openai/gpt-4o')?.errorRate()).toBe(0);
    expect(router.breaker('openai/gpt-4o')?.state).toBe('closed');

    for (let index = 0; index < 5; index += 1) {
      router.begin('openai/gpt-4o').failure({ status: 503 });
    }
    expect(router.stats('openai/gpt-4o')?.errorRate()).toBeGreaterThan(0.8);
    expect(changes.map((change) => [change.name, change.to])).toEqual([['openai/gpt-4o', 'open']]);
    const refused = (() => {
      try {
        router.begin('openai/gpt-4o');
      } catch (error) {
        return error;
      }
    })();
    expect(refused).toBeInstanceOf(CircuitOpenError);
    expect(refused).toMatchObject({ retryAfterMs: 10_000, isRetryable: true });

    // After the cooldown one probe is admitted; cancelling it frees the slot.
    clock.advance(10_000);
    const probe = router.begin('openai/gpt-4o');
    expect(() => router.begin('openai/gpt-4o')).toThrow(CircuitOpenError);
    probe.cancel();
    router.begin('openai/gpt-4o').success(100);
    expect(router.breaker('openai/gpt-4o')?.state).toBe('closed');
    expect(() => router.begin('nope')).toThrow(/unknown deployment/);
  });

  it('lists routable names and resolves profiles from the price table or config', () => {
    const router = createRouter({
      ...twoMini(),
      deployments: [
        ...twoMini().deployments,
        {
          model: 'local-llama',
          provider: 'ollama',
          price: { input: 0, output: 0 },
          quality: 0.55,
          contextWindow: 8_192,
        },
      ],
      quality: { 'gpt-4o': 0.93 },
    });
    expect(router.models()).toEqual(['gpt-4o-mini', 'gpt-4o', 'local-llama', 'auto']);
    const [mini, azure, large, local] = router.profiles();
    expect(mini).toMatchObject({
      deployment: 'openai/gpt-4o-mini',
      provider: 'openai',
      quality: 0.6,
      weight: 2,
      contextWindow: 128_000,
      maxOutputTokens: 16_384,
      class: 'small',
    });
    expect(mini?.price.input).toBe(150_000);
    expect(azure).toMatchObject({ provider: 'azure', upstreamModel: 'my-mini-deployment' });
    expect(large?.quality).toBe(0.93);
    expect(local).toMatchObject({ deployment: 'ollama/local-llama', quality: 0.55 });
    expect(local?.price.output).toBe(0);
    // A free model scores finitely and wins on cost.
    const decision = createRouter({
      costTracker: tracker,
      deployments: [
        { model: 'gpt-4o-mini' },
        {
          ...(local as object),
          model: 'local-llama',
          provider: 'ollama',
          price: { input: 0, output: 0 },
          quality: 0.6,
        },
      ],
      aliases: { auto: { candidates: ['gpt-4o-mini', 'local-llama'] } },
    }).route(SHORT_CHAT);
    expect(decision.chosen.model).toBe('local-llama');
    expect(Number.isFinite(decision.score)).toBe(true);
  });

  it.each([
    [{ deployments: [] }, /at least one deployment/],
    [
      { aliases: { auto: { candidates: ['gpt-9'] } } },
      /'gpt-9' is not the model of any deployment/,
    ],
    [{ aliases: { 'gpt-4o': { candidates: ['gpt-4o-mini'] } } }, /cannot have the name of a model/],
    [{ fallbacks: { 'gpt-4o': ['gpt-4o'] } }, /lists the model itself/],
    [{ weights: { cost: -1 } }, /weights.cost must be a non-negative number/],
    [{ deployments: [{ model: 'my-model' }] }, /not in the price table; give it a `price`/],
    [
      { deployments: [{ model: 'my-model', provider: 'x', price: { input: 1, output: 1 } }] },
      /give a `quality`/,
    ],
    [{ deployments: [{ model: 'gpt-4o' }, { model: 'gpt-4o' }] }, /used twice/],
    [
      { deployments: [{ model: 'gpt-4o', quality: 1.2 }] },
      /quality must be a number between 0 and 1/,
    ],
  ] as [Partial<RouterOptions>, RegExp][])(
    'refuses a bad configuration (%#)',
    (options, message) => {
      expect(() => setup(options)).toThrow(message);
    },
  );
});
