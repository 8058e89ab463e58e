import { describe, expect, it } from 'vitest';
import { formatInstant, fromWallInput, isTimeZone, offsetLabel, timeZones, toWallInput, zoneOffsetMs } from './time-zone';

describe('time zones', () => {
  const winter = Date.UTC(2024, 0, 15, 12, 0, 0, 250);
  const summer = Date.UTC(2024, 6, 15, 12, 0, 0);

  it('knows zone names and lists UTC first', () => {
    expect(isTimeZone('Europe/Berlin')).toBe(true);
    expect(isTimeZone('UTC')).toBe(true);
    expect(isTimeZone('Mars/Olympus')).toBe(false);
    expect(isTimeZone('')).toBe(false);
    const zones = timeZones();
    expect(zones[0]).toBe('UTC');
    expect(zones.filter((z) => z === 'UTC')).toHaveLength(1);
    expect(zones).toContain('Europe/Berlin');
  });

  it('shows an instant as wall-clock time in a zone, with daylight saving', () => {
    expect(formatInstant(winter, 'UTC', { millis: true })).toBe('2024-01-15 12:00:00.250');
    expect(formatInstant(winter, 'Europe/Berlin')).toBe('2024-01-15 13:00:00');
    expect(formatInstant(summer, 'Europe/Berlin')).toBe('2024-07-15 14:00:00');
    expect(formatInstant('2024-07-15T12:00:00.000Z', 'America/New_York')).toBe('2024-07-15 08:00:00');
    expect(formatInstant(winter, 'Asia/Kolkata')).toBe('2024-01-15 17:30:00');
    expect(formatInstant(undefined, 'UTC')).toBe('–');
    expect(formatInstant('not a time', 'UTC')).toBe('not a time');
    expect(zoneOffsetMs(summer, 'Europe/Berlin')).toBe(7_200_000);
    expect(offsetLabel(winter, 'America/New_York')).toBe('UTC−05:00');
    expect(offsetLabel(winter, 'UTC')).toBe('UTC');
  });

  it('reads wall-clock input in a zone back to the same instant', () => {
    for (const tz of ['UTC', 'Europe/Berlin', 'America/New_York', 'Asia/Kolkata', 'Australia/Lord_Howe']) {
      const ms = Date.UTC(2024, 2, 10, 7, 45, 30);
      expect(fromWallInput(toWallInput(ms, tz), tz)).toBe(ms);
    }
    expect(fromWallInput('2024-01-15T13:00', 'Europe/Berlin')).toBe(Date.UTC(2024, 0, 15, 12, 0));
  });

  it('reads a time that occurs twice as the earlier one, and a skipped time with the offset before the change', () => {
    // Berlin fell back at 03:00 CEST on 27 Oct 2024: 02:30 happened at 00:30Z and 01:30Z.
    expect(fromWallInput('2024-10-27T02:30', 'Europe/Berlin')).toBe(Date.UTC(2024, 9, 27, 0, 30));
    // Berlin sprang forward at 02:00 CET on 31 Mar 2024: 02:30 never happened.
    expect(fromWallInput('2024-03-31T02:30', 'Europe/Berlin')).toBe(Date.UTC(2024, 2, 31, 1, 30));
  });

  it('rejects malformed input', () => {
    for (const bad of ['', '2024-01-15', '2024-13-01T00:00', '2024-01-15T24:00', 'x']) expect(fromWallInput(bad, 'UTC')).toBeUndefined();
  });
});
