/**
 * The router: right-sizes each request to the cheapest model that meets its needs, and explains
 * why.
 *
 * A request names a model or an alias (a virtual model such as `auto`). For an alias, every
 * deployment of every candidate model is checked against the request's constraints:
 *
 * - `quality`: the profile's quality is below `minQuality` (from the request, else the larger of
 *   the alias's floor and the floor the request's complexity calls for);
 * - `latency`: its observed latency (p95 once `latencyMinSamples` calls were seen, the EWMA
 *   before, the configured `expectedLatencyMs` before any) exceeds `maxLatencyMs`;
 * - `context`: prompt + requested output exceed its context window, or the requested output
 *   exceeds its output cap;
 * - `budget`: its upper-bound cost (what a budget would reserve) exceeds the remaining budget;
 * - `circuit`: its circuit breaker is open.
 *
 * The eligible deployments are scored, each criterion normalised across them to 0..1:
 * cost = cheapest / cost (on the same prompt and the same output allowance for every model),
 * quality = quality / best quality, speed = fastest / latency (unknown latency: the mean of the
 * known speed scores, i.e. neutral; 1 when no latency is known). score = Σ weight × criterion / Σ weight, with weights
 * cost 0.4, quality 0.4, speed 0.2 by default (the reference design's). The model of the
 * best-scoring deployment wins (ties: cheaper, then higher quality, then configuration order),
 * and the balancer picks among that model's eligible deployments; the remaining eligible
 * deployments, best first, are the fallbacks. Nothing here is random except the balancer's
 * exploration across deployments of one model, so decisions are reproducible.
 *
 * For a concrete model, the model itself is chosen when one of its deployments is eligible,
 * else the first eligible model of its configured fallback chain; only explicit constraints
 * (never complexity) apply.
 *
 * When no deployment meets every constraint but some meet the hard ones (context, budget,
 * circuit), the quality and latency floors are relaxed (unless `relaxConstraints: false`): the
 * deployment closest to them wins (smallest relative shortfall, then cheaper), and the decision
 * says which constraints were relaxed. Otherwise `route` throws a `NoRouteError`.
 */
import { picosToNanosCeil } from '../cost/money.js';
import type { ModelClass } from '../cost/prices.js';
import { encodingForModel } from '../cost/tokens.js';
import {
  type CostTracker,
  createCostTracker,
  DEFAULT_MAX_OUTPUT_TOKENS,
  type EstimateRequest,
} from '../cost/tracker.js';
import { type Clock, systemClock } from '../shared/clock.js';
import { Emitter } from '../shared/emitter.js';
import { ConfigError, SluiceError } from '../shared/errors.js';
import { positiveInteger, positiveIntegerOrUndefined } from '../shared/integers.js';
import { Balancer, type BalancerOptions, type BalanceStrategy } from './balancer.js';
import { type BreakerOptions, type BreakerStateChange, CircuitBreaker } from './breaker.js';
import {
  type ComplexityEstimate,
  type ComplexityOptions,
  type ComplexityRequest,
  createComplexityEstimator,
} from './complexity.js';
import { CircuitOpenError, NO_ROUTE_CODE, NoRouteError, UNKNOWN_MODEL_CODE } from './errors.js';
import {
  createProfiles,
  type DeploymentConfig,
  type ModelProfile,
  ProfileStats,
  type ProfileStatsOptions,
} from './profiles.js';

/** Relative weights of the scoring criteria (need not sum to 1). */
export interface ScoreWeights {
  /** Cheaper scores higher. @default 0.4 */
  cost: number;
  /** Higher quality scores higher. @default 0.4 */
  quality: number;
  /** Lower latency scores higher. @default 0.2 */
  speed: number;
}

export const DEFAULT_SCORE_WEIGHTS: Readonly<ScoreWeights> = Object.freeze({
  cost: 0.4,
  quality: 0.4,
  speed: 0.2,
});

/** A virtual model that routes among candidate models. */
export interface AliasConfig {
  /** Model names (as in `deployments[].model`) to choose from. */
  candidates: readonly string[];
  /** Quality floor for every request to this alias, 0..1. @default 0 */
  minQuality?: number;
  /** Latency ceiling, in ms. @default undefined (none) */
  maxLatencyMs?: number;
  /** Scoring weights, over the router's. */
  weights?: Partial<ScoreWeights>;
  /** Raise the quality floor to what the request's complexity calls for. @default true */
  complexity?: boolean;
  /**
   * The model savings are measured against. @default the highest-quality candidate (ties: the
   * most expensive)
   */
  baseline?: string;
}

