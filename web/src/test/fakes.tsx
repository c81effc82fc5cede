import { QueryClient, QueryClientProvider } from '@tanstack/react-query'
import { render } from '@testing-library/react'
import type { ReactNode } from 'react'
import { MemoryRouter, Route, Routes } from 'react-router'
import type { Task } from '../api/types'

/** A stand-in for the browser's EventSource: tests push server frames into it. */
export class FakeEventSource {
  static instances: FakeEventSource[] = []
  static readonly CONNECTING = 0
  static readonly OPEN = 1
  static readonly CLOSED = 2
  readonly url: string
  readyState = 0
  onopen: (() => void) | null = null
  onerror: (() => void) | null = null
  private listeners = new Map<string, ((e: MessageEvent<string>) => void)[]>()

  constructor(url: string) {
    this.url = url
    FakeEventSource.instances.push(this)
  }

  addEventListener(kind: string, fn: (e: MessageEvent<string>) => void) {
    this.listeners.set(kind, [...(this.listeners.get(kind) ?? []), fn])
  }

  close() {
    this.readyState = 2
  }

  open() {
    this.readyState = 1
    this.onopen?.()
  }

  emit(id: number, kind: string, data: Record<string, unknown>, taskId = 't_1') {
    const payload = { id, task_id: taskId, kind, data, created_at: new Date(1_700_000_000_000 + id * 1000).toISOString() }
    for (const fn of this.listeners.get(kind) ?? []) fn(new MessageEvent(kind, { data: JSON.stringify(payload), lastEventId: String(id) }))
  }

  drop(final: boolean) {
    this.readyState = final ? 2 : 0
    this.onerror?.()
  }
}

export interface Recorded {
  method: string
  url: string
  headers: Record<string, string>
  body: unknown
}

/** A fetch stand-in answering from a table of routes; records every request. */
export function fakeFetch(routes: Record<string, (body: unknown, url: URL) => [number, unknown]>) {
  const requests: Recorded[] = []
  const fn = (input: string, init: RequestInit = {}) => {
    const method = init.method ?? 'GET'
    const url = new URL(input, 'http://127.0.0.1:8080')
    const body: unknown = typeof init.body === 'string' ? JSON.parse(init.body) : null
    requests.push({ method, url: url.pathname + url.search, headers: init.headers as Record<string, string>, body })
    const handler = routes[`${method} ${url.pathname}`]
    const [status, payload] = handler
      ? handler(body, url)
      : [404, { error: { code: 'not_found', message: `no route ${method} ${url.pathname}` } }]
    return Promise.resolve(new Response(JSON.stringify(payload), { status, headers: { 'Content-Type': 'application/json' } }))
  }
  return { fn, requests }
}

export function renderAt(path: string, pattern: string, element: ReactNode) {
  const client = new QueryClient({ defaultOptions: { queries: { retry: false } } })
  return render(
    <QueryClientProvider client={client}>
      <MemoryRouter initialEntries={[path]}>
        <Routes>
          <Route path={pattern} element={element} />
          <Route path="*" element={<p>elsewhere</p>} />
        </Routes>
      </MemoryRouter>
    </QueryClientProvider>,
  )
}

export function makeTask(patch: Partial<Task> = {}): Task {
  return {
    id: 't_1',
    status: 'queued',
    repo: '/src/calc',
    base_branch: '',
    prompt: 'Fix the failing add test',
    model: 'openai/fake',
    auto_approve: false,
    plan: null,
    diff: '',
    tests: {
      command: '',
      baseline: null,
      after: null,
      newly_failing: [],
      newly_passing: [],
      pre_existing: [],
      flaky: [],
      disappeared: [],
      baseline_note: '',
      after_note: '',
      suite_found: true,
      check_command: '',
      check_exit_code: null,
      check_note: '',
    },
    conformance: { unplanned_files: [], untouched_steps: [] },
    branch: '',
    pr_url: '',
    audio: null,
    usage: { prompt_tokens: 0, completion_tokens: 0, cost_usd: 0 },
    error: null,
    round: 0,
    owner: 'u_local',
    key_source: 'operator',
    pr_number: 0,
    fixes: 0,
    feedback: null,
    stopped_in: null,
    origin: null,
    created_at: new Date(1_700_000_000_000).toISOString(),
    updated_at: new Date(1_700_000_000_000).toISOString(),
    ...patch,
  }
}
