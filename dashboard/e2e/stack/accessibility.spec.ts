// Every page passes an axe scan (WCAG 2.1 A/AA) with no serious or critical
// violation, in light and dark, on a desktop and on a 390 px wide phone,
// where nothing may scroll sideways but the tables inside their frames.
import type { Page } from '@playwright/test';
import { ago, expect, expectAccessible, HOUR, ingest, test, unique } from '../fixtures';

const pages: { name: string; url: string; ready: (page: Page) => Promise<void> }[] = [
  { name: 'overview', url: '/?range=30d', ready: async (p) => expect(p.getByTestId('top-client').first()).toBeVisible() },
  { name: 'aggregations', url: '/aggregations?range=30d', ready: async (p) => expect(p.getByTestId('series-chart')).toBeVisible() },
  {
    name: 'events with an event open',
    url: '/events?range=all&status=processed',
    ready: async (p) => {
      await p.getByTestId('event-row').first().getByRole('button').click();
      await expect(p.getByRole('article').getByTestId('duplicate-count')).toBeVisible();
    },
  },
  { name: 'pipeline health', url: '/health', ready: async (p) => expect(p.getByTestId('dlq-size')).toBeVisible() },
  { name: 'submit events', url: '/dev/submit', ready: async (p) => expect(p.getByLabel('Event JSON')).toBeVisible() },
  { name: 'failure lab', url: '/dev/lab', ready: async (p) => expect(p.getByTestId('processor-retries')).toBeVisible() },
  { name: 'API keys', url: '/keys', ready: async (p) => expect(p.getByTestId('keys-table')).toBeVisible() },
  { name: 'sign in', url: '/sign-in', ready: async (p) => expect(p.getByLabel('API key')).toBeVisible() },
  { name: 'not found', url: '/no-such-view', ready: async (p) => expect(p.getByRole('heading', { name: 'Page not found' })).toBeVisible() },
];

test.beforeAll(async ({ request }) => {
  const client = unique('a11y');
  await ingest(request, [
    { clientId: client, metric: 'a11y', amount: '1.5', timestamp: ago(HOUR) },
    { clientId: client, metric: 'a11y', amount: '2.25', timestamp: ago(2 * HOUR) },
  ]);
});

for (const scheme of ['light', 'dark'] as const) {
  for (const width of [1366, 390]) {
    test(`every page is accessible (${scheme}, ${width} px)`, async ({ page }) => {
      // Nine pages with an axe scan each: more than one test's usual time on a busy machine.
      test.slow();
      await page.emulateMedia({ colorScheme: scheme });
      await page.setViewportSize({ width, height: 900 });
      for (const p of pages) {
        await test.step(p.name, async () => {
          await page.goto(p.url);
          await p.ready(page);
          await expectAccessible(page, `${p.name} (${scheme}, ${width} px)`);
          const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
          expect(overflow, `${p.name} scrolls sideways by ${overflow} px`).toBeLessThanOrEqual(0);
        });
      }
    });
  }
}
