import type { ModelPrice } from '../cost/prices.js';
import type { CostTracker } from '../cost/tracker.js';
import { NoRouteError } from '../routing/errors.js';
import type { DeploymentConfig, ModelProfile } from '../routing/profiles.js';
import {
  ascii,
  createRouter,
  type RouteConstraints,
  type RouteDecision,
  type Router,
} from '../routing/router.js';
import { parseDuration } from '../shared/duration.js';
import type { Caller } from './auth.js';
import type { GatewayConfig } from './config.js';
import { HttpError } from './errors.js';
import type { Provider } from './provider.js';

function classOf(tracker: CostTracker, ...names: string[]): string | undefined {
  for (const name of names) {
    const found = tracker.priceOf(name)?.class;
    if (found !== undefined) return found;
  }
  return undefined;
}

/** One deployment a request can be sent to. */
export interface Target {
  /** The configured model name (the requested name through a wildcard). */
  readonly model: string;
  readonly upstreamModel: string;
  readonly provider: Provider;
  /** The router's deployment id; undefined for wildcard pass-through. */
  readonly deployment: string | undefined;
  /**
   * What the exact cache keys on besides the request: the model for configured models (its
   * deployments are interchangeable), the provider and upstream name for a wildcard.
   */
  readonly cacheScope: string;
  /**
   * What a call costs here: the deployment's own `price`, else its price-table entry;
   * undefined when unknown (priced by the model's name, as a wildcard is).
   */
  readonly price: ModelPrice | undefined;
}

/** Wildcard plans kept (the names come from clients: bounded, cleared when full). */
const WILDCARD_PLANS = 1_024;

/** Where a request goes: the target, then the targets to fall back to, and why. */
export interface Plan {
  readonly target: Target;
  /** The target first, then its fallbacks in order. */
  readonly chain: readonly Target[];
  /** The router's decision (undefined for wildcard pass-through and a sole deployment). */
  readonly decision: RouteDecision | undefined;
  /** `x-sluice-route` when there is no decision to explain it (a sole deployment). */
  readonly explain?: string;
}

/**
 * A configured model the router has nothing to choose for: one deployment, no fallbacks. Its
 * plan is fixed; what routing still has to check per request (the circuit, the context window,
 * the output cap) is checked against a bound that costs no token count.
 */
interface SoleDeployment {
  readonly plan: Plan;
  readonly deployment: string;
  readonly contextWindow: number | undefined;
  readonly maxOutputTokens: number | undefined;
}

/**
 * A plan whose routing can wait: `nominal` names the model (what the exact cache keys on and a
 * cache hit is recorded against) before any deployment is chosen. A configured model's cache
 * hit never asks the router: its deployments are interchangeable for the cache, and the answer
 * needs no deployment, context check or cost estimate.
 */
export interface LazyPlan {
  /** The model's first deployment (an alias's or a wildcard's plan: its target). */
  readonly nominal: Target;
  /** The plan, when it was routed at once (an alias, a wildcard, a budget downgrade). */
  readonly routed: Plan | undefined;
  /** Routes, throwing what `ModelTable.plan` throws; undefined when `routed` is set. */
  readonly route: (() => Plan) | undefined;
}

/** An already routed plan as a `LazyPlan`. */
export function routedPlan(plan: Plan): LazyPlan {
  return { nominal: plan.target, routed: plan, route: undefined };
}

/**
 * Configured models, aliases and where each requested name goes: through the router for
 * configured models and aliases (right-sizing, balancing, fallbacks, circuit breakers), or
 * straight to the wildcard provider.
 */
export class ModelTable {
  readonly router: Router | undefined;
  readonly #byModel = new Map<string, Target[]>();
  readonly #byDeployment = new Map<string, Target>();
  readonly #aliases: ReadonlySet<string>;
  readonly #wildcard: Provider | undefined;
  readonly #wildcardPlans = new Map<string, Plan>();
  readonly #sole = new Map<string, SoleDeployment>();
  readonly #listed: { id: string; object: 'model'; created: number; owned_by: string }[];

