import { defineConfig, type ProxyOptions } from 'vite';
import react from '@vitejs/plugin-react';

// Same-origin prefixes for the three services (docs/api.md, "Dashboard"):
// the prefix is stripped before forwarding. nginx does the same in containers.
// The local stack gives the dashboard server a key of its own
// (TALLY_DASHBOARD_KEY, from .stack/dashboard.key): it is added to requests
// that carry no key, so `make dev` works without signing in. A key the user
// signs in with always wins. Containers (nginx) add none: users sign in.
const serverKey = process.env.TALLY_DASHBOARD_KEY || '';

function backend(prefix: string, target: string): Record<string, ProxyOptions> {
  return {
    [prefix]: {
      target,
      changeOrigin: true,
      rewrite: (path) => path.slice(prefix.length) || '/',
      // Server-Sent Events (/query/v1/stream) must not be buffered or compressed.
      configure: (proxy) => {
        proxy.on('proxyReq', (req, incoming) => {
          if (serverKey && !incoming.headers.authorization && !incoming.headers['x-api-key']) {
            req.setHeader('X-API-Key', serverKey);
          }
        });
        proxy.on('proxyRes', (res) => {
          if (String(res.headers['content-type'] ?? '').startsWith('text/event-stream')) {
            res.headers['cache-control'] = 'no-cache';
            res.headers['x-accel-buffering'] = 'no';
          }
        });
      },
    },
  };
}

const proxy = {
  ...backend('/ingest', process.env.TALLY_INGESTOR_URL || 'http://127.0.0.1:8080'),
  ...backend('/query', process.env.TALLY_QUERYAPI_URL || 'http://127.0.0.1:8081'),
  ...backend('/admin', process.env.TALLY_PROCESSOR_ADMIN_URL || 'http://127.0.0.1:8082'),
};

export default defineConfig({
  plugins: [react()],
  server: { host: '127.0.0.1', port: 3000, strictPort: true, proxy },
  preview: { host: '127.0.0.1', port: 3000, strictPort: true, proxy },
  build: { target: 'es2022', sourcemap: false, chunkSizeWarningLimit: 300 },
});
