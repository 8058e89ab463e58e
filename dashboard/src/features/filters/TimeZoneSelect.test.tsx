import { render, screen, waitFor } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it, vi } from 'vitest';
import { TimeZoneSelect } from './TimeZoneSelect';

describe('TimeZoneSelect', () => {
  it('offers every zone once the page is idle, and picks one', async () => {
    const onChange = vi.fn();
    render(<TimeZoneSelect tz="UTC" onChange={onChange} />);
    const select = screen.getByLabelText('Time zone');
    await waitFor(() => expect(screen.getByRole('option', { name: 'Asia/Tokyo' })).toBeInTheDocument());
    expect(screen.getAllByRole('option', { name: 'UTC' })).toHaveLength(1);
    await userEvent.selectOptions(select, 'Asia/Tokyo');
    expect(onChange).toHaveBeenCalledWith('Asia/Tokyo');
  });

  it('shows a zone from the URL that the list does not hold', async () => {
    render(<TimeZoneSelect tz="US/Pacific" onChange={() => {}} />);
    expect(screen.getByLabelText('Time zone')).toHaveValue('US/Pacific');
    await waitFor(() => expect(screen.getByRole('option', { name: 'Asia/Tokyo' })).toBeInTheDocument());
    expect(screen.getByLabelText('Time zone')).toHaveValue('US/Pacific');
  });
});
