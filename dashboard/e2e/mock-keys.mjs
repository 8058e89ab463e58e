// The API keys the mock backend (mock-backend.mjs) starts with, shared with
// the browser tests and the Playwright config (the preview server's key).
export const MOCK_KEYS = {
  /** admin, tenant default */
  admin: 'tly_mock_admin_0000000000000000',
  /** admin, tenant default: the dashboard server's own (TALLY_DASHBOARD_KEY), as the local stack's */
  dashboard: 'tly_mock_dashboard_00000000000000',
  /** ingest+query, tenant default */
  default: 'tly_mock_default_000000000000000',
};
