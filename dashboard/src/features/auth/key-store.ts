// Where the signed-in API key is kept: the browser session only
// (sessionStorage: one tab, gone when it closes, never sent anywhere by the
// browser on its own). Storage that throws (disabled, private modes) or is
// missing degrades to memory: the key lasts until the page reloads.

export const KEY_ITEM = 'tally.apiKey';

export class KeyStore {
  readonly #storage: Storage | undefined;
  #memory: string | undefined;

  constructor(storage: Storage | undefined) {
    this.#storage = storage;
  }

  get(): string | undefined {
    try {
      return this.#storage?.getItem(KEY_ITEM) || this.#memory;
    } catch {
      return this.#memory;
    }
  }

  set(key: string) {
    this.#memory = key;
    try {
      this.#storage?.setItem(KEY_ITEM, key);
      // Kept in storage: no second copy in memory.
      if (this.#storage) this.#memory = undefined;
    } catch {
      // memory only
    }
  }

  clear() {
    this.#memory = undefined;
    try {
      this.#storage?.removeItem(KEY_ITEM);
    } catch {
      // nothing stored
    }
  }
}

/** The store of this browser tab's session. */
export function sessionKeyStore(): KeyStore {
  try {
    return new KeyStore(typeof window === 'undefined' ? undefined : window.sessionStorage);
  } catch {
    return new KeyStore(undefined);
  }
}

/**
 * The key in pasted text: surrounding space, quotes and a copied
 * "Bearer " or "X-API-Key:" prefix are dropped. undefined when nothing is
 * left or the rest cannot be a key (keys have no spaces or quotes).
 */
export function parseKey(text: string): string | undefined {
  let key = text.trim().replace(/^(?:authorization:\s*)?bearer\s+/i, '').replace(/^x-api-key:\s*/i, '').trim();
  key = key.replace(/^(["'])(.*)\1$/, '$2').trim();
  if (!key || /[\s"']/.test(key)) return undefined;
  return key;
}
