// @vitest-environment node
import { describe, expect, it } from 'vitest'
import type { TaskEvent } from '../api/types'
import { makeTask } from '../test/fakes'
import { formatSeconds, timeline } from './timeline'

const T0 = Date.parse('2026-01-01T00:00:00Z')
const status = (id: number, s: string, sec: number): TaskEvent => ({
  id,
  task_id: 't_1',
  kind: 'status',
  data: { status: s },
  created_at: new Date(T0 + sec * 1000).toISOString(),
})

describe('timeline', () => {
  it('times each stage and marks the current one', () => {
    const task = makeTask({ status: 'executing', created_at: new Date(T0).toISOString() })
    const events = [status(1, 'queued', 0), status(2, 'preparing', 1), status(3, 'planning', 11), status(4, 'executing', 15)]
    const steps = timeline(events, task, T0 + 20_000)
    const by = Object.fromEntries(steps.map((s) => [s.status, s]))
    expect(by.preparing).toMatchObject({ state: 'done', seconds: 10 })
    expect(by.planning).toMatchObject({ state: 'done', seconds: 4 })
    expect(by.plan_review).toMatchObject({ state: 'skipped', seconds: null }) // auto-approved
    expect(by.executing).toMatchObject({ state: 'current', seconds: 5 })
    expect(by.verifying?.state).toBe('pending')
  })

  it('counts fix rounds and marks where a task failed', () => {
    const task = makeTask({ status: 'failed' })
    const events = [
      status(1, 'queued', 0),
      status(2, 'preparing', 1),
      status(3, 'planning', 2),
      status(4, 'executing', 3),
      status(5, 'verifying', 5),
      status(6, 'executing', 6),
      status(7, 'verifying', 9),
      status(8, 'failed', 10),
    ]
    const by = Object.fromEntries(timeline(events, task, T0 + 60_000).map((s) => [s.status, s]))
    expect(by.executing).toMatchObject({ visits: 2, seconds: 5, state: 'done' })
    expect(by.verifying).toMatchObject({ state: 'failed', visits: 2 })
    expect(by.publishing?.state).toBe('pending')
  })

  it('formats durations', () => {
    expect(formatSeconds(0.2)).toBe('<1 s')
    expect(formatSeconds(42)).toBe('42 s')
    expect(formatSeconds(125)).toBe('2 min 5 s')
    expect(formatSeconds(3720)).toBe('1 h 2 min')
  })
})
