import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, extname, join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { perMillionToPico } from '../cost/money.js';
import { parseBytes } from '../shared/bytes.js';
import { parseDuration } from '../shared/duration.js';
import { ConfigError } from '../shared/errors.js';
import { checkReferences } from './config-references.js';

const LOOPBACK_HOSTS = new Set(['127.0.0.1', '::1', 'localhost']);
const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

const name = z
  .string()
  .regex(
    NAME_PATTERN,
    'a name of 1-64 letters, digits, ".", "_" or "-", starting with a letter or digit',
  );
const duration = z.union([z.number().nonnegative(), z.string()]);
const byteSize = z.union([z.number().int().nonnegative(), z.string()]);

const providerSchema = z.strictObject({
  name,
  type: z.enum(['openai-compatible', 'anthropic']),
  baseUrl: z.url({ protocol: /^https?$/ }).optional(),
  apiKey: z.string().optional(),
  headers: z.record(z.string(), z.string()).optional(),
  timeout: duration.optional(),
  connections: z.number().int().positive().max(1024).optional(),
});

const modelSchema = z.strictObject({
  name: z.string().min(1).max(256),
  provider: name,
  upstreamModel: z.string().min(1).max(256).optional(),
  deployment: z.string().min(1).max(256).optional(),
  quality: z.number().min(0).max(1).optional(),
  weight: z.number().positive().optional(),
  class: z.enum(['small', 'medium', 'large']).optional(),
  contextWindow: z.number().int().positive().optional(),
  maxOutputTokens: z.number().int().positive().optional(),
  expectedLatencyMs: z.number().nonnegative().optional(),
  price: z
    .strictObject({
      input: z.union([z.number().nonnegative(), z.string()]),
      output: z.union([z.number().nonnegative(), z.string()]),
      cachedInput: z.union([z.number().nonnegative(), z.string()]).optional(),
      cacheWrite: z.union([z.number().nonnegative(), z.string()]).optional(),
      reasoning: z.union([z.number().nonnegative(), z.string()]).optional(),
    })
    .optional(),
});

const weightsSchema = z.strictObject({
  cost: z.number().min(0).optional(),
  quality: z.number().min(0).optional(),
  speed: z.number().min(0).optional(),
});

const routingSchema = z.strictObject({
  aliases: z
    .record(
      z.string().min(1).max(256),
      z.strictObject({
        candidates: z.array(z.string().min(1)).min(1),
        minQuality: z.number().min(0).max(1).optional(),
        maxLatencyMs: z.number().positive().optional(),
        weights: weightsSchema.optional(),
        complexity: z.boolean().optional(),
        baseline: z.string().optional(),
      }),
    )
    .optional(),
  fallbacks: z.record(z.string().min(1), z.array(z.string().min(1))).optional(),
  contextFallbacks: z.record(z.string().min(1), z.array(z.string().min(1))).optional(),
  weights: weightsSchema.optional(),
  balancing: z.enum(['weighted', 'least-busy', 'latency']).optional(),
  retries: z
    .strictObject({
      attempts: z.number().int().min(1).max(10).optional(),
      baseDelay: duration.optional(),
      maxDelay: duration.optional(),
      maxRetryAfter: duration.optional(),
    })
    .optional(),
  breaker: z
    .strictObject({
      failures: z.number().int().min(1).optional(),
      window: duration.optional(),
      cooldown: duration.optional(),
      maxCooldown: duration.optional(),
    })
    .optional(),
  hedge: z.strictObject({ enabled: z.boolean().optional(), delay: duration.optional() }).optional(),
});

const rateLimitSchema = z.strictObject({
  scope: z
    .string()
    .regex(
      /^(global|(key|model|tag):[^\s,]{1,128})$/,
      'global, key:NAME|*, model:NAME|* or tag:NAME|*',
    ),
  requestsPerMinute: z.number().int().positive().optional(),
  tokensPerMinute: z.number().int().positive().optional(),
  maxConcurrent: z.number().int().positive().optional(),
});

const keySchema = z.strictObject({
  name,
  key: z.string().min(16, 'a key of at least 16 characters'),
  models: z.array(z.string().min(1)).optional(),
  namespace: name.optional(),
  tags: z.array(name).optional(),
});