  constructor(
    config: GatewayConfig,
    providers: ReadonlyMap<string, Provider>,
    tracker: CostTracker,
    log: (level: 'warn', message: string, fields: Record<string, unknown>) => void,
  ) {
    let wildcard: Provider | undefined;
    const deployments: DeploymentConfig[] = [];
    const configured = new Map<string, { provider: Provider; custom: boolean }>();
    for (const model of config.models) {
      const provider = providers.get(model.provider);
      if (provider === undefined) {
        throw new HttpError(
          500,
          'server_error',
          'E_CONFIG',
          `no provider named '${model.provider}'`,
        );
      }
      if (model.name === '*') {
        wildcard = provider;
        continue;
      }
      const upstreamModel = model.upstreamModel ?? model.name;
      const deployment = model.deployment ?? `${model.provider}/${model.name}`;
      configured.set(deployment, { provider, custom: model.price !== undefined });
      const known =
        model.price !== undefined ||
        tracker.priceOf(upstreamModel) !== undefined ||
        tracker.priceOf(model.name) !== undefined;
      if (!known) {
        log(
          'warn',
          `no price for model '${model.name}': it is routed as free and of middling quality`,
          {
            model: model.name,
          },
        );
      }
      deployments.push({
        model: model.name,
        deployment,
        provider: model.provider,
        upstreamModel,
        ...(model.price === undefined
          ? known
            ? {}
            : { price: { input: 0, output: 0 } }
          : { price: model.price }),
        // The router ranks by quality: a model without one (unknown, or without a class in the
        // price table, such as an embedding model) is taken as middling.
        ...(model.quality === undefined &&
        model.class === undefined &&
        classOf(tracker, upstreamModel, model.name) === undefined
          ? { quality: 0.5 }
          : {}),
        ...(model.quality === undefined ? {} : { quality: model.quality }),
        ...(model.weight === undefined ? {} : { weight: model.weight }),
        ...(model.class === undefined ? {} : { class: model.class }),
        ...(model.contextWindow === undefined ? {} : { contextWindow: model.contextWindow }),
        ...(model.maxOutputTokens === undefined ? {} : { maxOutputTokens: model.maxOutputTokens }),
        ...(model.expectedLatencyMs === undefined
          ? {}
          : { expectedLatencyMs: model.expectedLatencyMs }),
      });
    }
    this.#wildcard = wildcard;
    const routing = config.routing;
    this.#aliases = new Set(Object.keys(routing.aliases ?? {}));
    const breaker = routing.breaker;
    this.router =
      deployments.length === 0
        ? undefined
        : createRouter({
            deployments,
            costTracker: tracker,
            ...(routing.aliases === undefined ? {} : { aliases: routing.aliases }),
            ...(routing.fallbacks === undefined ? {} : { fallbacks: routing.fallbacks }),
            ...(routing.contextFallbacks === undefined
              ? {}
              : { contextFallbacks: routing.contextFallbacks }),
            ...(routing.weights === undefined ? {} : { weights: routing.weights }),
            ...(routing.balancing === undefined ? {} : { balancing: routing.balancing }),
            ...(breaker === undefined
              ? {}
              : {
                  breaker: {
                    ...(breaker.failures === undefined
                      ? {}
                      : { failureThreshold: breaker.failures }),
                    ...(breaker.window === undefined
                      ? {}
                      : { window: parseDuration(breaker.window, 'routing.breaker.window') }),
                    ...(breaker.cooldown === undefined
                      ? {}
                      : { cooldown: parseDuration(breaker.cooldown, 'routing.breaker.cooldown') }),
                    ...(breaker.maxCooldown === undefined
                      ? {}
                      : {
                          maxCooldown: parseDuration(
                            breaker.maxCooldown,
                            'routing.breaker.maxCooldown',
                          ),
                        }),
                  },
                }),
          });
    const router = this.router;
    // Each deployment is priced as the router prices it: its own `price`, else the price-table
    // entry of its upstream model, else of its name; a model with neither has no price.
    for (const profile of router?.profiles() ?? []) {
      const { provider, custom } = configured.get(profile.deployment) as {
        provider: Provider;
        custom: boolean;
      };
      const target: Target = {
        model: profile.model,
        upstreamModel: profile.upstreamModel,
        provider,
        deployment: profile.deployment,
        cacheScope: `model:${profile.model}`,
        price: custom
          ? ownPrice(profile)
          : profile.pricedAs === undefined
            ? undefined
            : tracker.priceOf(profile.pricedAs),
      };
      this.#byDeployment.set(profile.deployment, target);
      this.#byModel.set(profile.model, [...(this.#byModel.get(profile.model) ?? []), target]);
    }
    if (router !== undefined) {
      const withFallbacks = new Set(Object.keys(routing.fallbacks ?? {}));
      for (const profile of router.profiles()) {
        const targets = this.#byModel.get(profile.model) ?? [];
        const target = targets[0];
        if (targets.length !== 1 || target === undefined || withFallbacks.has(profile.model)) {
          continue;
        }
        this.#sole.set(profile.model, {
          plan: {
            target,
            chain: [target],
            decision: undefined,
            explain: ascii(`${profile.model}->${profile.model} (sole deployment)`),
          },
          deployment: profile.deployment,
          contextWindow: profile.contextWindow,
          maxOutputTokens: profile.maxOutputTokens,
        });
      }
    }
    this.#listed = [...this.#byModel.keys(), ...this.#aliases].map((name) => ({
      id: name,
      object: 'model' as const,
      created: 0,
      owned_by: this.#byModel.get(name)?.[0]?.provider.name ?? 'sluice',
    }));
  }

  /** The price of a configured model's first deployment (undefined: price it by name). */
  priceOf(name: string): ModelPrice | undefined {
    return this.#byModel.get(name)?.[0]?.price;
  }

  /** True when `name` is a configured model or alias (not a wildcard pass-through). */
  knows(name: string): boolean {
    return this.#byModel.has(name) || this.#aliases.has(name);
  }

  /** The plan for a name the caller may use, or undefined (never throws). */
  tryPlan(
    name: string,
    caller: Caller,
    body: Record<string, unknown>,
    constraints: RouteConstraints = {},
  ): Plan | undefined {
    try {
      return this.plan(name, caller, body, constraints);
    } catch {
      return undefined;
    }
  }

  /** The plan of a model served through the `*` route: one per name, built once (bounded). */
  #wildcardPlan(name: string): Plan {
    const known = this.#wildcardPlans.get(name);
    if (known !== undefined) return known;
    const provider = this.#wildcard as Provider;
    const target: Target = {
      model: name,
      upstreamModel: name,
      provider,
      deployment: undefined,
      cacheScope: `${provider.name}/${name}`,
      price: undefined,
    };
    const plan: Plan = { target, chain: [target], decision: undefined };
    if (this.#wildcardPlans.size >= WILDCARD_PLANS) this.#wildcardPlans.clear();
    this.#wildcardPlans.set(name, plan);
    return plan;
  }

  /**
   * Like `plan`, but a configured model (not an alias) is routed only when `route()` is
   * called, after the cache has had its say. An alias is routed at once: which model it
   * resolves to is part of the cache key. Throws 404 and 403 at once, as `plan` does.
   */
  lazyPlan(
    name: string,
    caller: Caller,
    body: Record<string, unknown>,
    constraints: RouteConstraints = {},
    bodyBytes?: number,
  ): LazyPlan {
    const nominal = this.#byModel.get(name)?.[0];
    if (nominal === undefined || this.router === undefined) {
      return routedPlan(this.plan(name, caller, body, constraints));
    }
    this.#admit(name, caller, true);
    return {
      nominal,
      routed: undefined,
      route: () =>
        this.#solePlan(name, body, constraints, bodyBytes) ?? this.#routed(name, body, constraints),
    };
  }

  /**
   * The fixed plan of a model with a sole deployment, when nothing the router would check can
   * refuse the request: no constraint given, the circuit closed, the output cap respected, and
   * the prompt's size in bytes (an upper bound of its token count: every token is at least one
   * byte of text, and the JSON around each message outweighs its per-message tokens) plus the
   * requested output within the context window. Undefined otherwise: the router decides (and
   * explains a refusal).
   */
  #solePlan(
    name: string,
    body: Record<string, unknown>,
    constraints: RouteConstraints,
    bodyBytes: number | undefined,
  ): Plan | undefined {
    const sole = this.#sole.get(name);
    if (sole === undefined || bodyBytes === undefined) return undefined;
    if (
      constraints.minQuality !== undefined ||
      constraints.maxLatencyMs !== undefined ||
      constraints.requiredContextTokens !== undefined
    ) {
      return undefined;
    }
    if (this.router?.breaker(sole.deployment)?.isAvailable() !== true) return undefined;
    const output = outputTokensOf(body);
    if (sole.maxOutputTokens !== undefined && output > sole.maxOutputTokens) return undefined;
    if (sole.contextWindow !== undefined) {
      // Images are counted at a fixed number of tokens, whatever their URL's length.
      // An eighth more, for JSON the tokenizer reads re-serialised (a number in exponent form).
      const bound = bodyBytes + (bodyBytes >> 3) + 64;
      if (bound + output > sole.contextWindow || hasImages(body)) return undefined;
    }
    return sole.plan;
  }

  /**
   * Where a request for `name` goes. Throws 404 `model_not_found`, 403 `model_not_allowed`,
   * or 400 `no_route` when no deployment can serve it (context too long for every candidate,
   * every circuit open, ...).
   */
  plan(
    name: string,
    caller: Caller,
    body: Record<string, unknown>,
    constraints: RouteConstraints = {},
  ): Plan {
    const configured = this.knows(name);
    this.#admit(name, caller, configured);
    if (!configured || this.router === undefined) {
      return this.#wildcardPlan(name);
    }
    return this.#routed(name, body, constraints);
  }

  /** Throws 404 for a name nothing serves, 403 for a model the caller may not use. */
  #admit(name: string, caller: Caller, configured: boolean): void {
    if (!configured && this.#wildcard === undefined) {
      throw new HttpError(
        404,
        'not_found_error',
        'model_not_found',
        `the model '${name}' does not exist`,
        {
          param: 'model',
        },
      );
    }
    if (caller.models !== undefined && !caller.models.has(name) && !caller.models.has('*')) {
      throw new HttpError(
        403,
        'permission_error',
        'model_not_allowed',
        `this key may not use the model '${name}'`,
        {
          param: 'model',
        },
      );
    }
  }

  /** Routes a configured model or alias, with the router's refusals as HTTP errors. */
  #routed(name: string, body: Record<string, unknown>, constraints: RouteConstraints): Plan {
    let decision: RouteDecision;
    try {
      decision = this.#route(name, body, constraints);
    } catch (error) {
      if (error instanceof NoRouteError) {
        if (/\(circuit\)/.test(error.explain)) {
          // Every deployment that could serve it is failing: fail fast, as the breaker intends.
          throw new HttpError(
            503,
            'upstream_error',
            'circuit_open',
            `every deployment of '${name}' is failing: ${error.explain}`,
            {
              isRetryable: true,
              upstream: true,
              headers: { 'retry-after': '1' },
              cause: error,
            },
          );
        }
        throw new HttpError(
          400,
          'invalid_request_error',
          'no_route',
          `${error.message}: ${error.explain}`,
          {
            param: 'model',
            cause: error,
          },
        );
      }
      throw error;
    }
    const chain = [decision.chosen, ...decision.fallbacks]
      .map((profile) => this.#byDeployment.get(profile.deployment))
      .filter((target): target is Target => target !== undefined);
    return { target: chain[0] as Target, chain, decision };
  }

  /**
   * Routes with the caller's remaining budget as a constraint for aliases only (pick a cheaper
   * candidate); a concrete model, or an alias none of whose candidates fits, is left to the
   * budget's own admission (429 `budget_exceeded`), never refused as unroutable.
   */
  #route(
    name: string,
    body: Record<string, unknown>,
    constraints: RouteConstraints,
  ): RouteDecision {
    const router = this.router as Router;
    const { remainingBudgetNanos, ...rest } = constraints;
    if (remainingBudgetNanos === undefined || !this.#aliases.has(name)) {
      return router.route({ ...body, model: name }, rest);
    }
    try {
      return router.route({ ...body, model: name }, constraints);
    } catch (error) {
      if (error instanceof NoRouteError) return router.route({ ...body, model: name }, rest);
      throw error;
    }
  }

  /** The target to try after a context-length error on `target`, if a bigger model exists. */
  contextFallbackFor(target: Target, requiredTokens?: number): Target | undefined {
    if (this.router === undefined || target.deployment === undefined) return undefined;
    const profile = this.router.contextFallbackFor(
      target.model,
      requiredTokens === undefined ? {} : { requiredTokens },
    );
    return profile === undefined ? undefined : this.#byDeployment.get(profile.deployment);
  }

  list(caller: Caller): readonly { id: string }[] {
    const allowed = caller.models;
    if (allowed === undefined || allowed.has('*')) return this.#listed;
    return this.#listed.filter((model) => allowed.has(model.id));
  }
  /**
   * One model, as `GET /v1/models/{id}` shows it: a configured model or alias the caller may
   * use, or, behind a wildcard (`name: '*'`), any name it would pass through. Throws 404
   * `model_not_found` or 403 `model_not_allowed` as a request for it would.
   */
  retrieve(
    id: string,
    caller: Caller,
  ): { id: string; object: 'model'; created: number; owned_by: string } {
    const configured = this.knows(id);
    this.#admit(id, caller, configured);
    const listed = this.#listed.find((model) => model.id === id);
    if (listed !== undefined) return listed;
    return { id, object: 'model', created: 0, owned_by: this.#wildcard?.name ?? 'sluice' };
  }
}

/** A deployment's own `price` as a price-table entry (the profile holds it in pico-dollars). */
function ownPrice(profile: ModelProfile): ModelPrice {
  return Object.freeze({
    model: profile.model,
    provider: profile.provider,
    picoPerToken: profile.price,
    contextWindow: profile.contextWindow,
    maxOutputTokens: profile.maxOutputTokens,
    class: profile.class,
    mode: 'chat' as const,
  });
}

/** The output a validated request asks for (a positive integer, or 0 when it sets no cap). */
function outputTokensOf(body: Record<string, unknown>): number {
  const cap = body.max_completion_tokens ?? body.max_tokens;
  return typeof cap === 'number' ? cap : 0;
}

/** Whether a chat request carries a content part other than text. */
function hasImages(body: Record<string, unknown>): boolean {
  const messages = body.messages;
  if (!Array.isArray(messages)) return false;
  for (const message of messages) {
    const content = (message as { content?: unknown } | null)?.content;
    if (!Array.isArray(content)) continue;
    for (const part of content) {
      const type = (part as { type?: unknown } | null)?.type;
      if (type !== 'text' && type !== 'refusal') return true;
    }
  }
  return false;
}