export interface RouterOptions {
  /** Every deployment the router may choose. At least one. */
  deployments: readonly DeploymentConfig[];
  /** Prices and token counts. @default createCostTracker() (the bundled price table) */
  costTracker?: CostTracker;
  /** Virtual models: `{ auto: { candidates: ['gpt-4.1-nano', 'gpt-4o-mini', 'gpt-4.1'] } }`. */
  aliases?: Readonly<Record<string, AliasConfig>>;
  /** Fallback chains of concrete models, tried in order: `{ 'gpt-4o': ['gpt-4.1', 'gpt-4o-mini'] }`. */
  fallbacks?: Readonly<Record<string, readonly string[]>>;
  /**
   * Models to try after a context-length error, in order. Without an entry,
   * `contextFallbackFor` picks the cheapest model with a bigger window and no lower quality.
   */
  contextFallbacks?: Readonly<Record<string, readonly string[]>>;
  /** Scoring weights. @default { cost: 0.4, quality: 0.4, speed: 0.2 } */
  weights?: Partial<ScoreWeights>;
  /** Quality scores by model name, over the class defaults. */
  quality?: Readonly<Record<string, number>>;
  /** Quality by price-table class. @default { small: 0.6, medium: 0.75, large: 0.9 } */
  qualityByClass?: Partial<Record<ModelClass, number>>;
  /** Complexity estimation and its mapping to a quality floor. */
  complexity?: ComplexityOptions;
  /** How to pick among a model's deployments. @default 'weighted' */
  balancing?: BalanceStrategy | Omit<BalancerOptions, 'random'>;
  /** Circuit breaker per deployment. */
  breaker?: Omit<BreakerOptions, 'clock'>;
  /** Latency and error statistics per deployment. */
  stats?: Omit<ProfileStatsOptions, 'clock'>;
  /** Latency samples before the p95 (rather than the EWMA) is trusted. @default 20 */
  latencyMinSamples?: number;
  /**
   * Output tokens per choice assumed when comparing costs and the request sets no
   * `max_tokens`, so models with different output caps compare on the same work. @default 1024
   */
  expectedOutputTokens?: number;
  /**
   * Output tokens the budget bound assumes when neither the request nor the model caps the
   * output (as the cost tracker's). @default 4096
   */
  defaultMaxOutputTokens?: number;
  /** Relax the quality and latency floors when nothing meets them. @default true */
  relaxConstraints?: boolean;
  /** @default the system clock */
  clock?: Clock;
  /** Uniform random in [0, 1), for the `latency` balancer's exploration. @default Math.random */
  random?: () => number;
}

/** The request fields routing reads (an OpenAI chat request is one). */
export interface RouteRequest extends EstimateRequest, ComplexityRequest {
  /** A configured model or an alias. */
  model: string;
}

/** Per-request constraints (e.g. from headers or the caller); each overrides the defaults. */
export interface RouteConstraints {
  /** Lowest acceptable quality, 0..1. @default the alias's floor and the request's complexity */
  minQuality?: number;
  /** Highest acceptable observed latency, in ms. @default the alias's */
  maxLatencyMs?: number;
  /** Budget left, in nano-dollars: costlier deployments are rejected. @default unlimited */
  remainingBudgetNanos?: number;
  /** Tokens the call needs (prompt + output). @default estimated prompt + requested output */
  requiredContextTokens?: number;
  /** Prompt tokens, when already counted (skips counting). */
  promptTokens?: number;
}

export type RejectionReason = 'quality' | 'latency' | 'context' | 'budget' | 'circuit';

export interface Rejection {
  readonly reason: RejectionReason;
  /** ASCII detail, e.g. `quality 0.6 < 0.62`. */
  readonly detail: string;
}

/** How one deployment fared. */
export interface CandidateEvaluation {
  readonly profile: ModelProfile;
  readonly eligible: boolean;
  readonly rejections: readonly Rejection[];
  /**
   * Expected cost, in nano-dollars: the prompt plus the requested output (else
   * `expectedOutputTokens`) per choice, at input and output prices. Every model is costed on
   * the same work, so this is what scoring compares.
   */
  readonly estimatedCostNanos: number;
  /**
   * Upper bound of the cost, in nano-dollars, as the cost tracker computes it for a budget
   * reservation (output up to the request's or the model's cap); the budget check uses it.
   */
  readonly maxCostNanos: number;
  readonly promptTokens: number;
  /** The latency used (see `latencySource`), in ms. */
  readonly latencyMs: number | undefined;
  readonly latencySource: 'p95' | 'ewma' | 'expected' | undefined;
  /** 0..1, for eligible deployments. */
  readonly score: number | undefined;
  /** Each normalised criterion, for eligible deployments. */
  readonly criteria: Readonly<ScoreWeights> | undefined;
}

export interface ResolvedConstraints {
  readonly minQuality: number;
  readonly minQualitySource: 'request' | 'alias' | 'complexity' | 'none';
  readonly maxLatencyMs: number | undefined;
  readonly remainingBudgetNanos: number | undefined;
  /** From the constraints, if given; else per deployment (prompt + requested output). */
  readonly requiredContextTokens: number | undefined;
}

export interface RouteDecision {
  /** The model or alias asked for. */
  readonly requested: string;
  readonly kind: 'alias' | 'model';
  /** The deployment to call. */
  readonly chosen: ModelProfile;
  /** Eligible deployments to try next, in order. */
  readonly fallbacks: readonly ModelProfile[];
  /** Every deployment considered: the alias's candidates, or the model then its fallbacks. */
  readonly candidates: readonly CandidateEvaluation[];
  readonly constraints: ResolvedConstraints;
  /** The complexity estimate, when it set the quality floor's default. */
  readonly complexity: ComplexityEstimate | undefined;
  readonly weights: Readonly<ScoreWeights>;
  /** The chosen deployment's score (undefined when constraints were relaxed). */
  readonly score: number | undefined;
  /** Expected cost of the chosen call, in nano-dollars (see `CandidateEvaluation`). */
  readonly estimatedCostNanos: number;
  /** Upper bound of the chosen call's cost, in nano-dollars. */
  readonly maxCostNanos: number;
  /** Soft constraints the chosen deployment does not meet (empty when it meets all). */
  readonly relaxed: readonly RejectionReason[];
  /** What the call would cost on the baseline model, for savings accounting. */
  readonly baseline: { readonly model: string; readonly estimatedCostNanos: number };
  /** ASCII, at most 256 characters, for the `x-sluice-route` header. */
  readonly explain: string;
}

