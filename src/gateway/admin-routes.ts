import { Readable } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ledgerCsvHeader, ledgerCsvLine, type SpendSummary } from '../cost/ledger.js';
import { formatUsd } from '../cost/money.js';
import { BudgetWindow } from '../cost/windows.js';
import { HttpError, invalidRequest } from './errors.js';
import type { Sluice } from './sluice.js';

type Guard = (request: FastifyRequest, reply: FastifyReply, done: (error?: Error) => void) => void;

const NAMESPACE = /^[A-Za-z0-9._-]{1,64}$/;

/** `/admin/*`: cache statistics and clearing, budgets, spend, savings, ledger export. */
export function registerAdminRoutes(app: FastifyInstance, sluice: Sluice, guard: Guard): void {
  const { cache, accounting, ledger, config, service } = sluice;
  app.get('/admin/cache/stats', { onRequest: guard }, async () => {
    if (cache === undefined) return { enabled: false };
    return { enabled: true, inFlight: service.inFlight, ...cache.stats() };
  });

  app.post('/admin/cache/clear', { onRequest: guard }, async (request) => {
    if (cache === undefined) return { cleared: false };
    const namespace = (request.body as { namespace?: unknown } | undefined)?.namespace;
    if (namespace === undefined) {
      await cache.clear();
      return { cleared: true, namespace: null };
    }
    if (typeof namespace !== 'string' || !NAMESPACE.test(namespace)) {
      throw invalidRequest('namespace: expected a namespace name', 'namespace');
    }
    await cache.invalidateTags([`ns:${namespace}`]);
    return { cleared: true, namespace };
  });

  const requireLedger = () => {
    if (ledger === undefined) {
      throw new HttpError(
        404,
        'not_found_error',
        'ledger_disabled',
        'the ledger is disabled (cost.ledger: false)',
      );
    }
    return ledger;
  };

  app.get('/admin/budgets', { onRequest: guard }, async () => {
    const budgets = accounting.budgets;
    if (budgets === undefined) return { store: 'off', budgets: [] };
    const statuses = await budgets.status();
    return {
      store: budgets.storeKind,
      budgets: statuses.map((status) => ({
        scope: status.scope,
        window: status.window,
        limit_usd: formatUsd(status.limitNanos),
        spent_usd: formatUsd(status.spentNanos),
        reserved_usd: formatUsd(status.reservedNanos),
        ratio: Number(status.ratio.toFixed(6)),
        window_start: new Date(status.windowStart).toISOString(),
        reset_at: new Date(status.resetAt).toISOString(),
      })),
    };
  });

  app.get('/admin/spend', { onRequest: guard }, async (request) => {
    const query = request.query as Record<string, string | undefined>;
    const range = timeRange(query, config.cost.timeZone);
    const store = requireLedger();
    const by = query.by;
    if (by !== undefined) {
      if (by !== 'key' && by !== 'model' && by !== 'provider') {
        throw invalidRequest("by: expected 'key', 'model' or 'provider'", 'by');
      }
      return {
        from: new Date(range.from).toISOString(),
        to: new Date(range.to).toISOString(),
        by,
        groups: store
          .grouped(by, range.from, range.to)
          .map((group) => ({ name: group.name, ...summaryJson(group) })),
      };
    }
    const scope = query.scope ?? 'global';
    if (!/^(global|(key|model|provider|tag):[^\s,]{1,128})$/.test(scope)) {
      throw invalidRequest(
        'scope: expected global, key:NAME, model:NAME, provider:NAME or tag:NAME',
        'scope',
      );
    }
    return {
      scope,
      from: new Date(range.from).toISOString(),
      to: new Date(range.to).toISOString(),
      ...summaryJson(store.summary(scope, range.from, range.to)),
    };
  });

  app.get('/admin/savings', { onRequest: guard }, async (request) => {
    const range = timeRange(
      request.query as Record<string, string | undefined>,
      config.cost.timeZone,
    );
    const summary = requireLedger().summary('global', range.from, range.to);
    const spentPlusAvoided = summary.costNanos + summary.avoidedNanos;
    return {
      from: new Date(range.from).toISOString(),
      to: new Date(range.to).toISOString(),
      ...summaryJson(summary),
      hit_ratio: summary.requests === 0 ? 0 : Number((summary.hits / summary.requests).toFixed(6)),
      saved_share:
        spentPlusAvoided === 0 ? 0 : Number((summary.avoidedNanos / spentPlusAvoided).toFixed(6)),
    };
  });

  app.get('/admin/ledger', { onRequest: guard }, async (request, reply) => {
    const query = request.query as Record<string, string | undefined>;
    const range = timeRange(query, config.cost.timeZone);
    const limit = query.limit === undefined ? 10_000 : Number(query.limit);
    if (!Number.isInteger(limit) || limit < 1 || limit > 1_000_000) {
      throw invalidRequest('limit: expected a whole number from 1 to 1000000', 'limit');
    }
    const rows = requireLedger().rows(range.from, range.to, limit);
    if (query.format === 'csv') {
      reply
        .type('text/csv; charset=utf-8')
        .header('content-disposition', 'attachment; filename="sluice-ledger.csv"');
      return Readable.from(
        (function* () {
          yield ledgerCsvHeader();
          for (const row of rows) yield ledgerCsvLine(row);
        })(),
      );
    }
    if (query.format !== undefined && query.format !== 'json') {
      throw invalidRequest("format: expected 'json' or 'csv'", 'format');
    }
    return { object: 'list', data: [...rows] };
  });
}

/** `from`/`to` (ISO dates or epoch ms), or `window=daily|weekly|monthly` (the current one). */
function timeRange(
  query: Record<string, string | undefined>,
  timeZone: string,
): { from: number; to: number } {
  const now = Date.now();
  if (query.window !== undefined) {
    if (!['daily', 'weekly', 'monthly'].includes(query.window)) {
      throw invalidRequest("window: expected 'daily', 'weekly' or 'monthly'", 'window');
    }
    const position = new BudgetWindow(query.window as 'daily', timeZone).position(now);
    return { from: position.start, to: position.reset };
  }
  const instant = (value: string | undefined, name: string, fallback: number): number => {
    if (value === undefined || value === '') return fallback;
    const parsed = /^\d+$/.test(value) ? Number(value) : Date.parse(value);
    if (!Number.isFinite(parsed))
      throw invalidRequest(`${name}: expected an ISO date or epoch milliseconds`, name);
    return parsed;
  };
  const from = instant(query.from, 'from', 0);
  const to = instant(query.to, 'to', now + 1);
  if (to < from) throw invalidRequest('to: must not be before from', 'to');
  return { from, to };
}

function summaryJson(summary: SpendSummary) {
  return {
    requests: summary.requests,
    hits: summary.hits,
    cost_usd: formatUsd(summary.costNanos),
    avoided_usd: formatUsd(summary.avoidedNanos),
  };
}
