import { useId, useRef, useState, type FormEvent } from 'react';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { ingest, unwrap, type IngestResponse, type RawEvent } from '../../lib/api/client';
import { ErrorBox, Badge } from '../../lib/ui';
import { examples, exampleText, uniqueEvent } from './examples';

interface Submission {
  body: RawEvent | RawEvent[];
  simulateFailure: boolean;
  idempotencyKey: string;
}

type ParseResult = { ok: true; body: RawEvent | RawEvent[] } | { ok: false; message: string };

export function parseEditor(text: string): ParseResult {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return { ok: false, message: `Not valid JSON: ${err instanceof Error ? err.message : String(err)}` };
  }
  const isObject = (v: unknown) => typeof v === 'object' && v !== null && !Array.isArray(v);
  if (isObject(value)) return { ok: true, body: value as RawEvent };
  if (Array.isArray(value) && value.length > 0 && value.every(isObject)) return { ok: true, body: value as RawEvent[] };
  return { ok: false, message: 'Enter one JSON object or a non-empty array of objects.' };
}

export function SubmitPanel() {
  const editorId = useId();
  const client = useQueryClient();
  const [text, setText] = useState(() => exampleText(examples[0]!));
  const [simulateFailure, setSimulateFailure] = useState(false);
  const [idempotencyKey, setIdempotencyKey] = useState('');
  const [parseError, setParseError] = useState<string>();
  // Event ids this browser session has already had accepted: a resend is a duplicate.
  const seen = useRef(new Set<string>());
  const [previouslySeen, setPreviouslySeen] = useState<Set<string>>(new Set());

  const mutation = useMutation({
    mutationFn: ({ body, simulateFailure, idempotencyKey }: Submission) =>
      unwrap(
        ingest.POST('/v1/events', {
          params: {
            query: simulateFailure ? { simulateFailure: true } : {},
            // The duplicate hint costs the ingestor a Redis round trip, so it
            // is answered only when asked; this panel shows it.
            header: { Prefer: 'duplicate-hint', ...(idempotencyKey ? { 'Idempotency-Key': idempotencyKey } : {}) },
          },
          body,
        }),
      ),
    onSuccess: (data: IngestResponse) => {
      setPreviouslySeen(new Set(seen.current));
      for (const r of data.results) if (r.eventId) seen.current.add(r.eventId);
      void client.invalidateQueries({ queryKey: ['stats'] });
      void client.invalidateQueries({ queryKey: ['events'] });
    },
  });

  const submit = (e: FormEvent) => {
    e.preventDefault();
    const parsed = parseEditor(text);
    if (!parsed.ok) {
      setParseError(parsed.message);
      return;
    }
    setParseError(undefined);
    mutation.mutate({ body: parsed.body, simulateFailure, idempotencyKey: idempotencyKey.trim() });
  };

  return (
    <section aria-labelledby="submit-title" className="panel">
      <h2 id="submit-title">Submit events</h2>
      <form onSubmit={submit} className="stack">
        <div className="toolbar" role="group" aria-label="Examples">
          {examples.map((ex) => (
            <button
              key={ex.id}
              type="button"
              title={ex.hint}
              onClick={() => {
                setText(exampleText(ex));
                setSimulateFailure(Boolean(ex.simulateFailure));
                setParseError(undefined);
              }}
            >
              {ex.label}
            </button>
          ))}
          <button type="button" title="A new event nobody has sent before" onClick={() => setText(uniqueEvent())}>
            Unique
          </button>
        </div>
        <label htmlFor={editorId}>Event JSON (one object or an array)</label>
        <textarea
          id={editorId}
          className="editor"
          spellCheck={false}
          rows={12}
          value={text}
          onChange={(e) => setText(e.target.value)}
          aria-invalid={parseError ? true : undefined}
          aria-describedby={parseError ? `${editorId}-error` : undefined}
        />
        {parseError ? (
          <p id={`${editorId}-error`} className="field-error" role="alert">
            {parseError}
          </p>
        ) : null}
        <div className="toolbar">
          <label className="switch">
            <input
              type="checkbox"
              role="switch"
              checked={simulateFailure}
              onChange={(e) => setSimulateFailure(e.target.checked)}
            />{' '}
            Simulate failure
          </label>
          <label>
            Idempotency-Key{' '}
            <input
              value={idempotencyKey}
              onChange={(e) => setIdempotencyKey(e.target.value)}
              placeholder="optional"
              maxLength={256}
              title="For an array, element i gets the key <key>:<i>"
            />
          </label>
          <button type="submit" className="primary" disabled={mutation.isPending}>
            {mutation.isPending ? 'Sending…' : 'Send'}
          </button>
        </div>
      </form>
      {mutation.isError ? <ErrorBox error={mutation.error} title="Ingest failed" /> : null}
      {mutation.data ? <Results data={mutation.data} previouslySeen={previouslySeen} /> : null}
    </section>
  );
}

function Results({ data, previouslySeen }: { data: IngestResponse; previouslySeen: Set<string> }) {
  const firstIndex = new Map<string, number>();
  return (
    <div className="results" aria-live="polite">
      <p>
        <Badge tone="ok">{data.accepted} accepted</Badge>{' '}
        <Badge tone={data.rejected > 0 ? 'bad' : 'info'}>{data.rejected} rejected</Badge>
      </p>
      <div className="table-wrap">
        <table aria-label="Ingest results">
          <thead>
            <tr>
              <th scope="col">#</th>
              <th scope="col">Result</th>
              <th scope="col">Event id / reason</th>
              <th scope="col">Duplicate</th>
            </tr>
          </thead>
          <tbody>
            {data.results.map((r) => {
              let dupHint = '';
              if (r.eventId) {
                const earlier = firstIndex.get(r.eventId);
                if (r.duplicate) dupHint = 'already seen by the pipeline';
                else if (earlier !== undefined) dupHint = `same event as #${earlier}`;
                else if (previouslySeen.has(r.eventId)) dupHint = 'sent before in this session';
                if (earlier === undefined) firstIndex.set(r.eventId, r.index);
              }
              return (
                <tr key={r.index} data-testid="ingest-result">
                  <td>{r.index}</td>
                  <td>
                    {r.status === 'accepted' ? <Badge tone="ok">accepted</Badge> : <Badge tone="bad">rejected</Badge>}
                  </td>
                  <td className="mono wrap">
                    {r.status === 'accepted' ? (
                      <span data-testid="result-event-id">{r.eventId}</span>
                    ) : (
                      <>
                        <code>{r.error?.code ?? 'rejected'}</code>
                        {r.error?.field ? ` (${r.error.field})` : ''}: {r.error?.message}
                      </>
                    )}
                  </td>
                  <td>{dupHint ? <Badge tone="warn">duplicate: {dupHint}</Badge> : r.status === 'accepted' ? 'new' : ''}</td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
    </div>
  );
}