/** A call to a deployment in progress: report exactly one outcome (later ones are ignored). */
export interface DeploymentCall {
  readonly profile: ModelProfile;
  /** It answered; latency defaults to the time since `begin`. */
  success(latencyMs?: number): void;
  /** It failed; the breaker decides whether `error` counts against the deployment. */
  failure(error: unknown): void;
  /** Abandoned without an outcome (a hedging loser, a client that went away). */
  cancel(): void;
}

export interface RouterEvents {
  /** A deployment's circuit breaker changed state (`name` is the deployment id). */
  'breaker-state-change': BreakerStateChange;
  /** A request was routed. */
  'route-decision': RouteDecision;
}

export interface Router {
  readonly events: Emitter<RouterEvents>;
  /** Chooses a deployment. Throws a `NoRouteError` for an unknown model or when none fits. */
  route(request: RouteRequest, constraints?: RouteConstraints): RouteDecision;
  /**
   * A deployment to retry on after a context-length error on `model`: the configured
   * `contextFallbacks` first, else the cheapest deployment (by input, then output price) of
   * another model with a bigger context window and no lower quality; circuits must be closed.
   */
  contextFallbackFor(
    model: string,
    options?: { requiredTokens?: number },
  ): ModelProfile | undefined;
  /** Starts a call: claims the breaker (throws `CircuitOpenError`) and counts it in flight. */
  begin(deployment: string): DeploymentCall;
  /** Every deployment, in configuration order. */
  profiles(): readonly ModelProfile[];
  /** Model names and aliases that `route` accepts. */
  models(): readonly string[];
  stats(deployment: string): ProfileStats | undefined;
  breaker(deployment: string): CircuitBreaker | undefined;
  /** Loads the tokenizers the deployments need now rather than on the first request. */
  warmUp(): void;
}

interface DeploymentRuntime {
  readonly profile: ModelProfile;
  readonly stats: ProfileStats;
  readonly breaker: CircuitBreaker;
  readonly order: number;
}

interface ResolvedAlias {
  readonly candidates: readonly string[];
  readonly minQuality: number;
  readonly maxLatencyMs: number | undefined;
  readonly weights: Readonly<ScoreWeights>;
  readonly complexity: boolean;
  readonly baseline: string | undefined;
}

/** Mutable while a route is computed; frozen into `CandidateEvaluation`. */
interface Evaluation {
  runtime: DeploymentRuntime;
  rejections: Rejection[];
  maxCostNanos: number;
  estimatedCostNanos: number;
  promptTokens: number;
  latencyMs: number | undefined;
  latencySource: CandidateEvaluation['latencySource'];
  score: number | undefined;
  criteria: ScoreWeights | undefined;
  shortfall: number;
}

const SOFT_REASONS: ReadonlySet<RejectionReason> = new Set(['quality', 'latency']);
const EXPLAIN_MAX = 256;
const SCORE_EPSILON = 1e-9;

