import '@testing-library/jest-dom/vitest';
import { cleanup, configure } from '@testing-library/react';
import { afterEach } from 'vitest';

// Lazy views and the chart chunk load through the module graph; on a busy
// machine that takes more than the 1 s default.
configure({ asyncUtilTimeout: 5000 });

afterEach(() => {
  cleanup();
  // Views read their state from the URL: every test starts at "/".
  window.history.replaceState(null, '', '/');
});
