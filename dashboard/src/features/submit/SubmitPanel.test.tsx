import { screen, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it } from 'vitest';
import { json, mockFetch } from '../../testing/fetch-mock';
import { renderWithProviders, stats } from '../../testing/render';
import { SubmitPanel } from './SubmitPanel';

const ID_A = 'a'.repeat(64);
const ID_B = 'b'.repeat(64);

function editor() {
  return screen.getByLabelText(/event json/i) as HTMLTextAreaElement;
}

describe('SubmitPanel', () => {
  it('preloads the nested seed example and switches examples', async () => {
    mockFetch({ 'GET /query/v1/stats': stats() });
    renderWithProviders(<SubmitPanel />);
    expect(JSON.parse(editor().value)).toEqual({
      source: 'client_A',
      payload: { metric: 'purchase', amount: '1200', timestamp: '2024/01/01' },
    });
    await userEvent.click(screen.getByRole('button', { name: 'Flat' }));
    expect(JSON.parse(editor().value)).toMatchObject({ client_id: 'client_B', event_type: 'click', value: 500 });
    await userEvent.click(screen.getByRole('button', { name: 'Failure' }));
    expect(screen.getByRole('switch', { name: /simulate failure/i })).toBeChecked();
  });

  it('posts the editor body and renders accepted and rejected results with their codes', async () => {
    const api = mockFetch({
      'GET /query/v1/stats': stats(),
      'POST /ingest/v1/events': () =>
        json(202, {
          accepted: 1,
          rejected: 1,
          results: [
            { index: 0, eventId: ID_A, status: 'accepted', duplicate: false },
            { index: 1, status: 'rejected', error: { code: 'amount_invalid', message: 'amount "twelve" is not a number', field: 'amount' } },
          ],
        }),
    });
    renderWithProviders(<SubmitPanel />);
    await userEvent.click(screen.getByRole('button', { name: 'Batch' }));
    await userEvent.click(screen.getByRole('button', { name: 'Send' }));

    const rows = await screen.findAllByTestId('ingest-result');
    expect(rows).toHaveLength(2);
    expect(within(rows[0]!).getByText('accepted')).toBeInTheDocument();
    expect(within(rows[0]!).getByText(ID_A)).toBeInTheDocument();
    expect(within(rows[1]!).getByText('rejected')).toBeInTheDocument();
    expect(within(rows[1]!).getByText('amount_invalid')).toBeInTheDocument();
    expect(rows[1]).toHaveTextContent('amount "twelve" is not a number');
    expect(screen.getByText('1 accepted')).toBeInTheDocument();

    const [post] = api.to('POST', '/ingest/v1/events');
    expect(post!.url.searchParams.has('simulateFailure')).toBe(false);
    expect(JSON.parse(post!.body)).toHaveLength(2);
  });

  it('sends simulateFailure=true when the switch is on, the Idempotency-Key header and asks for the duplicate hint', async () => {
    const api = mockFetch({
      'GET /query/v1/stats': stats(),
      'POST /ingest/v1/events': () =>
        json(202, { accepted: 1, rejected: 0, results: [{ index: 0, eventId: ID_A, status: 'accepted', duplicate: false }] }),
    });
    renderWithProviders(<SubmitPanel />);
    await userEvent.click(screen.getByRole('switch', { name: /simulate failure/i }));
    await userEvent.type(screen.getByLabelText(/idempotency-key/i), 'order-17');
    await userEvent.click(screen.getByRole('button', { name: 'Send' }));
    await screen.findByTestId('ingest-result');
    const [post] = api.to('POST', '/ingest/v1/events');
    expect(post!.url.searchParams.get('simulateFailure')).toBe('true');
    expect(post!.headers.get('Idempotency-Key')).toBe('order-17');
    expect(post!.headers.get('Prefer')).toBe('duplicate-hint');
  });

  it('hints duplicates: server flag, repeated id in one batch, and a resend', async () => {
    let call = 0;
    mockFetch({
      'GET /query/v1/stats': stats(),
      'POST /ingest/v1/events': () => {
        call++;
        if (call === 1)
          return json(202, {
            accepted: 2,
            rejected: 0,
            results: [
              { index: 0, eventId: ID_A, status: 'accepted', duplicate: false },
              { index: 1, eventId: ID_A, status: 'accepted', duplicate: false },
            ],
          });
        return json(202, {
          accepted: 2,
          rejected: 0,
          results: [
            { index: 0, eventId: ID_A, status: 'accepted', duplicate: false },
            { index: 1, eventId: ID_B, status: 'accepted', duplicate: true },
          ],
        });
      },
    });
    renderWithProviders(<SubmitPanel />);
    await userEvent.click(screen.getByRole('button', { name: 'Duplicate' }));
    await userEvent.click(screen.getByRole('button', { name: 'Send' }));
    let rows = await screen.findAllByTestId('ingest-result');
    expect(rows[0]).toHaveTextContent('new');
    expect(rows[1]).toHaveTextContent('duplicate: same event as #0');

    await userEvent.click(screen.getByRole('button', { name: 'Send' }));
    await screen.findByText('duplicate: already seen by the pipeline');
    rows = screen.getAllByTestId('ingest-result');
    expect(rows[0]).toHaveTextContent('duplicate: sent before in this session');
  });

  it('shows a 503 error body with its code and Retry-After', async () => {
    mockFetch({
      'GET /query/v1/stats': stats(),
      'POST /ingest/v1/events': () =>
        json(503, { error: { code: 'kafka_unavailable', message: 'Kafka did not acknowledge' } }, { 'Retry-After': '5' }),
    });
    renderWithProviders(<SubmitPanel />);
    await userEvent.click(screen.getByRole('button', { name: 'Send' }));
    const alert = await screen.findByRole('alert');
    expect(alert).toHaveTextContent('Ingest failed');
    expect(alert).toHaveTextContent('HTTP 503');
    expect(alert).toHaveTextContent('kafka_unavailable');
    expect(alert).toHaveTextContent('Kafka did not acknowledge');
    expect(alert).toHaveTextContent('Retry after 5 s');
  });

  it('shows a 403 for simulateFailure when fault injection is off', async () => {
    mockFetch({
      'GET /query/v1/stats': stats(),
      'POST /ingest/v1/events': () => json(403, { error: { code: 'fault_injection_disabled', message: 'simulateFailure needs TALLY_FAULT_INJECTION=true' } }),
    });
    renderWithProviders(<SubmitPanel />);
    await userEvent.click(screen.getByRole('button', { name: 'Failure' }));
    await userEvent.click(screen.getByRole('button', { name: 'Send' }));
    expect(await screen.findByRole('alert')).toHaveTextContent('fault_injection_disabled');
  });

  it('refuses invalid JSON locally without calling the API', async () => {
    const api = mockFetch({ 'GET /query/v1/stats': stats() });
    renderWithProviders(<SubmitPanel />);
    await userEvent.clear(editor());
    await userEvent.type(editor(), '{{"broken"');
    await userEvent.click(screen.getByRole('button', { name: 'Send' }));
    expect(await screen.findByRole('alert')).toHaveTextContent(/not valid json/i);
    expect(editor()).toHaveAttribute('aria-invalid', 'true');
    expect(api.to('POST', '/ingest/v1/events')).toHaveLength(0);
  });
});
