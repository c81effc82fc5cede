import { useEffect, useMemo, useRef, useState } from 'react'
import type { LineKind, LogLine } from '../lib/logs'
import type { StreamState } from '../hooks/useTaskEvents'
import { Button, inputClass } from './ui'

const STREAM_LABEL: Record<StreamState, string> = {
  connecting: 'connecting…',
  live: 'live',
  reconnecting: 'reconnecting…',
  ended: 'complete',
  failed: 'disconnected',
}
const KINDS: LineKind[] = ['log', 'output', 'tool', 'status', 'other']

export function LogPanel({
  lines,
  state,
  onReconnect,
  search,
  onSearch,
}: {
  lines: LogLine[]
  state: StreamState
  onReconnect: () => void
  search: string
  onSearch: (s: string) => void
}) {
  const [stage, setStage] = useState('')
  const [kinds, setKinds] = useState<Set<LineKind>>(() => new Set(KINDS))
  const [follow, setFollow] = useState(true)
  const box = useRef<HTMLDivElement>(null)
  const stages = useMemo(() => [...new Set(lines.map((l) => l.stage))], [lines])
  const shown = useMemo(() => {
    const needle = search.toLowerCase()
    return lines.filter((l) => (!stage || l.stage === stage) && kinds.has(l.kind) && (!needle || l.text.toLowerCase().includes(needle)))
  }, [lines, stage, kinds, search])

  useEffect(() => {
    const el = box.current
    if (follow && el) el.scrollTop = el.scrollHeight
  }, [shown, follow])

  const onScroll = () => {
    const el = box.current
    if (!el) return
    setFollow(el.scrollHeight - el.scrollTop - el.clientHeight < 24)
  }

  const toggle = (k: LineKind) =>
    setKinds((prev) => {
      const next = new Set(prev)
      if (next.has(k)) next.delete(k)
      else next.add(k)
      return next
    })

  return (
    <div>
      <div className="mb-2 flex flex-wrap items-end gap-3 text-sm">
        <p className="flex items-center gap-1.5" aria-live="polite">
          <span className={`inline-block size-2 rounded-full ${state === 'live' ? 'bg-emerald-600' : state === 'failed' ? 'bg-red-600' : 'bg-slate-400'}`} aria-hidden="true" />
          Stream {STREAM_LABEL[state]}
          {state === 'failed' ? (
            <Button onClick={onReconnect} className="ml-1">
              Reconnect
            </Button>
          ) : null}
        </p>
        <label className="flex items-center gap-1">
          Stage
          <select value={stage} onChange={(e) => setStage(e.target.value)} className="rounded-md border border-slate-300 bg-white px-2 py-1 dark:border-slate-600 dark:bg-slate-900">
            <option value="">all</option>
            {stages.map((s) => (
              <option key={s}>{s}</option>
            ))}
          </select>
        </label>
        <fieldset className="flex flex-wrap items-center gap-2">
          <legend className="sr-only">Kinds of line</legend>
          {KINDS.map((k) => (
            <label key={k} className="flex items-center gap-1">
              <input type="checkbox" checked={kinds.has(k)} onChange={() => toggle(k)} className="accent-indigo-600" />
              {k}
            </label>
          ))}
        </fieldset>
        <label className="flex min-w-[10rem] flex-1 items-center gap-1">
          <span className="sr-only">Search the log</span>
          <input type="search" value={search} onChange={(e) => onSearch(e.target.value)} placeholder="Search the log" className={inputClass} />
        </label>
      </div>
      <div
        ref={box}
        onScroll={onScroll}
        tabIndex={0}
        role="log"
        aria-label="Task log"
        aria-live="off"
        className="h-80 overflow-auto rounded-md bg-slate-950 p-2 font-mono text-xs leading-5 text-slate-100 focus-visible:outline-2 focus-visible:outline-indigo-500"
      >
        {shown.map((l) => (
          <div key={l.id} data-event-ids={l.ids.join(' ')} className={`whitespace-pre-wrap break-words ${l.failed ? 'text-red-300' : l.kind === 'status' ? 'text-sky-300' : l.kind === 'tool' ? 'text-amber-200' : l.kind === 'output' ? 'text-slate-300' : ''}`}>
            <span className="select-none text-slate-400">{l.stage.padEnd(9)} </span>
            {l.text}
            {l.running !== undefined ? <span className="text-slate-400"> (running, {Math.round(l.running)} s)</span> : null}
          </div>
        ))}
        {!shown.length ? <p className="text-slate-400">{lines.length ? 'No line matches the filters.' : 'Waiting for the first event…'}</p> : null}
      </div>
      {!follow ? (
        <Button
          className="mt-2"
          onClick={() => {
            setFollow(true)
          }}
        >
          Follow the latest lines
        </Button>
      ) : null}
      <p className="mt-1 text-xs text-slate-600 dark:text-slate-400">
        {shown.length} of {lines.length} lines
      </p>
    </div>
  )
}
