/**
 * The developer's token lives in this tab's sessionStorage only: never in a URL, a cookie or
 * localStorage, and gone when the tab closes.
 */
const KEY = 'fma-dashboard-token';

export function readToken(): string | null {
  return sessionStorage.getItem(KEY);
}

export function saveToken(token: string): void {
  sessionStorage.setItem(KEY, token);
}

export function forgetToken(): void {
  sessionStorage.removeItem(KEY);
}