/** Creates a router. Throws a `ConfigError` for an inconsistent configuration. */
export function createRouter(options: RouterOptions): Router {
  if (!Array.isArray(options.deployments) || options.deployments.length === 0) {
    throw new ConfigError('deployments must list at least one deployment');
  }
  const clock = options.clock ?? systemClock;
  const tracker = options.costTracker ?? createCostTracker();
  const weights = resolveWeights(DEFAULT_SCORE_WEIGHTS, options.weights, 'weights');
  const complexity = createComplexityEstimator(options.complexity);
  const latencyMinSamples = positiveInteger(options.latencyMinSamples ?? 20, 'latencyMinSamples');
  const expectedOutputTokens = positiveInteger(
    options.expectedOutputTokens ?? 1024,
    'expectedOutputTokens',
  );
  const defaultMaxOutputTokens = positiveInteger(
    options.defaultMaxOutputTokens ?? DEFAULT_MAX_OUTPUT_TOKENS,
    'defaultMaxOutputTokens',
  );
  const relax = options.relaxConstraints ?? true;
  const balancerOptions: BalancerOptions =
    typeof options.balancing === 'string'
      ? { strategy: options.balancing }
      : { ...options.balancing };
  if (options.random !== undefined) balancerOptions.random = options.random;

  const events = new Emitter<RouterEvents>();
  const profiles = createProfiles(options.deployments, {
    priceOf: (model) => tracker.priceOf(model),
    ...(options.qualityByClass === undefined ? {} : { qualityByClass: options.qualityByClass }),
    ...(options.quality === undefined ? {} : { quality: options.quality }),
  });
  const byId = new Map<string, DeploymentRuntime>();
  const byModel = new Map<string, DeploymentRuntime[]>();
  const balancers = new Map<string, Balancer>();
  profiles.forEach((profile, order) => {
    const breaker = new CircuitBreaker(profile.deployment, { ...options.breaker, clock });
    breaker.events.on('state-change', (change) => events.emit('breaker-state-change', change));
    const runtime: DeploymentRuntime = {
      profile,
      stats: new ProfileStats({ ...options.stats, clock }),
      breaker,
      order,
    };
    byId.set(profile.deployment, runtime);
    const list = byModel.get(profile.model);
    if (list === undefined) {
      byModel.set(profile.model, [runtime]);
      balancers.set(profile.model, new Balancer(balancerOptions));
    } else {
      list.push(runtime);
    }
  });

  const knownModel = (name: string, label: string): string => {
    if (!byModel.has(name)) {
      throw new ConfigError(`${label}: '${name}' is not the model of any deployment`);
    }
    return name;
  };
  const aliases = new Map<string, ResolvedAlias>();
  for (const [name, alias] of Object.entries(options.aliases ?? {})) {
    const label = `aliases["${name}"]`;
    if (byModel.has(name)) {
      throw new ConfigError(`${label}: an alias cannot have the name of a model`);
    }
    if (!Array.isArray(alias.candidates) || alias.candidates.length === 0) {
      throw new ConfigError(`${label}.candidates must list at least one model`);
    }
    const minQuality = alias.minQuality ?? 0;
    if (!(minQuality >= 0 && minQuality <= 1)) {
      throw new ConfigError(`${label}.minQuality must be between 0 and 1, got ${minQuality}`);
    }
    if (alias.maxLatencyMs !== undefined && !(alias.maxLatencyMs > 0)) {
      throw new ConfigError(`${label}.maxLatencyMs must be a positive number of ms`);
    }
    aliases.set(name, {
      candidates: unique(alias.candidates.map((model) => knownModel(model, `${label}.candidates`))),
      minQuality,
      maxLatencyMs: alias.maxLatencyMs,
      weights: resolveWeights(weights, alias.weights, `${label}.weights`),
      complexity: alias.complexity ?? true,
      baseline:
        alias.baseline === undefined ? undefined : knownModel(alias.baseline, `${label}.baseline`),
    });
  }
  const chains = (
    source: Readonly<Record<string, readonly string[]>> | undefined,
    option: string,
  ): Map<string, readonly string[]> => {
    const result = new Map<string, readonly string[]>();
    for (const [model, targets] of Object.entries(source ?? {})) {
      const label = `${option}["${model}"]`;
      knownModel(model, option);
      if (!Array.isArray(targets)) throw new ConfigError(`${label} must be a list of models`);
      const resolved = unique(targets.map((target) => knownModel(target, label)));
      if (resolved.includes(model)) throw new ConfigError(`${label} lists the model itself`);
      result.set(model, resolved);
    }
    return result;
  };
  const fallbacks = chains(options.fallbacks, 'fallbacks');
  const contextFallbacks = chains(options.contextFallbacks, 'contextFallbacks');

  const severalDeployments = (model: string): boolean => (byModel.get(model)?.length ?? 0) > 1;

  const latencyOf = (
    runtime: DeploymentRuntime,
  ): Pick<Evaluation, 'latencyMs' | 'latencySource'> => {
    const { stats } = runtime;
    if (stats.samples >= latencyMinSamples) return { latencyMs: stats.p95(), latencySource: 'p95' };
    if (stats.latencyEwma !== undefined) {
      return { latencyMs: stats.latencyEwma, latencySource: 'ewma' };
    }
    const expected = runtime.profile.expectedLatencyMs;
    return expected === undefined
      ? { latencyMs: undefined, latencySource: undefined }
      : { latencyMs: expected, latencySource: 'expected' };
  };

  const route = (request: RouteRequest, constraints: RouteConstraints = {}): RouteDecision => {
    checkConstraints(constraints);
    const requested = request.model;
    const alias = aliases.get(requested);
    let models: readonly string[];
    if (alias !== undefined) {
      models = alias.candidates;
    } else if (byModel.has(requested)) {
      models = [requested, ...(fallbacks.get(requested) ?? [])];
    } else {
      const explain = ascii(`${requested}: unknown model`);
      throw new NoRouteError(
        UNKNOWN_MODEL_CODE,
        requested,
        explain,
        `model '${requested}' is neither a configured model nor an alias`,
      );
    }

    // Prompt tokens: given, or counted once per encoding the candidates use (most requests
    // see one encoding: kept in two variables, a map only for the others). A count that is an
    // upper bound (see `CostEstimate.promptTokensExact`) is kept negated: it reserves, but
    // refuses no deployment for its context window (the upstream judges).
    let firstEncoding: string | undefined;
    let firstTokens = 0;
    let otherEncodings: Map<string, number> | undefined;
    const signedPromptTokensFor = (profile: ModelProfile): number => {
      if (constraints.promptTokens !== undefined) return constraints.promptTokens;
      const name = profile.pricedAs ?? profile.upstreamModel;
      const encoding = encodingForModel(name);
      if (encoding === firstEncoding) return firstTokens;
      let tokens = otherEncodings?.get(encoding);
      if (tokens === undefined) {
        const estimate = tracker.estimate(name, request);
        tokens = estimate.promptTokensExact ? estimate.promptTokens : -estimate.promptTokens;
        if (firstEncoding === undefined) {
          firstEncoding = encoding;
          firstTokens = tokens;
        } else {
          otherEncodings ??= new Map();
          otherEncodings.set(encoding, tokens);
        }
      }
      return tokens;
    };
    const promptTokensFor = (profile: ModelProfile): number =>
      Math.abs(signedPromptTokensFor(profile));

    const runtimes = models.flatMap((model) => byModel.get(model) ?? []);
    const firstPrompt = promptTokensFor((runtimes[0] as DeploymentRuntime).profile);

    // Constraints: the request's, else the alias's and the complexity's.
    let complexityEstimate: ComplexityEstimate | undefined;
    let minQuality = 0;
    let minQualitySource: ResolvedConstraints['minQualitySource'] = 'none';
    if (constraints.minQuality !== undefined) {
      minQuality = constraints.minQuality;
      minQualitySource = 'request';
    } else if (alias !== undefined) {
      if (alias.minQuality > 0) {
        minQuality = alias.minQuality;
        minQualitySource = 'alias';
      }
      if (alias.complexity) {
        complexityEstimate = complexity.estimate(request, firstPrompt);
        if (complexityEstimate.minQuality > minQuality) {
          minQuality = complexityEstimate.minQuality;
          minQualitySource = 'complexity';
        }
      }
    }
    const resolved: ResolvedConstraints = {
      minQuality,
      minQualitySource,
      maxLatencyMs: constraints.maxLatencyMs ?? alias?.maxLatencyMs,
      remainingBudgetNanos: constraints.remainingBudgetNanos,
      requiredContextTokens: constraints.requiredContextTokens,
    };
    const scoreWeights = alias?.weights ?? weights;

    const requestedOutput =
      positiveIntegerOrUndefined(request.max_completion_tokens) ??
      positiveIntegerOrUndefined(request.max_tokens);
    const choices = positiveIntegerOrUndefined(request.n) ?? 1;

    const evaluations = runtimes.map((runtime) =>
      evaluate(runtime, signedPromptTokensFor(runtime.profile)),
    );
    /** `signedPromptTokens`: negative for an upper bound (see `signedPromptTokensFor`). */
    function evaluate(runtime: DeploymentRuntime, signedPromptTokens: number): Evaluation {
      const promptTokens = Math.abs(signedPromptTokens);
      const { profile } = runtime;
      const rejections: Rejection[] = [];
      const { latencyMs, latencySource } = latencyOf(runtime);
      let shortfall = 0;
      if (profile.quality < resolved.minQuality) {
        rejections.push({
          reason: 'quality',
          detail: `quality ${num(profile.quality)} < ${num(resolved.minQuality)}`,
        });
        shortfall += (resolved.minQuality - profile.quality) / resolved.minQuality;
      }
      const maxLatency = resolved.maxLatencyMs;
      if (maxLatency !== undefined && latencyMs !== undefined && latencyMs > maxLatency) {
        rejections.push({
          reason: 'latency',
          detail: `${latencySource} ${Math.round(latencyMs)}ms > ${maxLatency}ms`,
        });
        shortfall += (latencyMs - maxLatency) / maxLatency;
      }
      const required = resolved.requiredContextTokens ?? promptTokens + (requestedOutput ?? 0);
      const knownRequired = resolved.requiredContextTokens !== undefined || signedPromptTokens >= 0;
      if (
        profile.contextWindow !== undefined &&
        knownRequired &&
        required > profile.contextWindow
      ) {
        rejections.push({
          reason: 'context',
          detail: `needs ${required} tokens > window ${profile.contextWindow}`,
        });
      } else if (
        requestedOutput !== undefined &&
        profile.maxOutputTokens !== undefined &&
        requestedOutput > profile.maxOutputTokens
      ) {
        rejections.push({
          reason: 'context',
          detail: `max output ${requestedOutput} > cap ${profile.maxOutputTokens}`,
        });
      }
      const { price } = profile;
      const boundOutput = requestedOutput ?? profile.maxOutputTokens ?? defaultMaxOutputTokens;
      const maxCostNanos = picosToNanosCeil(
        BigInt(promptTokens) * BigInt(Math.max(price.input, price.cacheWrite)) +
          BigInt(boundOutput * choices) * BigInt(Math.max(price.output, price.reasoning)),
      );
      const estimatedCostNanos = picosToNanosCeil(
        BigInt(promptTokens) * BigInt(price.input) +
          BigInt((requestedOutput ?? expectedOutputTokens) * choices) * BigInt(price.output),
      );
      const budget = resolved.remainingBudgetNanos;
      if (budget !== undefined && maxCostNanos > budget) {
        rejections.push({
          reason: 'budget',
          detail: `max cost ${usd(maxCostNanos)} > remaining ${usd(budget)}`,
        });
      }
      if (!runtime.breaker.isAvailable()) {
        rejections.push({
          reason: 'circuit',
          detail: `circuit ${runtime.breaker.state}`,
        });
      }
      return {
        runtime,
        rejections,
        maxCostNanos,
        estimatedCostNanos,
        promptTokens,
        latencyMs,
        latencySource,
        score: undefined,
        criteria: undefined,
        shortfall,
      };
    }

    const eligible = evaluations.filter((evaluation) => evaluation.rejections.length === 0);
    let pool = eligible;
    let relaxedMode = false;
    if (eligible.length === 0) {
      const softOnly = evaluations.filter((evaluation) =>
        evaluation.rejections.every((rejection) => SOFT_REASONS.has(rejection.reason)),
      );
      if (!relax || softOnly.length === 0) {
        const explain = explainNoRoute(requested, resolved, evaluations, severalDeployments);
        throw new NoRouteError(
          NO_ROUTE_CODE,
          requested,
          explain,
          `no deployment can serve '${requested}': ${explain}`,
        );
      }
      pool = softOnly;
      relaxedMode = true;
    } else {
      score(eligible, scoreWeights);
    }
    const ranked = [...pool].sort(relaxedMode ? byShortfall : byScore);
    const best = ranked[0] as Evaluation;

    // The chosen model: the best alias candidate, or the first usable model of the chain.
    const chosenModel =
      alias !== undefined
        ? best.runtime.profile.model
        : (models.find((model) => pool.some((e) => e.runtime.profile.model === model)) ??
          best.runtime.profile.model);
    const modelPool = ranked.filter((e) => e.runtime.profile.model === chosenModel);
    const balancer = balancers.get(chosenModel) as Balancer;
    const picked =
      balancer.pick(modelPool.map((e) => e.runtime)) ?? (modelPool[0] as Evaluation).runtime;
    const chosen = modelPool.find((e) => e.runtime === picked) as Evaluation;

    let fallbackOrder: Evaluation[];
    if (alias !== undefined) {
      fallbackOrder = ranked.filter((e) => e !== chosen);
    } else {
      const position = models.indexOf(chosenModel);
      fallbackOrder = models
        .slice(position)
        .flatMap((model) => ranked.filter((e) => e.runtime.profile.model === model))
        .filter((e) => e !== chosen);
    }

    const baselineModel = alias === undefined ? requested : (alias.baseline ?? pickBaseline());
    function pickBaseline(): string {
      let top = evaluations[0] as Evaluation;
      for (const evaluation of evaluations) {
        const { quality } = evaluation.runtime.profile;
        if (
          quality > top.runtime.profile.quality ||
          (quality === top.runtime.profile.quality &&
            evaluation.estimatedCostNanos > top.estimatedCostNanos)
        ) {
          top = evaluation;
        }
      }
      return top.runtime.profile.model;
    }
    const baselineEvaluation =
      evaluations.find((e) => e.runtime.profile.model === baselineModel) ??
      (() => {
        const runtime = (byModel.get(baselineModel) ?? [])[0] as DeploymentRuntime;
        return evaluate(runtime, signedPromptTokensFor(runtime.profile));
      })();

    const relaxed = relaxedMode
      ? unique(chosen.rejections.map((rejection) => rejection.reason))
      : [];
    const candidates = evaluations.map(freeze);
    const decision: RouteDecision = {
      requested,
      kind: alias === undefined ? 'model' : 'alias',
      chosen: chosen.runtime.profile,
      fallbacks: fallbackOrder.map((e) => e.runtime.profile),
      candidates,
      constraints: resolved,
      complexity: complexityEstimate,
      weights: scoreWeights,
      score: chosen.score,
      estimatedCostNanos: chosen.estimatedCostNanos,
      maxCostNanos: chosen.maxCostNanos,
      relaxed,
      baseline: {
        model: baselineModel,
        estimatedCostNanos: baselineEvaluation.estimatedCostNanos,
      },
      explain: explainDecision(
        requested,
        resolved,
        chosen,
        relaxed,
        evaluations,
        severalDeployments,
      ),
    };
    if (events.has('route-decision')) events.emit('route-decision', decision);
    return decision;
  };

  const contextFallbackFor = (
    model: string,
    fallbackOptions: { requiredTokens?: number } = {},
  ): ModelProfile | undefined => {
    const own = byModel.get(model);
    if (own === undefined) return undefined;
    let window = 0;
    let quality = 1;
    for (const { profile } of own) {
      if (profile.contextWindow === undefined) return undefined;
      window = Math.max(window, profile.contextWindow);
      quality = Math.min(quality, profile.quality);
    }
    const needed = Math.max(window + 1, fallbackOptions.requiredTokens ?? 0);
    const fits = (runtime: DeploymentRuntime) =>
      runtime.profile.model !== model &&
      (runtime.profile.contextWindow ?? 0) >= needed &&
      runtime.breaker.isAvailable();
    for (const target of contextFallbacks.get(model) ?? []) {
      const usable = (byModel.get(target) ?? []).filter(fits);
      const picked = balancers.get(target)?.pick(usable);
      if (picked !== undefined) return picked.profile;
    }
    let best: DeploymentRuntime | undefined;
    for (const runtime of byId.values()) {
      if (!fits(runtime) || runtime.profile.quality < quality) continue;
      if (best === undefined || cheaper(runtime.profile, best.profile)) best = runtime;
    }
    return best?.profile;
  };

  const begin = (deployment: string): DeploymentCall => {
    const runtime = byId.get(deployment);
    if (runtime === undefined) {
      throw new SluiceError('E_UNKNOWN_DEPLOYMENT', `unknown deployment '${deployment}'`);
    }
    const { breaker, stats } = runtime;
    if (!breaker.canRequest()) throw new CircuitOpenError(deployment, breaker.retryAfterMs());
    const tracked = stats.start();
    let done = false;
    const once = (): boolean => {
      if (done) return false;
      done = true;
      return true;
    };
    return {
      profile: runtime.profile,
      success(latencyMs) {
        if (!once()) return;
        breaker.onSuccess();
        tracked.finish(latencyMs === undefined ? { ok: true } : { ok: true, latencyMs });
      },
      failure(error) {
        if (!once()) return;
        // A failure that is not the deployment's (a 400) is not an error of the deployment.
        if (breaker.onFailure(error)) tracked.finish({ ok: false });
        else tracked.cancel();
      },
      cancel() {
        if (!once()) return;
        breaker.release();
        tracked.cancel();
      },
    };
  };

  const routable = [...byModel.keys(), ...aliases.keys()];
  return {
    events,
    route,
    contextFallbackFor,
    begin,
    profiles: () => profiles,
    models: () => routable,
    stats: (deployment) => byId.get(deployment)?.stats,
    breaker: (deployment) => byId.get(deployment)?.breaker,
    warmUp: () => tracker.warmUp(profiles.map((p) => p.pricedAs ?? p.upstreamModel)),
  };
}