const budgetAction = z.discriminatedUnion('action', [
  z.strictObject({ at: z.number().min(0).max(10), action: z.literal('prefer-cache') }),
  z.strictObject({
    at: z.number().min(0).max(10),
    action: z.literal('downgrade'),
    models: z.record(z.string().min(1), z.string().min(1)),
  }),
  z.strictObject({ at: z.number().min(0).max(10), action: z.literal('defer-low-priority') }),
  z.strictObject({ at: z.number().min(0).max(10), action: z.literal('reject') }),
]);

const budgetSchema = z.strictObject({
  scope: z
    .string()
    .regex(
      /^(global|(key|model|provider|tag):[^\s,]{1,128})$/,
      'global, key:NAME, model:NAME, provider:NAME or tag:NAME',
    ),
  window: z.union([z.enum(['daily', 'weekly', 'monthly']), z.strictObject({ rolling: duration })]),
  limitUsd: z.union([
    z.number().positive(),
    z.string().regex(/^\d+(\.\d{1,9})?$/, 'dollars, e.g. "5" or "0.25"'),
  ]),
  thresholds: z.array(z.number().gt(0).max(10)).optional(),
  actions: z.array(budgetAction).optional(),
});

const priceSchema = z.strictObject({
  provider: z.string().optional(),
  input: z.number().nonnegative().optional(),
  output: z.number().nonnegative().optional(),
  cachedInput: z.number().nonnegative().optional(),
  cacheWrite: z.number().nonnegative().optional(),
  reasoning: z.number().nonnegative().optional(),
  contextWindow: z.number().int().positive().optional(),
  maxOutputTokens: z.number().int().positive().optional(),
  class: z.enum(['small', 'medium', 'large']).optional(),
  mode: z.enum(['chat', 'embedding']).optional(),
});

const costSchema = z.strictObject({
  ledger: z.union([z.string().min(1), z.literal(false)]).optional(),
  durability: z.enum(['process', 'power']).optional(),
  timeZone: z.string().min(1).optional(),
  reservationTtl: duration.optional(),
  webhook: z
    .strictObject({
      url: z.url({ protocol: /^https?$/ }),
      headers: z.record(z.string(), z.string()).optional(),
    })
    .optional(),
  pricingFile: z.string().min(1).optional(),
  prices: z.record(z.string().min(1), priceSchema).optional(),
});

const fileSchema = z.strictObject({
  server: z
    .strictObject({
      host: z.string().min(1).optional(),
      port: z.number().int().min(0).max(65535).optional(),
      bodyLimit: byteSize.optional(),
      bodyTimeout: duration.optional(),
      headersTimeout: duration.optional(),
      shutdownTimeout: duration.optional(),
      logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).optional(),
      accessLog: z.boolean().optional(),
    })
    .optional(),
  store: z
    .strictObject({
      sqlite: z.union([z.string().min(1), z.literal(false)]).optional(),
      sqliteMaxBytes: byteSize.optional(),
      redis: z.string().min(1).optional(),
      prefix: z.string().optional(),
    })
    .optional(),
  providers: z.array(providerSchema).min(1),
  models: z.array(modelSchema).min(1),
  keys: z.array(keySchema).optional(),
  admin: z.strictObject({ key: z.string().min(16, 'a key of at least 16 characters') }).optional(),
  budgets: z.array(budgetSchema).optional(),
  cost: costSchema.optional(),
  routing: routingSchema.optional(),
  rateLimits: z.array(rateLimitSchema).optional(),
  batching: z.strictObject({ embeddingsWindow: duration.optional() }).optional(),
  deferred: z
    .strictObject({
      path: z.string().min(1).optional(),
      batchProvider: name.optional(),
      offPeak: z
        .strictObject({
          start: z.string().regex(/^\d{2}:\d{2}$/, "'HH:MM'"),
          end: z.string().regex(/^\d{2}:\d{2}$/, "'HH:MM'"),
          timeZone: z.string().optional(),
        })
        .optional(),
      interval: duration.optional(),
    })
    .optional(),
  semantic: z
    .strictObject({
      enabled: z.boolean().optional(),
      keys: z.array(z.string().min(1)).optional(),
      embedder: z
        .union([z.literal('local'), z.strictObject({ provider: name, model: z.string().min(1) })])
        .optional(),
      targetFalseHitRate: z.number().gt(0).lt(1).optional(),
      maxEntries: z.number().int().positive().optional(),
      ttl: duration.optional(),
      multiTurn: z.boolean().optional(),
    })
    .optional(),
  cache: z
    .strictObject({
      enabled: z.boolean().optional(),
      ttl: duration.optional(),
      maxEntries: z.number().int().positive().optional(),
      maxBytes: byteSize.optional(),
      maxEntryBytes: byteSize.optional(),
      sharedNamespace: name.optional(),
    })
    .optional(),
});

