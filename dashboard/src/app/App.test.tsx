import { act, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it } from 'vitest';
import { navigate } from '../lib/router';
import { json, mockFetch } from '../testing/fetch-mock';
import { at, renderWithProviders, stats } from '../testing/render';
import { App, matchRoute } from './App';

function backend(faults: 'on' | 'off') {
  return mockFetch({
    'GET /query/v1/stats': stats({ received: 14 }),
    'GET /query/v1/aggregations': { groups: [], filters: {} },
    'GET /query/v1/events': { events: [], nextCursor: null },
    'GET /admin/v1/status': { ready: true, assignedPartitions: [0], retries: 0, lastError: '', batches: 1 },
    'GET /admin/v1/faults': () =>
      faults === 'on'
        ? json(200, { clickhouse: { mode: 'ok', slowMs: 0, until: null }, redis: { mode: 'ok', until: null } })
        : json(403, { error: { code: 'fault_injection_disabled', message: 'off' } }),
  });
}

describe('App', () => {
  it('opens on the overview with the reconciliation line, and navigates by links that keep the view state', async () => {
    at('/?range=7d&tz=Asia%2FTokyo');
    backend('on');
    renderWithProviders(<App />);
    expect(await screen.findByRole('heading', { name: 'Overview' })).toBeInTheDocument();
    expect((await screen.findAllByTestId('recon-badge'))[0]).toHaveTextContent('not reconciled');
    const nav = screen.getByRole('navigation', { name: 'Main' });
    expect(within(nav).getByRole('link', { name: 'Overview' })).toHaveAttribute('aria-current', 'page');
    await waitFor(() => expect(within(nav).getByRole('link', { name: 'Developer tools' })).toBeInTheDocument());

    await userEvent.click(within(nav).getByRole('link', { name: 'Events' }));
    expect(window.location.pathname + window.location.search).toBe('/events?range=7d&tz=Asia%2FTokyo');
    expect(await screen.findByRole('heading', { name: 'Events explorer' })).toBeInTheDocument();
    expect(document.title).toBe('Events · Tally');
    expect(screen.getByRole('main')).toHaveFocus();

    await act(async () => {
      const popped = new Promise((resolve) => window.addEventListener('popstate', resolve, { once: true }));
      window.history.back();
      await popped;
    });
    expect(await screen.findByRole('heading', { name: 'Overview' })).toBeInTheDocument();
  });

  it('hides the developer tools when fault injection is off, and explains at their URL', async () => {
    const api = backend('off');
    renderWithProviders(<App />);
    await screen.findByRole('heading', { name: 'Overview' });
    await waitFor(() => expect(api.to('GET', '/admin/v1/faults')).toHaveLength(1));
    expect(within(screen.getByRole('navigation', { name: 'Main' })).queryByRole('link', { name: 'Developer tools' })).not.toBeInTheDocument();
    act(() => navigate('/dev/submit'));
    expect(await screen.findByText(/Developer tools are off/)).toBeInTheDocument();
  });

  it('shows submit and the failure lab under developer tools', async () => {
    at('/dev/lab');
    backend('on');
    renderWithProviders(<App />);
    expect(await screen.findByRole('heading', { name: 'Failure lab' })).toBeInTheDocument();
    const sub = screen.getByRole('navigation', { name: 'Developer tools' });
    expect(within(sub).getByRole('link', { name: 'Failure lab' })).toHaveAttribute('aria-current', 'page');
    await userEvent.click(within(sub).getByRole('link', { name: 'Submit events' }));
    expect(await screen.findByRole('heading', { name: 'Submit events' })).toBeInTheDocument();
    expect(window.location.pathname).toBe('/dev/submit');
  });

  it('turns links of the tab-based dashboard into paths, and names unknown paths', async () => {
    at('/#/aggregations');
    backend('on');
    renderWithProviders(<App />);
    expect(await screen.findByRole('heading', { name: 'Aggregations' })).toBeInTheDocument();
    expect(window.location.pathname).toBe('/aggregations');

    act(() => navigate('/nope'));
    expect(await screen.findByRole('heading', { name: 'Page not found' })).toBeInTheDocument();
    await userEvent.click(screen.getByRole('link', { name: 'Go to the overview' }));
    expect(await screen.findByRole('heading', { name: 'Overview' })).toBeInTheDocument();
  });

  it('matches routes by path prefix', () => {
    expect(matchRoute('/')?.label).toBe('Overview');
    expect(matchRoute('/events/')?.label).toBe('Events');
    expect(matchRoute('/dev/lab')?.label).toBe('Developer tools');
    expect(matchRoute('/eventsx')).toBeUndefined();
  });
});
