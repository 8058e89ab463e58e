import { fireEvent, render, screen } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it, vi } from 'vitest';
import type { TimeRange } from '../../lib/time-range';
import { fromWallInput } from '../../lib/time-zone';
import { RangeSelect } from './RangeSelect';

describe('RangeSelect', () => {
  it('picks presets and all time', async () => {
    const onChange = vi.fn();
    render(<RangeSelect range={{ kind: 'preset', preset: '24h' }} tz="UTC" basis="event time" onChange={onChange} />);
    await userEvent.selectOptions(screen.getByLabelText(/^Range/), 'Last 7 days');
    await userEvent.selectOptions(screen.getByLabelText(/^Range/), 'All time');
    expect(onChange.mock.calls).toEqual([[{ kind: 'preset', preset: '7d' }], [{ kind: 'all' }]]);
  });

  it('reads a custom range as wall-clock time in the display zone', async () => {
    const onChange = vi.fn<(r: TimeRange) => void>();
    render(<RangeSelect range={{ kind: 'preset', preset: '1h' }} tz="Europe/Berlin" basis="event time" onChange={onChange} />);
    await userEvent.selectOptions(screen.getByLabelText(/^Range/), 'custom');
    const from = screen.getByLabelText('From (Europe/Berlin)');
    const to = screen.getByLabelText('To (Europe/Berlin)');
    // Prefilled with the range in force (the last hour, in Berlin time).
    const shownTo = fromWallInput((to as HTMLInputElement).value, 'Europe/Berlin')!;
    const shownFrom = fromWallInput((from as HTMLInputElement).value, 'Europe/Berlin')!;
    expect(Math.abs(shownTo - Date.now())).toBeLessThan(5_000);
    expect(shownTo - shownFrom).toBe(3_600_000);

    fireEvent.change(from, { target: { value: '2024-07-01T10:00:00' } });
    fireEvent.change(to, { target: { value: '2024-07-01T09:00:00' } });
    await userEvent.click(screen.getByRole('button', { name: 'Apply range' }));
    expect(screen.getByRole('alert')).toHaveTextContent('“From” must be before “To”.');
    expect(onChange).not.toHaveBeenCalled();

    fireEvent.change(to, { target: { value: '2024-07-01T12:30:00' } });
    await userEvent.click(screen.getByRole('button', { name: 'Apply range' }));
    expect(onChange).toHaveBeenCalledWith({ kind: 'custom', from: Date.UTC(2024, 6, 1, 8, 0), to: Date.UTC(2024, 6, 1, 10, 30) });
  });
});
