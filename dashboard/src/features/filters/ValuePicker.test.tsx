import { useState } from 'react';
import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it } from 'vitest';
import { json, mockFetch } from '../../testing/fetch-mock';
import { renderWithProviders } from '../../testing/render';
import { ValuePicker } from './ValuePicker';

const clients = ['client_A', 'client_B', 'client_C', 'other'];

function backend(fail = false) {
  return mockFetch({
    'GET /query/v1/clients': ({ url }) => {
      if (fail) return json(404, { error: { code: 'not_found', message: 'no such route' } });
      const prefix = url.searchParams.get('prefix') ?? '';
      const limit = Number(url.searchParams.get('limit'));
      const all = clients.filter((c) => c.startsWith(prefix));
      return json(200, { clients: all.slice(0, limit === 50 ? 3 : limit), truncated: all.length > 3 });
    },
  });
}

function Harness({ multiple = true, initial = [] as string[] }) {
  const [values, setValues] = useState(initial);
  return (
    <>
      <ValuePicker kind="clients" label="Clients" noun="client" values={values} onChange={setValues} multiple={multiple} />
      <span data-testid="values">{values.join('|')}</span>
    </>
  );
}

describe('ValuePicker', () => {
  it('lists values from the API by prefix and picks them with the keyboard', async () => {
    const api = backend();
    renderWithProviders(<Harness />);
    const input = screen.getByRole('combobox', { name: 'Clients' });
    await userEvent.click(input);
    const list = await screen.findByRole('listbox', { name: 'Clients' });
    expect(within(list).getAllByRole('option').map((o) => o.textContent)).toEqual(['client_A', 'client_B', 'client_C']);
    expect(screen.getByRole('status')).toHaveTextContent('First 3 shown; type to narrow.');
    expect(api.to('GET', '/query/v1/clients')[0]!.url.searchParams.has('prefix')).toBe(false);
    expect(api.to('GET', '/query/v1/clients')[0]!.url.searchParams.get('limit')).toBe('50');

    await userEvent.type(input, 'client_B');
    await waitFor(() => expect(api.to('GET', '/query/v1/clients').at(-1)!.url.searchParams.get('prefix')).toBe('client_B'));
    await waitFor(() => expect(within(screen.getByRole('listbox')).getAllByRole('option').map((o) => o.textContent)).toEqual(['client_B']));
    expect(input).toHaveAttribute('aria-activedescendant', screen.getByRole('option', { name: 'client_B' }).id);
    await userEvent.keyboard('{Enter}');
    expect(screen.getByTestId('values')).toHaveTextContent(/^client_B$/);
    expect(input).toHaveValue('');

    // ArrowDown moves through the list; the chosen one shows as selected.
    await waitFor(() => expect(within(screen.getByRole('listbox')).getAllByRole('option')).toHaveLength(3));
    expect(screen.getByRole('option', { name: 'client_B' })).toHaveAttribute('aria-selected', 'true');
    await userEvent.keyboard('{ArrowDown}{ArrowDown}{Enter}');
    expect(screen.getByTestId('values')).toHaveTextContent(/^client_B\|client_C$/);
    await userEvent.keyboard('{ArrowUp}{ArrowUp}{ArrowUp}{Enter}');
    expect(screen.getByTestId('values')).toHaveTextContent(/^client_B\|client_C\|client_A$/);

    await userEvent.keyboard('{Escape}');
    expect(screen.queryByRole('listbox')).not.toBeInTheDocument();
    await userEvent.keyboard('{Backspace}');
    expect(screen.getByTestId('values')).toHaveTextContent(/^client_B\|client_C$/);
    await userEvent.click(screen.getByRole('button', { name: 'Remove client client_B' }));
    expect(screen.getByTestId('values')).toHaveTextContent(/^client_C$/);
  });

  it('in single mode replaces the value and closes', async () => {
    backend();
    renderWithProviders(<Harness multiple={false} initial={['client_A']} />);
    const input = screen.getByRole('combobox', { name: 'Clients' });
    await userEvent.click(input);
    await screen.findByRole('option', { name: 'client_C' });
    await userEvent.click(screen.getByRole('option', { name: 'client_C' }));
    expect(screen.getByTestId('values')).toHaveTextContent(/^client_C$/);
    expect(screen.queryByRole('listbox')).not.toBeInTheDocument();
  });

  it('says when nothing matches, and offers the typed text when the API cannot list', async () => {
    backend();
    const first = renderWithProviders(<Harness />);
    await userEvent.type(screen.getByRole('combobox', { name: 'Clients' }), 'zzz');
    await waitFor(() => expect(screen.getByRole('status')).toHaveTextContent('No clients start with “zzz”.'));
    expect(screen.queryByRole('listbox')).not.toBeInTheDocument();
    first.unmount();

    const failing = backend(true);
    renderWithProviders(<Harness />);
    await userEvent.type(screen.getByRole('combobox', { name: 'Clients' }), 'typed_id');
    // The last (debounced) request is for the whole text; wait for its answer.
    await waitFor(() => expect(failing.calls.at(-1)!.url.searchParams.get('prefix')).toBe('typed_id'));
    await waitFor(() => expect(screen.getByRole('status')).toHaveTextContent('Could not list clients; press Enter to use the text as typed.'));
    expect(screen.getByRole('option', { name: 'typed_id' })).toBeInTheDocument();
    await userEvent.keyboard('{Enter}');
    expect(screen.getByTestId('values')).toHaveTextContent(/^typed_id$/);
  });
});
