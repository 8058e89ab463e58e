import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App, matchRoute, routes } from './app/App';
import { AppProvider, makeQueryClient } from './app/provider';
import { prefetchOverview } from './features/overview/Overview';
import './app/styles.css';

const client = makeQueryClient();
// The overview is what most visits open: start its requests now, while React mounts.
if (matchRoute(window.location.pathname) === routes[0]) prefetchOverview(client, new URLSearchParams(window.location.search));

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <AppProvider client={client}>
      <App />
    </AppProvider>
  </StrictMode>,
);
