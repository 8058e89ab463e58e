import { act, render, screen } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it } from 'vitest';
import { hrefOf, Link, navigate, useLocation, withParams } from './router';

function Where() {
  const { path, params } = useLocation();
  return (
    <p data-testid="where">
      {path} {params.getAll('client').join('+')}
    </p>
  );
}

describe('router', () => {
  it('follows pushes, replaces, and back/forward', async () => {
    render(<Where />);
    expect(screen.getByTestId('where')).toHaveTextContent(/^\/$/);
    act(() => navigate('/events?client=a'));
    expect(screen.getByTestId('where')).toHaveTextContent(/^\/events a$/);
    act(() => navigate('/events?client=a&client=b', { replace: true }));
    expect(screen.getByTestId('where')).toHaveTextContent(/^\/events a\+b$/);
    act(() => navigate('/health'));
    expect(screen.getByTestId('where')).toHaveTextContent(/^\/health$/);

    const popped = new Promise((resolve) => window.addEventListener('popstate', resolve, { once: true }));
    window.history.back();
    await act(() => popped);
    // replace took the place of /events?client=a, so back lands on a+b.
    expect(screen.getByTestId('where')).toHaveTextContent(/^\/events a\+b$/);
  });

  it('links navigate in place on a plain click, and leave modified clicks to the browser', async () => {
    render(
      <>
        <Link to="/aggregations?range=7d">Aggregations</Link>
        <Where />
      </>,
    );
    const link = screen.getByRole('link', { name: 'Aggregations' });
    expect(link).toHaveAttribute('href', '/aggregations?range=7d');
    await userEvent.click(link);
    expect(screen.getByTestId('where')).toHaveTextContent(/^\/aggregations$/);
    // A history entry was added: back returns to where the click happened.
    const popped = new Promise((resolve) => window.addEventListener('popstate', resolve, { once: true }));
    window.history.back();
    await act(() => popped);
    expect(screen.getByTestId('where')).toHaveTextContent(/^\/$/);

    const modified = new MouseEvent('click', { bubbles: true, cancelable: true, ctrlKey: true });
    link.dispatchEvent(modified);
    expect(modified.defaultPrevented).toBe(false);
    expect(screen.getByTestId('where')).toHaveTextContent(/^\/$/);
  });

  it('builds canonical query strings: patched keys replaced, removed when undefined, sorted', () => {
    const base = new URLSearchParams('tz=UTC&client=a&range=7d');
    const next = withParams(base, { client: ['b', 'c'], range: undefined, metric: 'm' });
    expect(next.toString()).toBe('client=b&client=c&metric=m&tz=UTC');
    expect(base.toString()).toBe('tz=UTC&client=a&range=7d');
    expect(hrefOf('/x', new URLSearchParams())).toBe('/x');
    expect(hrefOf('/x', next)).toBe('/x?client=b&client=c&metric=m&tz=UTC');
  });
});
