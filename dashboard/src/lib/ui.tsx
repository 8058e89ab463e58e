import { Component, type ReactNode } from 'react';
import { ApiError } from './api/client';

export function Loading({ label = 'Loading…' }: { label?: string }) {
  return (
    <p className="state state-loading" role="status" aria-live="polite">
      {label}
    </p>
  );
}

export function Empty({ children }: { children: ReactNode }) {
  return <p className="state state-empty">{children}</p>;
}

export function ErrorBox({ error, title = 'Request failed' }: { error: unknown; title?: string }) {
  const api = error instanceof ApiError ? error : undefined;
  const message = error instanceof Error ? error.message : String(error);
  return (
    <div className="state state-error" role="alert">
      <strong>{title}</strong>
      {api && api.status > 0 ? (
        <span className="error-code">
          {' '}
          HTTP {api.status} · <code>{api.code}</code>
        </span>
      ) : null}
      <div>{message}</div>
      {api?.retryAfter ? <div>Retry after {api.retryAfter} s.</div> : null}
    </div>
  );
}

export function Badge({ tone, children }: { tone: 'ok' | 'bad' | 'warn' | 'info'; children: ReactNode }) {
  return <span className={`badge badge-${tone}`}>{children}</span>;
}

interface BoundaryProps {
  children: ReactNode;
  /** A new key (the view's path) clears the error. */
  resetKey: string;
}

/** Catches a render error in one view so the shell (and the other views) keep working. */
export class ErrorBoundary extends Component<BoundaryProps, { error: unknown }> {
  state = { error: undefined as unknown };

  static getDerivedStateFromError(error: unknown) {
    return { error };
  }

  componentDidUpdate(prev: BoundaryProps) {
    if (prev.resetKey !== this.props.resetKey && this.state.error !== undefined) this.setState({ error: undefined });
  }

  render() {
    if (this.state.error === undefined) return this.props.children;
    return <ErrorBox error={this.state.error} title="This view failed to render; reload the page or try another view." />;
  }
}