/** A configuration file as written (before defaults). See docs/configuration.md. */
export type GatewayConfigFile = z.input<typeof fileSchema>;

export interface ProviderConfig {
  readonly name: string;
  readonly type: 'openai-compatible' | 'anthropic';
  readonly baseUrl: string;
  readonly apiKey: string | undefined;
  readonly headers: Readonly<Record<string, string>>;
  /** Milliseconds to wait for response headers, and between body chunks. */
  readonly timeoutMs: number;
  /** Most concurrent connections to this provider. */
  readonly connections: number;
}

/**
 * A model a client can ask for, on one provider. The same name on several providers gives one
 * model with several deployments (balanced, with failover).
 */
export type ModelConfig = z.infer<typeof modelSchema> & {
  /** The name sent upstream; defaults to `name` (or the requested name for `'*'`). */
  readonly upstreamModel: string | undefined;
  /**
   * The deployment's id (its circuit breaker and latency statistics); `provider/name` unless
   * configured. Undefined for `'*'`.
   */
  readonly deployment: string | undefined;
};

export type RoutingConfig = z.infer<typeof routingSchema>;
export type SemanticConfig = NonNullable<z.infer<typeof fileSchema>['semantic']>;
export type DeferredConfig = NonNullable<z.infer<typeof fileSchema>['deferred']>;
export type RateLimitConfig = z.infer<typeof rateLimitSchema>;

export interface KeyConfig {
  readonly name: string;
  readonly key: string;
  /** Models this key may use; every model when absent. */
  readonly models: readonly string[] | undefined;
  /** Cache namespace; keys sharing a namespace share cached answers. @default the key's name */
  readonly namespace: string;
  /** Tags for `tag:` budgets. @default [] */
  readonly tags: readonly string[];
}

/** A budget as configured (validated again, with defaults, by `createBudgets`). */
export type BudgetConfigEntry = z.infer<typeof budgetSchema>;
export type PriceOverride = z.infer<typeof priceSchema>;

/** A validated configuration with every default applied. */
export interface GatewayConfig {
  readonly server: {
    readonly host: string;
    readonly port: number;
    readonly bodyLimit: number;
    /** A request (headers and body) must arrive in full within this, from its first byte; else 408. */
    readonly bodyTimeoutMs: number;
    /** A request's line and headers must arrive within this (capped at `bodyTimeoutMs`); else 408. */
    readonly headersTimeoutMs: number;
    readonly shutdownTimeoutMs: number;
    readonly logLevel: string;
    /** One `info` line per model request (and per refused request on other routes). */
    readonly accessLog: boolean;
  };
  readonly store: {
    readonly sqlite: string | false;
    /** Bound of the SQLite file's pages in use (L3 evicts past it), bytes. */
    readonly sqliteMaxBytes: number;
    readonly redis: string | undefined;
    readonly prefix: string;
  };
  readonly providers: readonly ProviderConfig[];
  readonly models: readonly ModelConfig[];
  readonly keys: readonly KeyConfig[];
  readonly admin: { readonly key: string } | undefined;
  readonly budgets: readonly BudgetConfigEntry[];
  /** Virtual models, fallbacks, retries, breakers, balancing, hedging. */
  readonly routing: RoutingConfig;
  readonly rateLimits: readonly RateLimitConfig[];
  /** Concurrent embeddings requests to one model within this window share one upstream call (0: off). */
  readonly batching: { readonly embeddingsWindowMs: number };
  /** Deferred low-priority work (`x-sluice-defer`); undefined when not configured. */
  readonly deferred: DeferredConfig | undefined;
  /** The semantic cache: off unless `enabled`; only for `keys` when given. */
  readonly semantic: SemanticConfig;
  readonly cost: {
    /** SQLite file of the ledger; false for none. @default `ledger.db` beside `store.sqlite` */
    readonly ledger: string | false;
    readonly durability: 'process' | 'power';
    readonly timeZone: string;
    readonly reservationTtlMs: number;
    readonly webhook:
      | { readonly url: string; readonly headers: Readonly<Record<string, string>> }
      | undefined;
    readonly pricingFile: string | undefined;
    readonly prices: Readonly<Record<string, PriceOverride>>;
  };
  readonly cache: {
    readonly enabled: boolean;
    readonly ttlMs: number;
    readonly maxEntries: number;
    readonly maxBytes: number;
    readonly maxEntryBytes: number;
    /** When set, every key's cache namespace is this one (tenants share answers). */
    readonly sharedNamespace: string | undefined;
  };
  /** Where the configuration came from, for the start-up log. */
  readonly source: string;
}

