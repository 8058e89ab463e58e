import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App, matchRoute, routes } from './app/App';
import { AppProvider, makeQueryClient } from './app/provider';
import { prefetchOverview } from './features/overview/Overview';
import './app/styles.css';

/**
 * Most visits open the overview. Its requests start now, and the first
 * render waits for them a little (the static shell in index.html is already
 * on screen): on a normal day they answer within that time and the page
 * appears with its numbers, instead of placeholders and a second render.
 */
const FIRST_RENDER_WAIT_MS = 250;

const client = makeQueryClient();
const ready =
  matchRoute(window.location.pathname) === routes[0]
    ? Promise.race([prefetchOverview(client, new URLSearchParams(window.location.search)), new Promise((r) => setTimeout(r, FIRST_RENDER_WAIT_MS))])
    : Promise.resolve();

void ready.then(() =>
  createRoot(document.getElementById('root')!).render(
    <StrictMode>
      <AppProvider client={client}>
        <App />
      </AppProvider>
    </StrictMode>,
  ),
);
