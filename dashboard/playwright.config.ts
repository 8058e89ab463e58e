// Browser tests (Playwright's runner, Debian's Chromium — `npx playwright
// install` cannot work here). Projects:
//   stack  the product through the UI; against DASHBOARD_URL when set (a real
//          stack, as scripts/test-integration.sh runs it), else the mock.
//   perf   first-paint budget on `vite preview` (npm run perf).
// Without DASHBOARD_URL, the mock backend and a production build served by
// `vite preview` start on E2E_MOCK_PORT (47310) and the three ports after it;
// the preview server adds the mock's dashboard key to keyless requests, as
// the local stack's does with its own (so the views need no sign-in).
import { defineConfig } from '@playwright/test';
import { MOCK_KEYS } from './e2e/mock-keys.mjs';

const MOCK_PORT = Number(process.env.E2E_MOCK_PORT || 47310);
const mockUrl = `http://127.0.0.1:${MOCK_PORT}`;
const mockPorts = { ingest: MOCK_PORT + 1, query: MOCK_PORT + 2, admin: MOCK_PORT + 3 };
const stackUrl = process.env.DASHBOARD_URL?.replace(/\/$/, '');
const timeout = Number(process.env.E2E_TIMEOUT_MS || 30_000);

export default defineConfig({
  outputDir: 'test-results',
  timeout: 4 * timeout,
  expect: { timeout },
  // Tests read global counters (the reconciliation line): one at a time.
  workers: 1,
  fullyParallel: false,
  forbidOnly: Boolean(process.env.CI),
  reporter: [['list']],
  use: {
    browserName: 'chromium',
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    },
    locale: 'en-US',
    // Not UTC, so the display zone (UTC by default) is shown to differ from the browser's.
    timezoneId: 'Europe/Berlin',
    viewport: { width: 1366, height: 900 },
    screenshot: 'only-on-failure',
    trace: 'retain-on-failure',
    acceptDownloads: true,
  },
  projects: [
    { name: 'stack', testDir: 'e2e/stack', use: { baseURL: stackUrl ?? mockUrl } },
    // No tracing while timing.
    { name: 'perf', testDir: 'e2e/perf', use: { baseURL: mockUrl, trace: 'off' } },
  ],
  webServer: stackUrl ? [] : [
    {
      command: 'node e2e/mock-backend.mjs',
      env: {
        MOCK_INGESTOR_PORT: String(mockPorts.ingest),
        MOCK_QUERYAPI_PORT: String(mockPorts.query),
        MOCK_ADMIN_PORT: String(mockPorts.admin),
      },
      url: `http://127.0.0.1:${mockPorts.admin}/healthz`,
      reuseExistingServer: false,
      stdout: 'ignore',
    },
    {
      // Its own build directory, so a stack serving dist/ is never disturbed.
      command: `npx vite build --outDir dist-e2e --emptyOutDir --logLevel warn && npx vite preview --outDir dist-e2e --port ${MOCK_PORT} --strictPort`,
      env: {
        TALLY_INGESTOR_URL: `http://127.0.0.1:${mockPorts.ingest}`,
        TALLY_QUERYAPI_URL: `http://127.0.0.1:${mockPorts.query}`,
        TALLY_PROCESSOR_ADMIN_URL: `http://127.0.0.1:${mockPorts.admin}`,
        TALLY_DASHBOARD_KEY: MOCK_KEYS.dashboard,
      },
      url: mockUrl,
      timeout: 180_000,
      reuseExistingServer: false,
      stdout: 'ignore',
    },
  ],
});