export const DEFAULTS = {
  host: '127.0.0.1',
  port: 8787,
  bodyLimit: 4 * 1024 * 1024,
  bodyTimeoutMs: 30_000,
  headersTimeoutMs: 10_000,
  shutdownTimeoutMs: 10_000,
  logLevel: 'info',
  accessLog: false,
  sqlite: './.sluice/sluice.db',
  sqliteMaxBytes: 1024 ** 3,
  reservationTtlMs: 600_000,
  prefix: 'sluice',
  providerTimeoutMs: 60_000,
  providerConnections: 64,
  cacheTtlMs: 3_600_000,
  cacheMaxEntries: 10_000,
  cacheMaxBytes: 64 * 1024 * 1024,
  cacheMaxEntryBytes: 4 * 1024 * 1024,
} as const;

export type Environment = Readonly<Record<string, string | undefined>>;

/**
 * Loads a configuration: the file given (YAML or JSON), else `SLUICE_CONFIG`, else a
 * single-provider configuration from `OPENAI_API_KEY` and `OPENAI_BASE_URL`. Every problem is a
 * `ConfigError` naming the field and what was expected.
 */
export function loadConfig(path?: string, environment: Environment = process.env): GatewayConfig {
  const file = path ?? environment.SLUICE_CONFIG;
  if (file === undefined || file === '') return configFromEnvironment(environment);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError(
      `cannot read the configuration file ${file}: ${(error as Error).message}`,
    );
  }
  // Variables are swapped for inert placeholders before parsing: `${X}` inside a YAML flow
  // mapping would otherwise read as braces, and a secret's characters must never change the
  // structure of the file. Placeholders are resolved in the parsed strings, by field path.
  const { text: prepared, variables } = protectVariables(text);
  let raw: unknown;
  try {
    raw = extname(file).toLowerCase() === '.json' ? JSON.parse(prepared) : parseYaml(prepared);
  } catch (error) {
    throw new ConfigError(
      `${file} is not valid ${extname(file) === '.json' ? 'JSON' : 'YAML'}: ${(error as Error).message}`,
    );
  }
  return resolveConfig(interpolate(raw, environment, [], variables), file);
}

/** The configuration used when no file is given: OpenAI (or `OPENAI_BASE_URL`) with any model name. */
export function configFromEnvironment(environment: Environment): GatewayConfig {
  const apiKey = environment.OPENAI_API_KEY;
  if (apiKey === undefined || apiKey === '') {
    throw new ConfigError(
      'no configuration: pass --config FILE, set SLUICE_CONFIG, or set OPENAI_API_KEY (and optionally OPENAI_BASE_URL) for a single-provider gateway',
    );
  }
  return resolveConfig(
    {
      providers: [
        {
          name: 'openai',
          type: 'openai-compatible',
          baseUrl: environment.OPENAI_BASE_URL || 'https://api.openai.com/v1',
          apiKey,
        },
      ],
      models: [{ name: '*', provider: 'openai' }],
    },
    'environment (OPENAI_API_KEY)',
  );
}

