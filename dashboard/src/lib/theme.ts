import { useSyncExternalStore } from 'react';

const DARK = '(prefers-color-scheme: dark)';

function subscribe(onChange: () => void) {
  if (typeof window.matchMedia !== 'function') return () => {};
  const mq = window.matchMedia(DARK);
  mq.addEventListener('change', onChange);
  return () => mq.removeEventListener('change', onChange);
}

const isDark = () => typeof window.matchMedia === 'function' && window.matchMedia(DARK).matches;

/** True while the system asks for dark colours (the CSS follows it too). */
export function usePrefersDark(): boolean {
  return useSyncExternalStore(subscribe, isDark, () => false);
}