// ---- Scoring --------------------------------------------------------------------------------

/** Scores `evaluations` in place, each criterion normalised across them. */
function score(evaluations: Evaluation[], weights: Readonly<ScoreWeights>): void {
  let minCost = Number.POSITIVE_INFINITY;
  let maxQuality = 0;
  let minLatency = Number.POSITIVE_INFINITY;
  for (const evaluation of evaluations) {
    minCost = Math.min(minCost, evaluation.estimatedCostNanos);
    maxQuality = Math.max(maxQuality, evaluation.runtime.profile.quality);
    if (evaluation.latencyMs !== undefined) {
      minLatency = Math.min(minLatency, evaluation.latencyMs);
    }
  }
  const speedOf = (latency: number | undefined): number | undefined =>
    latency === undefined ? undefined : latency <= 0 ? 1 : Math.min(1, minLatency / latency);
  let knownSpeeds = 0;
  let speedSum = 0;
  for (const evaluation of evaluations) {
    const speed = speedOf(evaluation.latencyMs);
    if (speed !== undefined) {
      knownSpeeds += 1;
      speedSum += speed;
    }
  }
  // With no latency known at all, speed tells the candidates apart in nothing: full marks.
  const neutralSpeed = knownSpeeds === 0 ? 1 : speedSum / knownSpeeds;
  const total = weights.cost + weights.quality + weights.speed;
  for (const evaluation of evaluations) {
    // +1 nano-dollar keeps free models finite; it is negligible for any priced call.
    const criteria: ScoreWeights = {
      cost: (minCost + 1) / (evaluation.estimatedCostNanos + 1),
      quality: maxQuality === 0 ? 1 : evaluation.runtime.profile.quality / maxQuality,
      speed: speedOf(evaluation.latencyMs) ?? neutralSpeed,
    };
    evaluation.criteria = criteria;
    evaluation.score =
      (weights.cost * criteria.cost +
        weights.quality * criteria.quality +
        weights.speed * criteria.speed) /
      total;
  }
}