/** Validates a parsed configuration object and applies defaults. */
export function resolveConfig(raw: unknown, source = 'configuration'): GatewayConfig {
  const parsed = fileSchema.safeParse(raw);
  if (!parsed.success) {
    const lines = parsed.error.issues.map(
      (issue) => `  ${issue.path.length > 0 ? issue.path.join('.') : '(root)'}: ${issue.message}`,
    );
    throw new ConfigError(`invalid configuration in ${source}:\n${lines.join('\n')}`);
  }
  const file = parsed.data;
  const at = (field: string) => `${source}: ${field}`;

  const providers = file.providers.map(
    (provider, index): ProviderConfig => ({
      name: provider.name,
      type: provider.type,
      baseUrl: baseUrlOf(provider.type, provider.baseUrl, at(`providers.${index}.baseUrl`)),
      apiKey: provider.apiKey === '' ? undefined : provider.apiKey,
      headers: provider.headers ?? {},
      timeoutMs:
        provider.timeout === undefined
          ? DEFAULTS.providerTimeoutMs
          : parseDuration(provider.timeout, at(`providers.${index}.timeout`)),
      connections: provider.connections ?? DEFAULTS.providerConnections,
    }),
  );
  unique(
    providers.map((provider) => provider.name),
    at('providers'),
    'provider name',
  );
  const providerNames = new Set(providers.map((provider) => provider.name));

  const models = file.models.map((model, index): ModelConfig => {
    if (!providerNames.has(model.provider)) {
      throw new ConfigError(
        `${at(`models.${index}.provider`)}: unknown provider '${model.provider}'; expected one of ${[...providerNames].join(', ')}`,
      );
    }
    for (const [field, value] of Object.entries(model.price ?? {})) {
      // Checked here for the field's path; the router converts it again.
      if (value !== undefined) perMillionToPico(value, at(`models.${index}.price.${field}`));
    }
    if (model.name === '*' && model.deployment !== undefined) {
      throw new ConfigError(
        `${at(`models.${index}.deployment`)}: the '*' model passes names through; it has no deployment to name`,
      );
    }
    return {
      ...model,
      upstreamModel: model.upstreamModel,
      deployment: model.name === '*' ? undefined : deploymentIdOf(model),
    };
  });
  unique(
    models.map((model) => `${model.name}' on provider '${model.provider}`),
    at('models'),
    'model',
  );
  uniqueDeployments(models, at('models'));
  const batchProvider = file.deferred?.batchProvider;
  if (
    batchProvider !== undefined &&
    providers.find((provider) => provider.name === batchProvider)?.type !== 'openai-compatible'
  ) {
    throw new ConfigError(
      `${at('deferred.batchProvider')}: '${batchProvider}' is not an openai-compatible provider (the Batch API is OpenAI's)`,
    );
  }
  const routing = file.routing ?? {};
  const modelNames = new Set(models.map((model) => model.name));
  for (const [alias, definition] of Object.entries(routing.aliases ?? {})) {
    if (modelNames.has(alias)) {
      throw new ConfigError(
        `${at(`routing.aliases.${alias}`)}: an alias cannot have a model's name`,
      );
    }
    for (const candidate of definition.candidates) {
      if (!modelNames.has(candidate) || candidate === '*') {
        throw new ConfigError(
          `${at(`routing.aliases.${alias}.candidates`)}: '${candidate}' is not a configured model`,
        );
      }
    }
  }
  for (const [field, chains] of [
    ['fallbacks', routing.fallbacks ?? {}],
    ['contextFallbacks', routing.contextFallbacks ?? {}],
  ] as const) {
    for (const [model, chain] of Object.entries(chains)) {
      for (const name of [model, ...chain]) {
        if (!modelNames.has(name) || name === '*') {
          throw new ConfigError(
            `${at(`routing.${field}.${model}`)}: '${name}' is not a configured model`,
          );
        }
      }
    }
  }

  const keys = (file.keys ?? []).map(
    (key): KeyConfig => ({
      name: key.name,
      key: key.key,
      models: key.models,
      namespace: file.cache?.sharedNamespace ?? key.namespace ?? key.name,
      tags: key.tags ?? [],
    }),
  );
  unique(
    keys.map((key) => key.name),
    at('keys'),
    'key name',
  );
  unique(
    keys.map((key) => key.key),
    at('keys'),
    'key value',
  );

  const host = file.server?.host ?? DEFAULTS.host;
  if (keys.length === 0 && !LOOPBACK_HOSTS.has(host)) {
    throw new ConfigError(
      `${at('server.host')}: with no keys configured the gateway runs open and binds loopback only; configure keys to listen on ${host}`,
    );
  }
  const cache = file.cache ?? {};
  const cost = file.cost ?? {};
  const sqlite = file.store?.sqlite ?? DEFAULTS.sqlite;
  const config: GatewayConfig = {
    server: {
      host,
      port: file.server?.port ?? DEFAULTS.port,
      bodyLimit:
        file.server?.bodyLimit === undefined
          ? DEFAULTS.bodyLimit
          : parseBytes(file.server.bodyLimit, at('server.bodyLimit')),
      bodyTimeoutMs: requestDeadline(
        file.server?.bodyTimeout,
        DEFAULTS.bodyTimeoutMs,
        at('server.bodyTimeout'),
      ),
      headersTimeoutMs: requestDeadline(
        file.server?.headersTimeout,
        DEFAULTS.headersTimeoutMs,
        at('server.headersTimeout'),
      ),
      shutdownTimeoutMs:
        file.server?.shutdownTimeout === undefined
          ? DEFAULTS.shutdownTimeoutMs
          : parseDuration(file.server.shutdownTimeout, at('server.shutdownTimeout')),
      logLevel: file.server?.logLevel ?? DEFAULTS.logLevel,
      accessLog: file.server?.accessLog ?? DEFAULTS.accessLog,
    },
    store: {
      sqlite,
      sqliteMaxBytes: sqliteMaxBytes(file.store?.sqliteMaxBytes, at('store.sqliteMaxBytes')),
      redis: file.store?.redis,
      prefix: file.store?.prefix ?? DEFAULTS.prefix,
    },
    providers,
    models,
    keys,
    admin: file.admin,
    budgets: file.budgets ?? [],
    routing,
    rateLimits: file.rateLimits ?? [],
    semantic: file.semantic ?? {},
    deferred: file.deferred,
    batching: {
      embeddingsWindowMs:
        file.batching?.embeddingsWindow === undefined
          ? 2
          : parseDuration(file.batching.embeddingsWindow, at('batching.embeddingsWindow')),
    },
    cost: {
      ledger: cost.ledger ?? defaultLedger(sqlite),
      durability: cost.durability ?? 'process',
      timeZone: cost.timeZone ?? 'UTC',
      reservationTtlMs:
        cost.reservationTtl === undefined
          ? DEFAULTS.reservationTtlMs
          : parseDuration(cost.reservationTtl, at('cost.reservationTtl')),
      webhook:
        cost.webhook === undefined
          ? undefined
          : { url: cost.webhook.url, headers: cost.webhook.headers ?? {} },
      pricingFile: cost.pricingFile,
      prices: cost.prices ?? {},
    },
    cache: {
      enabled: cache.enabled ?? true,
      ttlMs:
        cache.ttl === undefined ? DEFAULTS.cacheTtlMs : parseDuration(cache.ttl, at('cache.ttl')),
      maxEntries: cache.maxEntries ?? DEFAULTS.cacheMaxEntries,
      maxBytes:
        cache.maxBytes === undefined
          ? DEFAULTS.cacheMaxBytes
          : parseBytes(cache.maxBytes, at('cache.maxBytes')),
      maxEntryBytes:
        cache.maxEntryBytes === undefined
          ? DEFAULTS.cacheMaxEntryBytes
          : parseBytes(cache.maxEntryBytes, at('cache.maxEntryBytes')),
      sharedNamespace: cache.sharedNamespace,
    },
    source,
  };
  checkReferences(config);
  resolved.add(config);
  return config;
}

