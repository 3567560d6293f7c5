import { chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GatewayConfigFile } from '../../src/gateway/index.js';
import { browserAvailable, CHROMIUM_ARGS, CHROMIUM_PATH } from '../helpers/browser.js';
import { type MockGateway, startMockGateway } from '../helpers/gateway.js';

const KEY = 'dashboard-team-key-0123';
const ADMIN_KEY = 'dashboard-admin-key-0123';
/** A model name a client chose, which the page must show as text and never run. */
const HOSTILE_MODEL = '<img src=x onerror="window.__pwned=1">';

const running: MockGateway[] = [];

afterAll(async () => {
  for (const gateway of running) await gateway.close();
});

async function start(extra: Partial<GatewayConfigFile>): Promise<string> {
  const started = await startMockGateway([{ name: '*', provider: 'mock' }], {
    budgets: [{ scope: 'global', window: 'daily', limitUsd: '5' }],
    ...extra,
  });
  running.push(started);
  return started.url;
}

const ask = (url: string, model: string, content: string, key = KEY) =>
  fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model, messages: [{ role: 'user', content }] }),
  }).then(async (response) => {
    await response.text();
    return response;
  });

const data = (url: string, key?: string) =>
  fetch(`${url}/dashboard/data`, {
    headers: key === undefined ? {} : { authorization: `Bearer ${key}` },
  });

describe('the dashboard (keys and an admin key)', () => {
  let url: string;
  beforeAll(async () => {
    url = await start({ keys: [{ name: 'team', key: KEY }], admin: { key: ADMIN_KEY } });
  });

  it('serves its page to anyone, under a policy that runs only its own script', async () => {
    const page = await fetch(`${url}/dashboard`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    const policy = page.headers.get('content-security-policy') ?? '';
    expect(policy).toContain("script-src 'self'");
    expect(policy).toContain("default-src 'none'");
    expect(await page.text()).toContain('/dashboard/app.js');
    const script = await fetch(`${url}/dashboard/app.js`);
    expect(script.headers.get('content-type')).toMatch(/^text\/javascript/);
    expect((await fetch(`${url}/dashboard/app.css`)).status).toBe(200);
  });

  it('gives its data only for the admin key', async () => {
    expect((await data(url)).status).toBe(401);
    expect((await data(url, KEY)).status).toBe(401);
    expect((await data(url, ADMIN_KEY)).status).toBe(200);
  });

  it('counts model traffic (not its own polling) and shows spend, budgets and cache tiers', async () => {
    await ask(url, 'gpt-4o-mini', 'What does the dashboard count?');
    await ask(url, 'gpt-4o-mini', 'What does the dashboard count?');
    await ask(url, 'gpt-4o-mini', 'And without a key?', 'not-a-key-000000000');
    for (let index = 0; index < 3; index++) await data(url, ADMIN_KEY);
    const body = (await (await data(url, ADMIN_KEY)).json()) as {
      activity: {
        totals: Record<string, number>;
        series: { requests: number }[];
        models: { model: string; requests: number; hits: number }[];
      };
      spend: { today: { costUsd: string; requests: number } };
      budgets: { scope: string; limitUsd: string }[];
      cache: { tiers: { name: string; entries: number }[] };
    };
    expect(body.activity.totals).toMatchObject({
      requests: 3,
      hits: 1,
      misses: 1,
      clientErrors: 1,
    });
    expect(body.activity.series.reduce((sum, point) => sum + point.requests, 0)).toBe(3);
    expect(body.activity.models.find((model) => model.model === 'gpt-4o-mini')).toMatchObject({
      requests: 2,
      hits: 1,
    });
    expect(Number(body.spend.today.costUsd)).toBeGreaterThan(0);
    expect(body.budgets).toEqual([
      expect.objectContaining({ scope: 'global', limitUsd: '5.000000000' }),
    ]);
    expect(body.cache.tiers[0]).toMatchObject({ name: 'l1', entries: 1 });
  });
});

describe('the dashboard without an admin key', () => {
  it('is open on a gateway that runs open (loopback, no keys)', async () => {
    const url = await start({});
    expect((await data(url)).status).toBe(200);
  });

  it('is disabled, like the admin API, on a gateway with keys', async () => {
    const url = await start({ keys: [{ name: 'team', key: KEY }] });
    const response = await data(url, KEY);
    expect(response.status).toBe(404);
    expect(await response.json()).toMatchObject({ error: { code: 'admin_disabled' } });
  });
});

describe.skipIf(!browserAvailable())('the dashboard in a browser', () => {
  it('asks for the admin key, then shows live figures, and model names only as text', async () => {
    const url = await start({ keys: [{ name: 'team', key: KEY }], admin: { key: ADMIN_KEY } });
    await ask(url, 'gpt-4o-mini', 'Shown in a browser?');
    await ask(url, 'gpt-4o-mini', 'Shown in a browser?');
    await ask(url, HOSTILE_MODEL, 'A client picks the model name.');
    const browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS });
    try {
      const page = await browser.newPage();
      const problems: string[] = [];
      page.on('pageerror', (error) => problems.push(String(error)));
      page.on('console', (message) => {
        if (message.type() === 'error') problems.push(message.text());
      });
      await page.goto(`${url}/dashboard`);
      await page.waitForSelector('#login:not([hidden])');
      await page.fill('#key', 'a-wrong-admin-key-0000');
      await page.click('#login button');
      // A locator, not `waitForFunction`: a string predicate is eval'd in the page while it
      // polls, which the dashboard's CSP (no 'unsafe-eval') refuses whenever the text is not
      // there at the first check.
      await page
        .locator('#login-message', { hasText: /^That key was refused\.$/ })
        .waitFor({ timeout: 10_000 });
      await page.fill('#key', ADMIN_KEY);
      await page.click('#login button');
      await page.waitForSelector('#main:not([hidden])');
      expect(await page.textContent('#t-requests')).toBe('3');
      expect(await page.textContent('#t-hit-ratio')).toBe('33.3 %');
      const models = await page.$$eval('#models tbody tr td:first-child', (cells) =>
        cells.map((cell) => cell.textContent),
      );
      expect(models).toContain(HOSTILE_MODEL);
      expect(
        await page.evaluate(() => (globalThis as { __pwned?: number }).__pwned),
      ).toBeUndefined();
      expect(await page.$$eval('#chart rect', (bars) => bars.length)).toBeGreaterThan(0);
      // The 401 of the wrong key is the only failed load the page may log.
      expect(problems.filter((problem) => !problem.includes('401'))).toEqual([]);
    } finally {
      await browser.close();
    }
  }, 60_000);
});