/** Best score first; ties: cheaper, higher quality, configuration order. */
function byScore(a: Evaluation, b: Evaluation): number {
  const difference = (b.score ?? 0) - (a.score ?? 0);
  if (Math.abs(difference) > SCORE_EPSILON) return difference;
  return tieBreak(a, b);
}

/** Closest to the soft constraints first; ties: cheaper, higher quality, configuration order. */
function byShortfall(a: Evaluation, b: Evaluation): number {
  const difference = a.shortfall - b.shortfall;
  if (Math.abs(difference) > SCORE_EPSILON) return difference;
  return tieBreak(a, b);
}

function tieBreak(a: Evaluation, b: Evaluation): number {
  return (
    a.estimatedCostNanos - b.estimatedCostNanos ||
    b.runtime.profile.quality - a.runtime.profile.quality ||
    a.runtime.order - b.runtime.order
  );
}

function cheaper(a: ModelProfile, b: ModelProfile): boolean {
  if (a.price.input !== b.price.input) return a.price.input < b.price.input;
  if (a.price.output !== b.price.output) return a.price.output < b.price.output;
  return a.quality > b.quality;
}

function freeze(evaluation: Evaluation): CandidateEvaluation {
  return {
    profile: evaluation.runtime.profile,
    eligible: evaluation.rejections.length === 0,
    rejections: evaluation.rejections,
    maxCostNanos: evaluation.maxCostNanos,
    estimatedCostNanos: evaluation.estimatedCostNanos,
    promptTokens: evaluation.promptTokens,
    latencyMs: evaluation.latencyMs,
    latencySource: evaluation.latencySource,
    score: evaluation.score,
    criteria: evaluation.criteria,
  };
}

