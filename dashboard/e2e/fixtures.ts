// Shared fixtures and helpers for the browser tests. Every test fails on any
// console error or uncaught page error, as a user would see a broken page —
// except the browser's own log line for a 503 answer: that is the API's
// documented "dependency unavailable, retry" status, which the UI shows as
// an error state and retries, so it says nothing about the UI. Tests that
// provoke other answers on purpose (a wrong key: 401) add their statuses
// with `test.use({ expectedHttpErrors: [...] })`.
import { expect, test as base, type APIRequestContext, type Download, type Page } from '@playwright/test';
import AxeBuilder from '@axe-core/playwright';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { MOCK_KEYS } from './mock-keys.mjs';

export { expect };

export const test = base.extend<{ consoleErrors: string[]; expectedHttpErrors: number[] }>({
  expectedHttpErrors: [[503], { option: true }],
  consoleErrors: [
    async ({ context, expectedHttpErrors }, use) => {
      const errors: string[] = [];
      const expected = new RegExp(`^Failed to load resource: .* status of (${expectedHttpErrors.join('|')})\\b`);
      context.on('console', (msg) => {
        if (msg.type() !== 'error' || expected.test(msg.text())) return;
        errors.push(`console.error: ${msg.text()} (${msg.location().url || 'no url'})`);
      });
      context.on('weberror', (err) => errors.push(`page error: ${err.error().message}`));
      await use(errors);
      expect(errors, 'console errors during the test').toEqual([]);
    },
    { auto: true },
  ],
});

/**
 * An admin key of the backend under test: E2E_ADMIN_KEY, else the stack's
 * admin.key (TALLY_TEST_STACK_DIR, as scripts/test-integration.sh sets it,
 * or STACK_DIR), else the mock's.
 */
export function adminKey(): string {
  if (process.env.E2E_ADMIN_KEY) return process.env.E2E_ADMIN_KEY.trim();
  if (!process.env.DASHBOARD_URL) return MOCK_KEYS.admin;
  const dir = process.env.TALLY_TEST_STACK_DIR || process.env.STACK_DIR;
  if (!dir) throw new Error('against a stack (DASHBOARD_URL), set E2E_ADMIN_KEY or TALLY_TEST_STACK_DIR/STACK_DIR (its admin.key)');
  return readFileSync(join(dir, 'admin.key'), 'utf8').trim();
}

export interface CreatedKey {
  id: string;
  key: string;
  tenant: string;
  scopes: string[];
}

/** Creates a key through the dashboard's /query proxy with the admin key (the proxy adds none then). */
export async function createKey(request: APIRequestContext, body: { tenant: string; scopes: string[]; name?: string }): Promise<CreatedKey> {
  const response = await request.post('/query/v1/admin/keys', { data: body, headers: { Authorization: `Bearer ${adminKey()}` } });
  expect(response.status(), await response.text()).toBe(201);
  return (await response.json()) as CreatedKey;
}

export async function revokeKey(request: APIRequestContext, id: string) {
  const response = await request.delete(`/query/v1/admin/keys/${encodeURIComponent(id)}`, { headers: { Authorization: `Bearer ${adminKey()}` } });
  expect(response.status(), await response.text()).toBe(200);
}

/** The status of GET /v1/whoami with key. */
export async function whoamiStatus(request: APIRequestContext, key: string): Promise<number> {
  return (await request.get('/query/v1/whoami', { headers: { Authorization: `Bearer ${key}` } })).status();
}

/** A run-unique name, so tests on a shared stack only see their own events. */
export function unique(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`;
}

export interface RawEventBody {
  clientId: string;
  metric: string;
  amount: string | number;
  timestamp: string;
}

/** Sends events through the dashboard's /ingest proxy, as a producer would. */
export async function ingest(request: APIRequestContext, events: RawEventBody[]) {
  const response = await request.post('/ingest/v1/events', { data: events });
  expect(response.status(), await response.text()).toBe(202);
  const body = (await response.json()) as { accepted: number; results: { eventId?: string }[] };
  expect(body.accepted).toBe(events.length);
  return body.results.map((r) => r.eventId!);
}

export const ago = (ms: number) => new Date(Date.now() - ms).toISOString();
export const MINUTE = 60_000;
export const HOUR = 3_600_000;
export const DAY = 86_400_000;

/** A number shown on the page, without its grouping. */
export async function numberIn(page: Page, testId: string): Promise<number> {
  const text = (await page.getByTestId(testId).first().textContent()) ?? '';
  return Number(text.replace(/[^0-9.-]/g, ''));
}

/** Parses RFC 4180 CSV (quoted fields, doubled quotes, CRLF). */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      row.push(field);
      field = '';
    } else if (c === '\r' && text[i + 1] === '\n') {
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
      i++;
    } else field += c;
  }
  if (field !== '' || row.length) rows.push([...row, field]);
  return rows;
}

export async function downloaded(download: Download): Promise<string> {
  return readFile((await download.path())!, 'utf8');
}

/** Runs axe (WCAG 2.1 A/AA) and fails on serious or critical violations, listing them. */
export async function expectAccessible(page: Page, what: string) {
  const result = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']).analyze();
  const bad = result.violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.impact} ${v.id}: ${v.help} — ${v.nodes.map((n) => n.target.join(' ')).slice(0, 5).join(' | ')}`);
  expect(bad, `axe violations on ${what}`).toEqual([]);
}
