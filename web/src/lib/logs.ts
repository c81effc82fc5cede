import type { Status, TaskEvent } from '../api/types'
import { STAGE_OF } from './timeline'

export type LineKind = 'log' | 'output' | 'tool' | 'status' | 'other'

export interface LogLine {
  id: number // the first event of the line
  ids: number[] // every event shown in it (a command's output arrives in many chunks)
  at: string
  stage: string
  kind: LineKind
  text: string
  failed: boolean
  running?: number // seconds a command has been running, while it prints nothing
}

function str(v: unknown): string {
  return typeof v === 'string' ? v : v === undefined || v === null ? '' : JSON.stringify(v)
}

/** Every event as one readable line, tagged with the stage it happened in. A running command's
 * output chunks (partial lines included) grow one block, so a line cut between two chunks reads
 * whole and nothing shows twice. */
export function logLines(events: readonly TaskEvent[]): LogLine[] {
  let stage = 'queued'
  const out: LogLine[] = []
  let block: LogLine | null = null
  let blockCommand = ''
  for (const e of events) {
    const d = e.data
    if (e.kind === 'output') {
      const command = str(d.command)
      if (typeof d.stage === 'string') stage = d.stage
      if (!block || blockCommand !== command) {
        if (block) finish(block)
        block = { id: e.id, ids: [], at: e.created_at, stage, kind: 'output', text: '', failed: false }
        blockCommand = command
        out.push(block)
      }
      block.ids.push(e.id)
      const skipped = typeof d.skipped_bytes === 'number' && d.skipped_bytes > 0 ? `[… ${d.skipped_bytes} bytes skipped …]\n` : ''
      block.text += skipped + str(d.text)
      block.running = str(d.text) ? undefined : Number(d.elapsed_s ?? 0)
      continue
    }
    if (block) {
      finish(block)
      block = null
    }
    let kind: LineKind = 'other'
    let text: string
    let failed = false
    if (e.kind === 'status') {
      const status = str(d.status) as Status
      stage = STAGE_OF[status] ?? stage
      kind = 'status'
      const err = d.error as { message?: string } | undefined
      text = `→ ${status}${err?.message ? `: ${err.message}` : ''}`
      failed = status === 'failed'
    } else if (e.kind === 'log') {
      kind = 'log'
      text = str(d.message)
      if (typeof d.stage === 'string') stage = d.stage
      failed = typeof d.exit_code === 'number' && d.exit_code !== 0
    } else if (e.kind === 'tool') {
      kind = 'tool'
      text = `${str(d.tool)} ${str(d.arguments)}\n${str(d.result)}`.trimEnd()
    } else if (e.kind === 'cost') {
      text = `cost: ${str(d.prompt_tokens)} + ${str(d.completion_tokens)} tokens, $${Number(d.cost_usd ?? 0).toFixed(4)}`
    } else {
      text = `${e.kind.replace(/_/g, ' ')}${Object.keys(d).length ? ` ${summarize(d)}` : ''}`
    }
    out.push({ id: e.id, ids: [e.id], at: e.created_at, stage, kind, text, failed })
  }
  return out
}

function finish(block: LogLine): void {
  block.running = undefined
  block.text = block.text.replace(/\n$/, '')
}

function summarize(d: Record<string, unknown>): string {
  const parts = Object.entries(d)
    .filter(([, v]) => typeof v !== 'object' || v === null)
    .map(([k, v]) => `${k}=${str(v)}`)
  return parts.join(' ')
}