// ---- Explanations ---------------------------------------------------------------------------

function explainDecision(
  requested: string,
  constraints: ResolvedConstraints,
  chosen: Evaluation,
  relaxed: readonly RejectionReason[],
  evaluations: readonly Evaluation[],
  hasSeveralDeployments: (model: string) => boolean,
): string {
  const { profile } = chosen.runtime;
  const target = hasSeveralDeployments(profile.model)
    ? `${profile.model}@${profile.deployment}`
    : profile.model;
  let head = `${requested}->${target}`;
  if (constraints.minQuality > 0) head += ` q>=${num(constraints.minQuality)}`;
  if (constraints.maxLatencyMs !== undefined) head += ` lat<=${constraints.maxLatencyMs}ms`;
  head += ` cost=${usd(chosen.estimatedCostNanos)}`;
  if (chosen.score !== undefined) head += ` score=${chosen.score.toFixed(2)}`;
  if (relaxed.length > 0) head += ` relaxed=${relaxed.join('+')}`;
  return fitExplain(
    ascii(head),
    rejectedList(evaluations, chosen, hasSeveralDeployments).map(ascii),
  );
}

function explainNoRoute(
  requested: string,
  constraints: ResolvedConstraints,
  evaluations: readonly Evaluation[],
  hasSeveralDeployments: (model: string) => boolean,
): string {
  let head = `${requested}->none`;
  if (constraints.minQuality > 0) head += ` q>=${num(constraints.minQuality)}`;
  return fitExplain(
    ascii(head),
    rejectedList(evaluations, undefined, hasSeveralDeployments).map(ascii),
  );
}

