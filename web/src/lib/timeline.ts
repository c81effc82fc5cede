import type { Status, Task, TaskEvent } from '../api/types'

/** The path a task walks; gates and failures are marked on it. */
export const PATH: readonly Status[] = [
  'queued',
  'preparing',
  'planning',
  'plan_review',
  'executing',
  'verifying',
  'diff_review',
  'publishing',
  'summarizing',
  'completed',
]

export const LABELS: Record<Status, string> = {
  queued: 'Queued',
  preparing: 'Prepare',
  planning: 'Plan',
  plan_review: 'Plan review',
  executing: 'Execute',
  verifying: 'Verify',
  diff_review: 'Diff review',
  publishing: 'Publish',
  summarizing: 'Summarize',
  completed: 'Completed',
  failed: 'Failed',
  cancelled: 'Cancelled',
}

/** The stage whose log lines a status produces (log events carry it; tool events don't). */
export const STAGE_OF: Partial<Record<Status, string>> = {
  preparing: 'prepare',
  planning: 'plan',
  executing: 'execute',
  verifying: 'verify',
  publishing: 'publish',
  summarizing: 'summarize',
}

export type StepState = 'done' | 'current' | 'pending' | 'skipped' | 'failed'

export interface Step {
  status: Status
  label: string
  state: StepState
  seconds: number | null // time spent in it (so far, for the current one)
  visits: number // >1 when the fix loop went back to execute
}

interface Visit {
  status: Status
  at: number
}

function visits(events: readonly TaskEvent[], task: Task): Visit[] {
  const out: Visit[] = [{ status: 'queued', at: Date.parse(task.created_at) }]
  for (const e of events) {
    if (e.kind !== 'status' || typeof e.data.status !== 'string') continue
    const status = e.data.status as Status
    const at = Date.parse(e.created_at)
    if (status === 'queued' && out.length === 1) {
      out[0] = { status, at }
      continue
    }
    out.push({ status, at })
  }
  return out
}

/** The timeline from the status events; `now` is for the running stage's elapsed time. */
export function timeline(events: readonly TaskEvent[], task: Task, now: number): Step[] {
  const seen = visits(events, task)
  const spent = new Map<Status, number>()
  const count = new Map<Status, number>()
  seen.forEach((v, i) => {
    const next = seen[i + 1]
    const end = next ? next.at : task.status === v.status && !isEnd(v.status) ? now : v.at
    spent.set(v.status, (spent.get(v.status) ?? 0) + Math.max(0, end - v.at) / 1000)
    count.set(v.status, (count.get(v.status) ?? 0) + 1)
  })
  const current = task.status
  const ended = current === 'failed' || current === 'cancelled'
  const lastReached = [...seen].reverse().find((v) => PATH.includes(v.status))?.status ?? 'queued'
  const reachedIndex = PATH.indexOf(lastReached)
  return PATH.map((status, i) => {
    const visited = count.has(status)
    let state: StepState
    if (status === current) state = status === 'completed' ? 'done' : 'current'
    else if (ended && status === lastReached) state = 'failed'
    else if (visited) state = 'done'
    else if (i < reachedIndex) state = 'skipped'
    else state = 'pending'
    return {
      status,
      label: LABELS[status],
      state,
      seconds: visited && status !== 'completed' ? (spent.get(status) ?? 0) : null,
      visits: count.get(status) ?? 0,
    }
  })
}

function isEnd(status: Status): boolean {
  return status === 'completed' || status === 'failed' || status === 'cancelled'
}

export function formatSeconds(s: number): string {
  if (s < 1) return '<1 s'
  if (s < 60) return `${Math.round(s)} s`
  const m = Math.floor(s / 60)
  if (m < 60) return `${m} min ${Math.round(s % 60)} s`
  return `${Math.floor(m / 60)} h ${m % 60} min`
}
