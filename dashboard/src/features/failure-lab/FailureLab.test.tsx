import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it } from 'vitest';
import { json, mockFetch } from '../../testing/fetch-mock';
import { renderWithProviders, stats } from '../../testing/render';
import { reconcile } from '../../lib/live-stats';
import { FailureLab } from './FailureLab';

const okFaults = {
  clickhouse: { mode: 'ok', slowMs: 0, until: null },
  redis: { mode: 'ok', until: null },
};
const status = { ready: true, assignedPartitions: [0, 1, 2], retries: 4, lastError: '', batches: 17 };

describe('reconcile', () => {
  it('adds every bucket; in-flight records are already inside the table counts', () => {
    expect(reconcile(stats({ inFlight: 1 }))).toEqual({ accounted: 10, difference: 0, reconciled: true });
    expect(reconcile(stats({ received: 11, inFlight: 1 }))).toMatchObject({ difference: 1, reconciled: false });
    expect(reconcile(stats({ received: 13 }))).toMatchObject({ difference: 3, reconciled: false });
  });
  it('trusts neither side alone: equal sums but reconciled=false from the server is not reconciled', () => {
    expect(reconcile(stats({ reconciled: false })).reconciled).toBe(false);
  });
});

describe('FailureLab', () => {
  it('shows the reconciliation line with a "reconciled" badge when the numbers add up', async () => {
    mockFetch({ 'GET /query/v1/stats': stats(), 'GET /admin/v1/faults': okFaults, 'GET /admin/v1/status': status });
    renderWithProviders(<FailureLab />);
    const line = await screen.findByLabelText('Reconciliation');
    expect(within(line).getByTestId('stat-received')).toHaveTextContent('10');
    expect(within(line).getByTestId('stat-processed')).toHaveTextContent('6');
    expect(within(line).getByTestId('stat-dead-lettered')).toHaveTextContent('1');
    expect(within(line).getByTestId('recon-badge')).toHaveTextContent(/^reconciled$/);
    expect(await screen.findByTestId('processor-retries')).toHaveTextContent('4');
    expect(screen.getByText('0, 1, 2')).toBeInTheDocument();
  });

  it('flips the badge to "not reconciled" when the numbers do not add up', async () => {
    mockFetch({
      'GET /query/v1/stats': stats({ received: 13 }),
      'GET /admin/v1/faults': okFaults,
      'GET /admin/v1/status': status,
    });
    renderWithProviders(<FailureLab />);
    const line = await screen.findByLabelText('Reconciliation');
    expect(within(line).getByTestId('recon-badge')).toHaveTextContent('not reconciled');
    expect(line).toHaveTextContent('off by 3');
  });

  it('puts a ClickHouse failure with a duration and shows the new state', async () => {
    const api = mockFetch({
      'GET /query/v1/stats': stats(),
      'GET /admin/v1/status': status,
      'GET /admin/v1/faults': okFaults,
      'PUT /admin/v1/faults': () =>
        json(200, { ...okFaults, clickhouse: { mode: 'fail', slowMs: 0, until: '2024-01-01T00:00:30.000Z' } }),
    });
    renderWithProviders(<FailureLab />);
    const form = await screen.findByRole('form', { name: 'ClickHouse fault' });
    await userEvent.click(within(form).getByRole('radio', { name: 'fail' }));
    const duration = within(form).getByLabelText(/duration/i);
    await userEvent.clear(duration);
    await userEvent.type(duration, '45');
    await userEvent.click(within(form).getByRole('button', { name: /apply clickhouse/i }));

    await waitFor(() => expect(screen.getByTestId('fault-clickhouse')).toHaveTextContent('fail'));
    const [put] = api.to('PUT', '/admin/v1/faults');
    expect(JSON.parse(put!.body)).toEqual({ target: 'clickhouse', mode: 'fail', durationSeconds: 45 });
  });

  it('sends slowMs for slow mode and clears all faults with DELETE', async () => {
    const api = mockFetch({
      'GET /query/v1/stats': stats(),
      'GET /admin/v1/status': status,
      'GET /admin/v1/faults': okFaults,
      'PUT /admin/v1/faults': () => json(200, { ...okFaults, clickhouse: { mode: 'slow', slowMs: 800, until: null } }),
      'DELETE /admin/v1/faults': () => json(200, okFaults),
    });
    renderWithProviders(<FailureLab />);
    const form = await screen.findByRole('form', { name: 'ClickHouse fault' });
    await userEvent.click(within(form).getByRole('radio', { name: 'slow' }));
    const slow = within(form).getByLabelText(/slow \(ms\)/i);
    await userEvent.clear(slow);
    await userEvent.type(slow, '800');
    await userEvent.click(within(form).getByRole('button', { name: /apply clickhouse/i }));
    await waitFor(() => expect(screen.getByTestId('fault-clickhouse')).toHaveTextContent('slow'));
    expect(JSON.parse(api.to('PUT', '/admin/v1/faults')[0]!.body)).toMatchObject({ mode: 'slow', slowMs: 800 });

    await userEvent.click(screen.getByRole('button', { name: /clear all faults/i }));
    await waitFor(() => expect(screen.getByTestId('fault-clickhouse')).toHaveTextContent('ok'));
    expect(api.to('DELETE', '/admin/v1/faults')).toHaveLength(1);
  });

  it('explains a 403 from the switchboard instead of showing toggles', async () => {
    mockFetch({
      'GET /query/v1/stats': stats(),
      'GET /admin/v1/status': status,
      'GET /admin/v1/faults': () => json(403, { error: { code: 'fault_injection_disabled', message: 'disabled' } }),
    });
    renderWithProviders(<FailureLab />);
    expect(await screen.findByText(/fault injection is disabled/i)).toBeInTheDocument();
    expect(screen.queryByRole('form', { name: 'ClickHouse fault' })).not.toBeInTheDocument();
  });
});
