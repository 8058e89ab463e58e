import { screen, waitFor } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { afterEach, describe, expect, it } from 'vitest';
import { mockFetch } from '../testing/fetch-mock';
import { renderWithProviders, stats } from '../testing/render';
import { App } from './App';

afterEach(() => window.history.replaceState(null, '', '/'));

describe('App', () => {
  it('keeps the reconciliation line visible on every tab and switches tabs by keyboard', async () => {
    mockFetch({
      'GET /query/v1/stats': stats({ received: 14 }),
      'GET /query/v1/events': { events: [], nextCursor: null },
    });
    renderWithProviders(<App />);
    expect(await screen.findByTestId('recon-badge')).toHaveTextContent('not reconciled');
    expect(screen.getByRole('tab', { name: 'Submit' })).toHaveAttribute('aria-selected', 'true');

    screen.getByRole('tab', { name: 'Submit' }).focus();
    await userEvent.keyboard('{ArrowLeft}');
    expect(screen.getByRole('tab', { name: 'Pipeline health' })).toHaveAttribute('aria-selected', 'true');
    expect(screen.getByRole('tab', { name: 'Pipeline health' })).toHaveFocus();
    await userEvent.keyboard('{ArrowLeft}');
    expect(await screen.findByRole('heading', { name: 'Events explorer' })).toBeInTheDocument();
    expect(window.location.hash).toBe('#/events');
    await waitFor(() => expect(screen.getAllByTestId('recon-badge')[0]).toHaveTextContent('not reconciled'));
  });

  it('opens the tab named in the URL hash', async () => {
    window.history.replaceState(null, '', '/#/aggregations');
    mockFetch({ 'GET /query/v1/stats': stats(), 'GET /query/v1/aggregations': { groups: [], filters: {} } });
    renderWithProviders(<App />);
    expect(await screen.findByRole('heading', { name: 'Aggregations' })).toBeInTheDocument();
  });
});
