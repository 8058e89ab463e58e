// The seed's documented examples (seed.md), plus a rejected one.
export interface Example {
  id: string;
  label: string;
  hint: string;
  body: unknown;
  simulateFailure?: boolean;
}

const nested = {
  source: 'client_A',
  payload: { metric: 'purchase', amount: '1200', timestamp: '2024/01/01' },
};

const flat = {
  client_id: 'client_B',
  event_type: 'click',
  value: 500,
  date: '2024-01-15T10:30:00Z',
};

export const examples: Example[] = [
  { id: 'nested', label: 'Nested', hint: 'Seed example 1: nested payload, string amount, custom date.', body: nested },
  { id: 'flat', label: 'Flat', hint: 'Seed example 2: flat event with aliased field names.', body: flat },
  {
    id: 'duplicate',
    label: 'Duplicate',
    hint: 'Seed example 3: the same event twice; both get one event id and it is counted once.',
    body: [nested, nested],
  },
  {
    id: 'failure',
    label: 'Failure',
    hint: 'Seed example 4: simulated database failure; the processor retries and counts it once.',
    body: { source: 'client_C', payload: { metric: 'refund', amount: 42.5, timestamp: '2024-02-01T12:00:00Z' } },
    simulateFailure: true,
  },
  {
    id: 'invalid',
    label: 'Invalid',
    hint: 'An amount that is not a number: rejected with a reason.',
    body: { source: 'client_A', payload: { metric: 'purchase', amount: 'twelve', timestamp: '2024/01/01' } },
  },
  { id: 'batch', label: 'Batch', hint: 'An array of different shapes in one request.', body: [nested, flat] },
];

export function exampleText(example: Example): string {
  return JSON.stringify(example.body, null, 2);
}

/** A fresh event nobody has sent before (now, random amount). */
export function uniqueEvent(now = new Date()): string {
  const amount = (Math.floor(Math.random() * 1_000_000) / 100).toFixed(2);
  return JSON.stringify(
    { clientId: 'client_demo', metric: 'purchase', amount, timestamp: now.toISOString() },
    null,
    2,
  );
}
