/**
 * Names a configuration refers to — budget and rate-limit scopes, downgrade targets, the
 * semantic cache's keys, a key's allowed models — checked against what the configuration
 * defines, so that a typo is an error at start-up instead of a rule that never applies.
 *
 * Models and providers are always defined by the configuration. Callers are not: the gateway's
 * callers are its configured keys (or `anonymous` without keys), but in-process (`createSluice`,
 * the SDK adapters) code names the caller, so key and tag names are checked by the gateway only.
 */
import { closestName } from '../shared/edit-distance.js';
import { ConfigError } from '../shared/errors.js';
import type { GatewayConfig } from './config.js';

/** The caller of a gateway with no keys (see `KeyRing`). */
const ANONYMOUS = 'anonymous';
/** Names shown after "expected one of" (the rest are counted). */
const LISTED = 8;

type Kind = 'key' | 'model' | 'provider' | 'tag';

/** What the configuration defines, by kind of name. */
interface Defined {
  readonly key: ReadonlySet<string>;
  readonly model: ReadonlySet<string>;
  readonly provider: ReadonlySet<string>;
  readonly tag: ReadonlySet<string>;
  /** `routing.aliases`: requested names that resolve to one of their candidates. */
  readonly aliases: ReadonlySet<string>;
  /** A `'*'` model passes any other name through: model names cannot be checked. */
  readonly wildcard: boolean;
  /** Whether callers are the configured keys (so `key:` and `tag:` names can be checked). */
  readonly callers: boolean;
}

export interface ReferenceOptions {
  /**
   * Check key and tag names too: the callers are exactly the configured keys (the gateway).
   * @default false (callers are named in code)
   */
  readonly callersAreKeys?: boolean;
}

/**
 * Throws a `ConfigError` naming the field, the name and the closest defined one, for the first
 * reference to something the configuration does not define. With `callersAreKeys`, key names
 * are checked against `keys` (with no keys, the only caller is `anonymous`), tags against
 * their tags: keys created at run time, should they ever be, cannot be named in a scope.
 */
export function checkReferences(config: GatewayConfig, options: ReferenceOptions = {}): void {
  const models = config.models.filter((model) => model.name !== '*');
  const defined: Defined = {
    key: new Set(config.keys.length === 0 ? [ANONYMOUS] : config.keys.map((key) => key.name)),
    model: new Set(models.map((model) => model.name)),
    provider: new Set(config.providers.map((provider) => provider.name)),
    tag: new Set(config.keys.flatMap((key) => key.tags)),
    aliases: new Set(Object.keys(config.routing.aliases ?? {})),
    wildcard: models.length < config.models.length,
    callers: options.callersAreKeys ?? false,
  };
  const field = (path: string) => `${config.source}: ${path}`;

  config.budgets.forEach((budget, index) => {
    checkScope(budget.scope, false, defined, field(`budgets.${index}.scope`));
    (budget.actions ?? []).forEach((action, actionIndex) => {
      if (action.action !== 'downgrade') return;
      const at = field(`budgets.${index}.actions.${actionIndex}.models`);
      for (const [from, to] of Object.entries(action.models)) {
        // A request is matched by the model it resolves to, never by an alias's name.
        checkName('model', from, defined, at, false);
        checkName('model', to, defined, at, true);
      }
    });
  });
  config.rateLimits.forEach((rule, index) => {
    checkScope(rule.scope, true, defined, field(`rateLimits.${index}.scope`));
  });
  (config.semantic.keys ?? []).forEach((key, index) => {
    checkName('key', key, defined, field(`semantic.keys.${index}`), false);
  });
  const embedder = config.semantic.embedder;
  if (embedder !== undefined && embedder !== 'local') {
    checkName('provider', embedder.provider, defined, field('semantic.embedder.provider'), false);
  }
  config.keys.forEach((key, index) => {
    (key.models ?? []).forEach((model, modelIndex) => {
      if (model === '*') return;
      checkName('model', model, defined, field(`keys.${index}.models.${modelIndex}`), true);
    });
  });
  for (const [alias, definition] of Object.entries(config.routing.aliases ?? {})) {
    if (definition.baseline !== undefined) {
      checkName(
        'model',
        definition.baseline,
        defined,
        field(`routing.aliases.${alias}.baseline`),
        false,
      );
    }
  }
}

/**
 * A scope: `global`, or `KIND:NAME` naming something defined. Rate limits also take `KIND:*`
 * (one limit per key, model or tag); budgets take no wildcard.
 */
function checkScope(scope: string, wildcards: boolean, defined: Defined, at: string): void {
  if (scope === 'global') return;
  const separator = scope.indexOf(':');
  const kind = scope.slice(0, separator) as Kind;
  const name = scope.slice(separator + 1);
  if (name === '*') {
    if (wildcards) return;
    throw new ConfigError(
      `${at}: '${scope}': a budget takes no wildcard; write one budget per ${kind}, or use 'global'`,
    );
  }
  if (kind === 'model' && defined.aliases.has(name)) {
    throw new ConfigError(
      `${at}: '${scope}' names a routing alias; requests are counted against the model it resolves to, so scope each of its candidates`,
    );
  }
  checkName(kind, name, defined, at, false, `${kind}:`);
}

/** Throws unless `name` is defined as `kind` (or, where `aliasAllowed`, is an alias). */
function checkName(
  kind: Kind,
  name: string,
  defined: Defined,
  at: string,
  aliasAllowed: boolean,
  prefix = '',
): void {
  const names = defined[kind];
  if (names.has(name) || ((kind === 'key' || kind === 'tag') && !defined.callers)) return;
  if (kind === 'model' && (defined.wildcard || (aliasAllowed && defined.aliases.has(name)))) {
    return;
  }
  const candidates = kind === 'model' && aliasAllowed ? [...names, ...defined.aliases] : [...names];
  const closest = closestName(name, candidates);
  const what = KIND_NAMES[kind];
  const known =
    candidates.length === 0
      ? `no ${what.plural} are configured`
      : `${what.plural}: ${candidates.slice(0, LISTED).join(', ')}${candidates.length > LISTED ? `, and ${candidates.length - LISTED} more` : ''}`;
  throw new ConfigError(
    `${at}: '${prefix}${name}' names no configured ${what.singular}${closest === undefined ? '' : `; did you mean '${prefix}${closest}'?`} (${known})`,
  );
}

const KIND_NAMES: Readonly<Record<Kind, { singular: string; plural: string }>> = {
  key: { singular: 'key (keys[].name)', plural: 'keys' },
  model: { singular: 'model (models[].name)', plural: 'models' },
  provider: { singular: 'provider (providers[].name)', plural: 'providers' },
  tag: { singular: 'tag (keys[].tags)', plural: 'tags' },
};
