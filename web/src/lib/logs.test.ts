// @vitest-environment node
import { describe, expect, it } from 'vitest'
import type { TaskEvent } from '../api/types'
import { logLines } from './logs'

const ev = (id: number, kind: TaskEvent['kind'], data: TaskEvent['data']): TaskEvent => ({ id, task_id: 't', kind, data, created_at: '2026-01-01T00:00:00Z' })

describe('logLines', () => {
  it('tags every event with its stage and kind', () => {
    const lines = logLines([
      ev(1, 'status', { status: 'executing' }),
      ev(2, 'tool', { tool: 'bash', arguments: '{"command":"ls"}', result: 'a.py' }),
      ev(3, 'log', { message: 'pytest output', stage: 'verify', exit_code: 1 }),
      ev(4, 'cost', { prompt_tokens: 10, completion_tokens: 2, cost_usd: 0.5 }),
      ev(5, 'status', { status: 'failed', error: { code: 'x', message: 'out of budget' } }),
    ])
    expect(lines.map((l) => [l.stage, l.kind])).toEqual([
      ['execute', 'status'],
      ['execute', 'tool'],
      ['verify', 'log'],
      ['verify', 'other'],
      ['verify', 'status'],
    ])
    expect(lines[1]?.text).toBe('bash {"command":"ls"}\na.py')
    expect(lines[2]?.failed).toBe(true)
    expect(lines[3]?.text).toBe('cost: 10 + 2 tokens, $0.5000')
    expect(lines[4]?.text).toBe('→ failed: out of budget')
  })
})

describe('command output', () => {
  it('joins chunks into one block per command, partial lines included', () => {
    const lines = logLines([
      ev(1, 'log', { message: '$ pytest -q', stage: 'verify' }),
      ev(2, 'output', { text: 'collecting ', elapsed_s: 0.5, command: 'pytest -q', stage: 'verify' }),
      ev(3, 'output', { text: '... 3 items\nF..', elapsed_s: 1, command: 'pytest -q', stage: 'verify' }),
      ev(4, 'output', { text: '', elapsed_s: 12, command: 'pytest -q', stage: 'verify' }),
    ])
    expect(lines).toHaveLength(2)
    expect(lines[1]).toMatchObject({ kind: 'output', ids: [2, 3, 4], text: 'collecting ... 3 items\nF..', running: 12 })
    const done = logLines([
      ev(2, 'output', { text: 'ok\n', elapsed_s: 1, command: 'a', stage: 'prepare', skipped_bytes: 0 }),
      ev(3, 'output', { text: 'x\n', elapsed_s: 1, command: 'b', stage: 'prepare', skipped_bytes: 4096 }),
      ev(4, 'log', { message: 'done', stage: 'prepare' }),
    ])
    expect(done.map((l) => [l.kind, l.text, l.running])).toEqual([
      ['output', 'ok', undefined],
      ['output', '[… 4096 bytes skipped …]\nx', undefined],
      ['log', 'done', undefined],
    ])
  })
})
