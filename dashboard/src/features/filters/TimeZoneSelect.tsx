import { startTransition, useEffect, useId, useMemo, useState } from 'react';
import { browserTimeZone, timeZones, UTC } from '../../lib/time-zone';

/**
 * UTC, the browser's zone, then every IANA zone (type-ahead works in the
 * list). The ~420 zone options are rendered after the first paint (when the
 * browser is idle, or at once when the field is focused): building them is a
 * long task on a slow machine and every view's first numbers would wait.
 */
export function TimeZoneSelect({ tz, onChange }: { tz: string; onChange: (tz: string) => void }) {
  const id = useId();
  const local = useMemo(() => browserTimeZone(), []);
  const [full, setFull] = useState(false);

  useEffect(() => {
    const show = () => startTransition(() => setFull(true));
    if (typeof window.requestIdleCallback === 'function') {
      const handle = window.requestIdleCallback(show, { timeout: 1000 });
      return () => window.cancelIdleCallback(handle);
    }
    const timer = setTimeout(show, 0);
    return () => clearTimeout(timer);
  }, []);

  const zones = useMemo(() => (full ? timeZones().filter((z) => z !== UTC && z !== local) : []), [full, local]);
  // Built once: the same elements on every render let React skip them.
  const all = useMemo(
    () =>
      zones.map((z) => (
        <option key={z} value={z}>
          {z}
        </option>
      )),
    [zones],
  );
  // A zone from the URL that is not (yet) in the list, e.g. an alias such as US/Pacific.
  const extra = tz !== UTC && tz !== local && !zones.includes(tz);

  return (
    <div className="tz-select">
      <label htmlFor={id}>Time zone</label>
      <select id={id} value={tz} onChange={(e) => onChange(e.target.value)} onFocus={() => setFull(true)} onPointerDown={() => setFull(true)}>
        <option value={UTC}>UTC</option>
        {local !== UTC ? <option value={local}>{local} (this browser)</option> : null}
        {extra ? <option value={tz}>{tz}</option> : null}
        {full ? <optgroup label="All zones">{all}</optgroup> : null}
      </select>
    </div>
  );
}
