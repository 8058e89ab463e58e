import { useId, useMemo } from 'react';
import { browserTimeZone, timeZones, UTC } from '../../lib/time-zone';

/** UTC, the browser's zone, then every IANA zone (type-ahead works in the list). */
export function TimeZoneSelect({ tz, onChange }: { tz: string; onChange: (tz: string) => void }) {
  const id = useId();
  const zones = useMemo(() => timeZones(), []);
  const local = useMemo(() => browserTimeZone(), []);
  return (
    <div className="tz-select">
      <label htmlFor={id}>Time zone</label>
      <select id={id} value={tz} onChange={(e) => onChange(e.target.value)}>
        <option value={UTC}>UTC</option>
        {local !== UTC ? <option value={local}>{local} (this browser)</option> : null}
        <optgroup label="All zones">
          {zones
            .filter((z) => z !== UTC && z !== local)
            .map((z) => (
              <option key={z} value={z}>
                {z}
              </option>
            ))}
          {zones.includes(tz) || tz === local ? null : <option value={tz}>{tz}</option>}
        </optgroup>
      </select>
    </div>
  );
}
