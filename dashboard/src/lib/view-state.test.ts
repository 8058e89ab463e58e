import { describe, expect, it } from 'vitest';
import { withParams } from './router';
import { commonPatch, linkTo, readCommon } from './view-state';

describe('view state in the URL', () => {
  it('reads defaults from an empty URL', () => {
    expect(readCommon(new URLSearchParams())).toEqual({ range: { kind: 'preset', preset: '24h' }, tz: 'UTC', clients: [], metrics: [], live: true });
  });

  it('reads filters, zone and pause; drops unknown zones and repeats', () => {
    const v = readCommon(new URLSearchParams('range=7d&tz=Asia/Tokyo&client=a&client=b&client=a&metric=m&live=off'));
    expect(v).toEqual({ range: { kind: 'preset', preset: '7d' }, tz: 'Asia/Tokyo', clients: ['a', 'b'], metrics: ['m'], live: false });
    expect(readCommon(new URLSearchParams('tz=Nowhere/Land')).tz).toBe('UTC');
  });

  it('writes changes and leaves defaults out', () => {
    const url = withParams(new URLSearchParams('range=7d&tz=Asia/Tokyo&live=off'), commonPatch({ range: { kind: 'preset', preset: '24h' }, tz: 'UTC', live: true, clients: ['x'] }));
    expect(url.toString()).toBe('client=x');
    const back = readCommon(withParams(new URLSearchParams(), commonPatch({ range: { kind: 'all' }, tz: 'Europe/Berlin', live: false, metrics: ['a', 'b'] })));
    expect(back).toEqual({ range: { kind: 'all' }, tz: 'Europe/Berlin', clients: [], metrics: ['a', 'b'], live: false });
  });

  it('carries shared state (not page state) into links to other views', () => {
    const params = new URLSearchParams('range=7d&tz=Asia/Tokyo&client=a&groupBy=metric&sort=-sum&event=x&live=off');
    expect(linkTo('/events', params, { status: 'processed' })).toBe('/events?client=a&live=off&range=7d&status=processed&tz=Asia%2FTokyo');
  });
});
