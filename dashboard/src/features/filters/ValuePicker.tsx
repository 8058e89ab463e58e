// A searchable picker for client ids or metric names (WAI-ARIA combobox
// with a listbox popup). The values come from the API by prefix as the user
// types; if the API cannot list them, the typed text can still be used.
import { useEffect, useId, useRef, useState, type KeyboardEvent } from 'react';
import { keepPreviousData, useQuery } from '@tanstack/react-query';
import { fetchValues, type ValueKind } from './values';

const DEBOUNCE_MS = 150;

interface Props {
  kind: ValueKind;
  /** Visible label, e.g. "Clients". */
  label: string;
  /** One value, e.g. "client", for button labels. */
  noun: string;
  values: string[];
  onChange: (values: string[]) => void;
  multiple?: boolean;
}

export function ValuePicker({ kind, label, noun, values, onChange, multiple = true }: Props) {
  const id = useId();
  const inputRef = useRef<HTMLInputElement>(null);
  const [text, setText] = useState('');
  const [prefix, setPrefix] = useState('');
  const [open, setOpen] = useState(false);
  const [active, setActive] = useState(0);

  useEffect(() => {
    const timer = setTimeout(() => setPrefix(text.trim()), DEBOUNCE_MS);
    return () => clearTimeout(timer);
  }, [text]);

  const list = useQuery({
    queryKey: ['values', kind, prefix],
    queryFn: () => fetchValues(kind, prefix),
    enabled: open,
    staleTime: 30_000,
    placeholderData: keepPreviousData,
  });

  const typed = text.trim();
  // Offer the typed text only when the API could not list values.
  const options = list.isError ? (typed ? [typed] : []) : (list.data?.values ?? []);
  const activeIndex = Math.min(active, Math.max(0, options.length - 1));
  const listId = `${id}-list`;
  const optionId = (i: number) => `${id}-opt-${i}`;

  const choose = (value: string) => {
    if (multiple) onChange(values.includes(value) ? values.filter((v) => v !== value) : [...values, value]);
    else {
      onChange(values.includes(value) ? [] : [value]);
      setOpen(false);
    }
    setText('');
  };

  const onKeyDown = (e: KeyboardEvent<HTMLInputElement>) => {
    switch (e.key) {
      case 'ArrowDown':
        e.preventDefault();
        if (!open) setOpen(true);
        else setActive(Math.min(activeIndex + 1, options.length - 1));
        break;
      case 'ArrowUp':
        e.preventDefault();
        setActive(Math.max(activeIndex - 1, 0));
        break;
      case 'Enter':
        if (open && options[activeIndex] !== undefined) {
          e.preventDefault();
          choose(options[activeIndex]);
        }
        break;
      case 'Escape':
        if (open) {
          e.preventDefault();
          setOpen(false);
        } else setText('');
        break;
      case 'Backspace':
        if (text === '' && values.length > 0) onChange(values.slice(0, -1));
        break;
    }
  };

  const status = !open
    ? null
    : list.isError
      ? `Could not list ${label.toLowerCase()}${typed ? '; press Enter to use the text as typed' : ''}.`
      : list.isPending
        ? 'Loading…'
        : options.length === 0
          ? `No ${label.toLowerCase()} ${prefix ? `start with “${prefix}”` : 'yet'}.`
          : list.data?.truncated
            ? `First ${options.length} shown; type to narrow.`
            : null;

  return (
    <div className="picker">
      <label htmlFor={`${id}-input`}>{label}</label>
      <div className="picker-box" onClick={() => inputRef.current?.focus()}>
        {values.map((v) => (
          <span key={v} className="chip">
            <span className="chip-text">{v}</span>
            <button
              type="button"
              className="chip-remove"
              aria-label={`Remove ${noun} ${v}`}
              onClick={(e) => {
                e.stopPropagation();
                onChange(values.filter((x) => x !== v));
              }}
            >
              ×
            </button>
          </span>
        ))}
        <input
          ref={inputRef}
          id={`${id}-input`}
          role="combobox"
          aria-expanded={open && options.length > 0}
          aria-controls={listId}
          aria-autocomplete="list"
          aria-activedescendant={open && options.length > 0 ? optionId(activeIndex) : undefined}
          autoComplete="off"
          spellCheck={false}
          placeholder={values.length ? '' : multiple ? `All ${noun}s` : `Any ${noun}`}
          value={text}
          onChange={(e) => {
            setText(e.target.value);
            setActive(0);
            setOpen(true);
          }}
          onFocus={() => setOpen(true)}
          onBlur={() => setOpen(false)}
          onKeyDown={onKeyDown}
        />
      </div>
      {open && options.length > 0 ? (
        <ul id={listId} role="listbox" aria-label={label} aria-multiselectable={multiple || undefined} className="picker-list">
          {options.map((v, i) => {
            const selected = values.includes(v);
            return (
              <li
                key={v}
                id={optionId(i)}
                role="option"
                aria-selected={selected}
                className={i === activeIndex ? 'active' : undefined}
                // Keep focus in the input; choose on click.
                onMouseDown={(e) => e.preventDefault()}
                onClick={() => choose(v)}
                onMouseMove={() => setActive(i)}
              >
                <span className="check" />
                {v}
              </li>
            );
          })}
        </ul>
      ) : null}
      <div role="status" className="picker-status muted">
        {status}
      </div>
    </div>
  );
}
