// A page that needs a sign-in first (the CLI's approval page) remembers itself here; the app
// goes back to it once signed in. localStorage, not sessionStorage: the single-user login link
// (`errand open`) arrives in a new tab. Ten minutes, like the codes such a page shows.

const KEY = 'errand.resume'
const TTL_MS = 10 * 60 * 1000

export function rememberPage(path: string, now = Date.now()): void {
  try {
    localStorage.setItem(KEY, JSON.stringify({ path, at: now }))
  } catch {
    // storage disabled: the person opens the page again by hand
  }
}

/** The remembered page, once (it is forgotten as it is read); null when none or too old. */
export function takeRememberedPage(now = Date.now()): string | null {
  let raw: string | null
  try {
    raw = localStorage.getItem(KEY)
    localStorage.removeItem(KEY)
  } catch {
    return null
  }
  if (!raw) return null
  try {
    const { path, at } = JSON.parse(raw) as { path?: unknown; at?: unknown }
    // only a path of this app: never an address elsewhere
    if (typeof path !== 'string' || !path.startsWith('/') || path.startsWith('//')) return null
    if (typeof at !== 'number' || now - at > TTL_MS || at > now) return null
    return path
  } catch {
    return null
  }
}
