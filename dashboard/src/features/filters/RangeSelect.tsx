import { useId, useState, type FormEvent } from 'react';
import { isPreset, PRESETS, resolveRange, type TimeRange } from '../../lib/time-range';
import { fromWallInput, toWallInput } from '../../lib/time-zone';

interface Props {
  range: TimeRange;
  tz: string;
  onChange: (range: TimeRange) => void;
  /** What the range filters on, for the label ("event time", "received time"). */
  basis: string;
}

/** Presets, all time, or a custom range typed as wall-clock time in the display zone. */
export function RangeSelect({ range, tz, onChange, basis }: Props) {
  const id = useId();
  const [editing, setEditing] = useState(false);
  const custom = editing || range.kind === 'custom';
  const value = custom ? 'custom' : range.kind === 'all' ? 'all' : range.preset;

  const pick = (v: string) => {
    if (v === 'custom') setEditing(true);
    else {
      setEditing(false);
      onChange(v === 'all' ? { kind: 'all' } : isPreset(v) ? { kind: 'preset', preset: v } : range);
    }
  };

  return (
    <div className="range-select">
      <label htmlFor={`${id}-range`}>
        Range <span className="muted">({basis})</span>
      </label>
      <select id={`${id}-range`} value={value} onChange={(e) => pick(e.target.value)}>
        {PRESETS.map((p) => (
          <option key={p.id} value={p.id}>
            {p.label}
          </option>
        ))}
        <option value="all">All time</option>
        <option value="custom">Custom…</option>
      </select>
      {custom ? (
        <CustomRange
          key={`${tz}|${range.kind}`}
          range={range}
          tz={tz}
          onApply={(r) => {
            setEditing(false);
            onChange(r);
          }}
        />
      ) : null}
    </div>
  );
}

function CustomRange({ range, tz, onApply }: { range: TimeRange; tz: string; onApply: (r: TimeRange) => void }) {
  const id = useId();
  // Start from the range in force (a preset resolved now), so the fields are never empty.
  const [initial] = useState(() => {
    const r = resolveRange(range, Date.now());
    const to = r.to ?? Date.now();
    return { from: toWallInput(r.from ?? to - 86_400_000, tz), to: toWallInput(to, tz) };
  });
  const [error, setError] = useState<string>();

  const apply = (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const form = new FormData(e.currentTarget);
    const from = fromWallInput(String(form.get('from') ?? ''), tz);
    const to = fromWallInput(String(form.get('to') ?? ''), tz);
    if (from === undefined || to === undefined) return setError('Enter both times.');
    if (from >= to) return setError('“From” must be before “To”.');
    setError(undefined);
    onApply({ kind: 'custom', from, to });
  };

  return (
    <form className="custom-range" onSubmit={apply} aria-label="Custom range">
      <label htmlFor={`${id}-from`}>From ({tz})</label>
      <input id={`${id}-from`} name="from" type="datetime-local" step={1} defaultValue={initial.from} required />
      <label htmlFor={`${id}-to`}>To ({tz})</label>
      <input id={`${id}-to`} name="to" type="datetime-local" step={1} defaultValue={initial.to} required />
      <button type="submit">Apply range</button>
      {error ? (
        <p className="field-error" role="alert">
          {error}
        </p>
      ) : null}
    </form>
  );
}