/**
 * `model(reason+reason)` for a model whose deployments were all rejected (reasons merged), or
 * `model@deployment(reason)` for a rejected deployment of a model that is otherwise usable.
 * The chosen deployment is never listed.
 */
function rejectedList(
  evaluations: readonly Evaluation[],
  chosen: Evaluation | undefined,
  hasSeveralDeployments: (model: string) => boolean,
): string[] {
  const byModel = new Map<string, Evaluation[]>();
  for (const evaluation of evaluations) {
    const list = byModel.get(evaluation.runtime.profile.model) ?? [];
    list.push(evaluation);
    byModel.set(evaluation.runtime.profile.model, list);
  }
  const entries: string[] = [];
  for (const [model, list] of byModel) {
    const rejected = list.filter((e) => e.rejections.length > 0 && e !== chosen);
    if (rejected.length === 0) continue;
    const reasons = (items: readonly Evaluation[]) =>
      unique(items.flatMap((e) => e.rejections.map((r) => r.reason))).join('+');
    if (rejected.length === list.length || !hasSeveralDeployments(model)) {
      entries.push(`${model}(${reasons(rejected)})`);
    } else {
      for (const e of rejected) {
        entries.push(`${model}@${e.runtime.profile.deployment}(${reasons([e])})`);
      }
    }
  }
  return entries;
}

/** `head; rejected: a,b,c` cut to `EXPLAIN_MAX` characters, ending `,+N` when cut. */
function fitExplain(head: string, rejected: readonly string[]): string {
  if (head.length > EXPLAIN_MAX) return head.slice(0, EXPLAIN_MAX);
  if (rejected.length === 0) return head;
  let text = `${head}; rejected: `;
  for (let index = 0; index < rejected.length; index += 1) {
    const entry = `${index === 0 ? '' : ','}${rejected[index]}`;
    const rest = rejected.length - index - 1;
    const tail = rest > 0 ? `,+${rest}` : '';
    if (text.length + entry.length + tail.length > EXPLAIN_MAX) {
      const omitted = `${index === 0 ? '' : ','}+${rejected.length - index}`;
      return (text + omitted).slice(0, EXPLAIN_MAX);
    }
    text += entry;
  }
  return text;
}

/** Printable ASCII only: anything else (controls, non-ASCII) becomes `?` (for headers). */
export function ascii(text: string): string {
  return text.replace(/[^\x20-\x7e]/g, '?');
}

/** Nano-dollars as US dollars without trailing zeros: 120000 → `0.00012`. */
function usd(nanos: number): string {
  const whole = Math.floor(nanos / 1e9);
  const fraction = String(nanos % 1e9)
    .padStart(9, '0')
    .replace(/0+$/, '');
  return fraction === '' ? String(whole) : `${whole}.${fraction}`;
}

/** A number with at most 3 decimals and no trailing zeros. */
function num(value: number): string {
  return String(Math.round(value * 1000) / 1000);
}

// ---- Validation -----------------------------------------------------------------------------

function resolveWeights(
  base: Readonly<ScoreWeights>,
  override: Partial<ScoreWeights> | undefined,
  label: string,
): Readonly<ScoreWeights> {
  const merged = { ...base, ...override };
  for (const [name, value] of Object.entries(merged)) {
    if (!(Number.isFinite(value) && value >= 0)) {
      throw new ConfigError(`${label}.${name} must be a non-negative number, got ${value}`);
    }
  }
  if (merged.cost + merged.quality + merged.speed <= 0) {
    throw new ConfigError(`${label}: at least one weight must be positive`);
  }
  return Object.freeze(merged);
}

function checkConstraints(constraints: RouteConstraints): void {
  const { minQuality, maxLatencyMs, remainingBudgetNanos, requiredContextTokens, promptTokens } =
    constraints;
  const bad = (what: string) =>
    new SluiceError('E_ROUTE_CONSTRAINT', `invalid routing constraint: ${what}`);
  if (minQuality !== undefined && !(minQuality >= 0 && minQuality <= 1)) {
    throw bad(`minQuality must be between 0 and 1, got ${minQuality}`);
  }
  if (maxLatencyMs !== undefined && !(maxLatencyMs > 0)) {
    throw bad(`maxLatencyMs must be positive, got ${maxLatencyMs}`);
  }
  if (remainingBudgetNanos !== undefined && !(remainingBudgetNanos >= 0)) {
    throw bad(`remainingBudgetNanos must not be negative, got ${remainingBudgetNanos}`);
  }
  for (const [name, value] of [
    ['requiredContextTokens', requiredContextTokens],
    ['promptTokens', promptTokens],
  ] as const) {
    if (value !== undefined && !(Number.isSafeInteger(value) && value >= 0)) {
      throw bad(`${name} must be a non-negative integer, got ${value}`);
    }
  }
}

function unique<T>(items: readonly T[]): T[] {
  return [...new Set(items)];
}
