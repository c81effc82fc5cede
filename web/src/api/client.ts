import type { ApiErrorBody } from './types'

/** An error answer of the API: `code` and `message` come from the server's error body. */
export class ApiError extends Error {
  readonly status: number
  readonly code: string

  constructor(status: number, code: string, message: string) {
    super(message)
    this.name = 'ApiError'
    this.status = status
    this.code = code
  }

  /** The route does not exist on this server (an optional feature it does not offer). */
  get isMissingRoute(): boolean {
    return this.status === 404 && this.message.startsWith('no route')
  }

  get needsSignIn(): boolean {
    return this.status === 401 || (this.status === 403 && this.code !== 'csrf')
  }
}

/** The CSRF double-submit token: the server sets the readable cookie `errand_csrf` with the
 * session and checks it against this header on every unsafe request. */
export function csrfToken(cookies: string = document.cookie): string | null {
  for (const part of cookies.split(';')) {
    const [name, ...rest] = part.trim().split('=')
    if (name === 'errand_csrf') return decodeURIComponent(rest.join('='))
  }
  return null
}

type Method = 'GET' | 'POST' | 'PUT' | 'DELETE'

export async function api<T>(path: string, method: Method = 'GET', body?: unknown): Promise<T> {
  const headers: Record<string, string> = { Accept: 'application/json' }
  if (method !== 'GET') {
    headers['Content-Type'] = 'application/json'
    const csrf = csrfToken()
    if (csrf) headers['X-CSRF-Token'] = csrf
  }
  let response: Response
  try {
    response = await fetch(path, {
      method,
      headers,
      credentials: 'same-origin',
      body: method === 'GET' ? undefined : JSON.stringify(body ?? {}),
    })
  } catch {
    throw new ApiError(0, 'network', 'The Errand server cannot be reached. Is `errand up` running?')
  }
  const text = await response.text()
  let data: unknown = null
  if (text) {
    try {
      data = JSON.parse(text)
    } catch {
      throw new ApiError(response.status, 'bad_response', `The server answered ${response.status} with something other than JSON.`)
    }
  }
  if (!response.ok) {
    const err = (data as Partial<ApiErrorBody> | null)?.error
    throw new ApiError(response.status, err?.code ?? 'error', err?.message ?? `The server answered ${response.status}.`)
  }
  return data as T
}