const resolved = new WeakSet<GatewayConfig>();

/**
 * The ledger's file when `cost.ledger` is not given: `ledger.db` beside the `store.sqlite`
 * file, so one store folder holds a gateway's state (and a store elsewhere never shares a
 * ledger with the current folder's); in memory beside an in-memory store; none without one.
 */
function defaultLedger(sqlite: string | false): string | false {
  if (sqlite === false) return false;
  if (sqlite === ':memory:') return ':memory:';
  return join(dirname(sqlite), 'ledger.db');
}

/** True for a configuration produced by `resolveConfig` or `loadConfig`. */
export function isResolvedConfig(value: unknown): value is GatewayConfig {
  return typeof value === 'object' && value !== null && resolved.has(value as GatewayConfig);
}

function baseUrlOf(
  type: ProviderConfig['type'],
  baseUrl: string | undefined,
  field: string,
): string {
  if (baseUrl !== undefined) return baseUrl.replace(/\/+$/, '');
  if (type === 'anthropic') return 'https://api.anthropic.com/v1';
  throw new ConfigError(`${field}: required for an openai-compatible provider`);
}

/**
 * A deployment's id: `deployment` when configured, else `provider/name`. The name, not the
 * upstream model: two names for one upstream model (`fast` for `gpt-4o-mini`) are two
 * deployments, each with its own breaker and statistics, and `(name, provider)` is unique.
 */
