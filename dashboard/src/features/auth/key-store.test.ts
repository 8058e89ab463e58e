import { beforeEach, describe, expect, it } from 'vitest';
import { KEY_ITEM, KeyStore, parseKey, sessionKeyStore } from './key-store';

describe('KeyStore', () => {
  beforeEach(() => {
    window.sessionStorage.clear();
    window.localStorage.clear();
  });

  it('keeps the key in sessionStorage only, and forgets it on clear', () => {
    const store = sessionKeyStore();
    expect(store.get()).toBeUndefined();
    store.set('tly_abc');
    expect(window.sessionStorage.getItem(KEY_ITEM)).toBe('tly_abc');
    expect(window.localStorage.length).toBe(0);
    // Another store of the same tab (a reload) finds it.
    expect(sessionKeyStore().get()).toBe('tly_abc');
    store.clear();
    expect(window.sessionStorage.getItem(KEY_ITEM)).toBeNull();
    expect(store.get()).toBeUndefined();
  });

  it('falls back to memory when storage throws or is missing', () => {
    const broken = {
      getItem: () => {
        throw new Error('SecurityError');
      },
      setItem: () => {
        throw new Error('QuotaExceededError');
      },
      removeItem: () => {
        throw new Error('SecurityError');
      },
    } as unknown as Storage;
    for (const store of [new KeyStore(broken), new KeyStore(undefined)]) {
      expect(store.get()).toBeUndefined();
      store.set('tly_mem');
      expect(store.get()).toBe('tly_mem');
      store.clear();
      expect(store.get()).toBeUndefined();
    }
  });
});

describe('parseKey', () => {
  it.each([
    ['tly_abc', 'tly_abc'],
    ['  tly_abc\n', 'tly_abc'],
    ['Bearer tly_abc', 'tly_abc'],
    ['Authorization: Bearer tly_abc', 'tly_abc'],
    ['X-API-Key: tly_abc', 'tly_abc'],
    ['"tly_abc"', 'tly_abc'],
    ["'tly_abc'", 'tly_abc'],
  ])('reads %j as %j', (text, key) => expect(parseKey(text)).toBe(key));

  it.each(['', '   ', '""', 'tly_a tly_b', 'tly_"x'])('rejects %j', (text) => expect(parseKey(text)).toBeUndefined());
});
