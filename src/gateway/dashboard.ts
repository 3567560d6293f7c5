import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { formatUsd } from '../cost/money.js';
import { BudgetWindow } from '../cost/windows.js';
import type { Activity } from '../telemetry/activity.js';
import type { Sluice } from './sluice.js';

type Guard = (request: FastifyRequest, reply: FastifyReply, done: (error?: Error) => void) => void;

/** The page's files, served as they are (`assets/dashboard` in the package). */
const ASSETS = {
  '/dashboard': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/dashboard/app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' },
  '/dashboard/app.css': { file: 'app.css', type: 'text/css; charset=utf-8' },
} as const;

/**
 * The page runs only its own script and style and talks only to this origin: data from
 * clients (model names) can never run as code, even if it reached the page unescaped.
 */
const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self'",
  "img-src 'self' data:",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/** The folder holding the page's files, from `src/gateway` or `dist/src/gateway`. */
function assetFolder(): string {
  let folder = dirname(fileURLToPath(import.meta.url));
  for (let level = 0; level < 5; level++) {
    const candidate = join(folder, 'assets', 'dashboard');
    if (existsSync(join(candidate, 'index.html'))) return candidate;
    folder = dirname(folder);
  }
  throw new Error('the dashboard files (assets/dashboard) are missing from the package');
}

/**
 * `GET /dashboard`: a page of live figures (traffic, hit ratios, latency, spend and savings,
 * budgets, cache tiers) that polls `GET /dashboard/data`. The page holds no data; the data
 * route is guarded like `/admin/*`.
 */
export function registerDashboard(
  app: FastifyInstance,
  sluice: Sluice,
  activity: Activity,
  guard: Guard,
): void {
  const folder = assetFolder();
  for (const [route, asset] of Object.entries(ASSETS)) {
    const body = readFileSync(join(folder, asset.file));
    app.get(route, async (_request, reply) =>
      reply
        .type(asset.type)
        .header('content-security-policy', CONTENT_SECURITY_POLICY)
        .header('x-content-type-options', 'nosniff')
        .header('referrer-policy', 'no-referrer')
        .header('cache-control', 'no-cache')
        .send(body),
    );
  }

  const { cache, accounting, ledger, config, service, semantic, keyRing } = sluice;
  app.get('/dashboard/data', { onRequest: guard }, async (_request, reply) => {
    reply.header('cache-control', 'no-store');
    const now = Date.now();
    const today = new BudgetWindow('daily', config.cost.timeZone).position(now);
    const spend = (from: number) => {
      if (ledger === undefined) return null;
      const summary = ledger.summary('global', from, now + 1);
      return {
        requests: summary.requests,
        hits: summary.hits,
        costUsd: formatUsd(summary.costNanos),
        avoidedUsd: formatUsd(summary.avoidedNanos),
      };
    };
    const budgets = accounting.budgets === undefined ? [] : await accounting.budgets.status();
    const cacheStats = cache?.stats();
    const semanticStats = semantic?.stats();
    const recent = activity.snapshot();
    return {
      now,
      uptimeSeconds: Math.round(process.uptime()),
      open: keyRing.open,
      inFlight: service.inFlight,
      activity: recent,
      spend: { today: spend(today.start), sinceStart: spend(recent.since) },
      budgets: budgets.map((status) => ({
        scope: status.scope,
        window: status.window,
        limitUsd: formatUsd(status.limitNanos),
        spentUsd: formatUsd(status.spentNanos),
        reservedUsd: formatUsd(status.reservedNanos),
        ratio: Number(status.ratio.toFixed(6)),
        resetAt: status.resetAt,
      })),
      cache:
        cacheStats === undefined
          ? null
          : {
              hits: cacheStats.hits,
              staleHits: cacheStats.staleHits,
              misses: cacheStats.misses,
              hitRatio: cacheStats.hitRatio,
              coalesced: cacheStats.singleFlight.coalesced,
              tiers: Object.entries(cacheStats.tiers).map(([name, tier]) => ({
                name,
                kind: 'policy' in tier ? `memory (${tier.policy})` : tier.kind,
                hits: tier.hits,
                misses: tier.misses,
                entries: tier.entries ?? null,
                bytes: tier.bytes ?? null,
                evictions: tier.evictions,
                errors: tier.errors,
              })),
            },
      semantic:
        semanticStats === undefined
          ? null
          : {
              lookups: semanticStats.lookups,
              hits: semanticStats.hits,
              misses: semanticStats.misses,
              entries: semanticStats.entries,
              missesByReason: semanticStats.missesByReason,
              embedErrors: semanticStats.embed.errors,
            },
    };
  });
}