function deploymentIdOf(model: { name: string; provider: string; deployment?: string }): string {
  return model.deployment ?? `${model.provider}/${model.name}`;
}

function uniqueDeployments(models: readonly ModelConfig[], field: string): void {
  const seen = new Map<string, number>();
  models.forEach((model, index) => {
    if (model.deployment === undefined) return;
    const first = seen.get(model.deployment);
    if (first !== undefined) {
      throw new ConfigError(
        `${field}.${index}.deployment: deployment id '${model.deployment}' is already the id of models.${first}; give each deployment a unique \`deployment\``,
      );
    }
    seen.set(model.deployment, index);
  });
}

/** A request timeout: whole milliseconds, more than 0 (a request must arrive in bounded time). */
function requestDeadline(
  value: number | string | undefined,
  fallback: number,
  field: string,
): number {
  if (value === undefined) return fallback;
  const ms = Math.ceil(parseDuration(value, field));
  if (ms <= 0) throw new ConfigError(`${field} must be more than 0`);
  if (ms > 2_147_483_647) throw new ConfigError(`${field} must be at most 24 days`);
  return ms;
}

function unique(values: readonly string[], field: string, what: string): void {
  const seen = new Set<string>();
  for (const value of values) {
    if (seen.has(value)) {
      // Never echo a key value back: it is a secret.
      const shown = what === 'key value' ? '(a key value)' : `'${value}'`;
      throw new ConfigError(`${field}: duplicate ${what} ${shown}`);
    }
    seen.add(value);
  }
}

const VARIABLE = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

interface Variable {
  readonly name: string;
  readonly fallback: string | undefined;
}

/** Replaces every `${NAME}` / `${NAME:-default}` in a file's text with a placeholder. */
function protectVariables(text: string): { text: string; variables: Variable[] } {
  const variables: Variable[] = [];
  const nonce = randomBytes(6).toString('hex');
  const protectedText = text.replace(VARIABLE, (_match, name: string, fallback?: string) => {
    variables.push({ name, fallback });
    return `sluice-env-${nonce}-${variables.length - 1}-`;
  });
  return { text: protectedText, variables };
}

const PLACEHOLDER = /sluice-env-[0-9a-f]{12}-(\d+)-/g;

/**
 * Resolves variables in every string of a parsed configuration: placeholders left by
 * `protectVariables`, or `${NAME}` written directly (configuration objects built in code).
 * An unset variable without a default is an error naming the variable and the field.
 */
export function interpolate(
  value: unknown,
  environment: Environment,
  path: string[],
  variables: readonly Variable[] = [],
): unknown {
  if (typeof value === 'string') {
    const resolve = (name: string, fallback: string | undefined): string => {
      const found = environment[name];
      if (found !== undefined && found !== '') return found;
      if (fallback !== undefined) return fallback;
      throw new ConfigError(
        `${path.join('.') || '(root)'}: environment variable ${name} is not set (write \${${name}:-default} for an optional one)`,
      );
    };
    return value
      .replace(PLACEHOLDER, (match, index: string) => {
        const variable = variables[Number(index)];
        return variable === undefined ? match : resolve(variable.name, variable.fallback);
      })
      .replace(VARIABLE, (_match, name: string, fallback?: string) => resolve(name, fallback));
  }
  if (Array.isArray(value)) {
    return value.map((item, index) =>
      interpolate(item, environment, [...path, String(index)], variables),
    );
  }
  if (value !== null && typeof value === 'object') {
    const result: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) {
      result[key] = interpolate(item, environment, [...path, key], variables);
    }
    return result;
  }
  return value;
}

export function isLoopback(host: string): boolean {
  return LOOPBACK_HOSTS.has(host);
}

/** The least `store.sqliteMaxBytes`: below it the schema alone would fill the bound. */
const MIN_SQLITE_MAX_BYTES = 1024 ** 2;

function sqliteMaxBytes(value: number | string | undefined, name: string): number {
  if (value === undefined) return DEFAULTS.sqliteMaxBytes;
  const bytes = parseBytes(value, name);
  if (bytes < MIN_SQLITE_MAX_BYTES) {
    throw new ConfigError(`${name} must be at least 1mb, got ${bytes} bytes`);
  }
  return bytes;
}
