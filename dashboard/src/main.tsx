import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App, matchRoute, routes } from './app/App';
import { AuthGate } from './app/AuthGate';
import { AppProvider, makeQueryClient } from './app/provider';
import { createBrowserSession } from './features/auth/session';
import { prefetchOverview } from './features/overview/Overview';
import './app/styles.css';

/**
 * Most visits open the overview. Its requests start now, with the key of
 * this browser session if there is one (checked with /v1/whoami at the same
 * time), and the first render waits for them a little (the static shell in
 * index.html is already on screen): on a normal day they answer within that
 * time and the page appears with its numbers, instead of placeholders and a
 * second render.
 */
const FIRST_RENDER_WAIT_MS = 250;

const session = createBrowserSession();
const checked = session.start();

const client = makeQueryClient();
const overview =
  matchRoute(window.location.pathname) === routes[0] ? prefetchOverview(client, new URLSearchParams(window.location.search)) : Promise.resolve();
const ready = Promise.race([Promise.all([checked, overview]), new Promise((r) => setTimeout(r, FIRST_RENDER_WAIT_MS))]);

void ready.then(() =>
  createRoot(document.getElementById('root')!).render(
    <StrictMode>
      <AppProvider client={client} session={session}>
        <AuthGate>
          <App />
        </AuthGate>
      </AppProvider>
    </StrictMode>,
  ),
);
