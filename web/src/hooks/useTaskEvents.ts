import { useQueryClient } from '@tanstack/react-query'
import { useCallback, useEffect, useRef, useState } from 'react'
import { keys } from '../api/queries'
import { EVENT_KINDS, TERMINAL, type Status, type TaskEvent } from '../api/types'

export type StreamState = 'connecting' | 'live' | 'reconnecting' | 'ended' | 'failed'

// Events that change the task document: refetch it when one arrives.
const CHANGES_TASK = new Set(['status', 'plan_ready', 'diff_ready', 'test_results', 'pr_created', 'audio_ready', 'task_completed'])
const FLUSH_MS = 50

export interface TaskStream {
  events: TaskEvent[]
  state: StreamState
  reconnect: () => void
}

/**
 * The task's event log, live. One EventSource per task: the browser reconnects by itself after a
 * drop and sends `Last-Event-ID`, so the server resumes after the last event we saw; events are
 * also kept in id order and deduplicated by id, so a replay can never show a line twice. A
 * manual reconnect (after the browser gave up) resumes with `?after=<last id>`.
 */
export function useTaskEvents(taskId: string): TaskStream {
  const client = useQueryClient()
  // events belong to the task they were read for: a new task id starts from nothing
  const [log, setLog] = useState<{ taskId: string; events: TaskEvent[] }>({ taskId, events: [] })
  const [state, setState] = useState<StreamState>('connecting')
  const [attempt, setAttempt] = useState(0)
  const cursor = useRef({ taskId, lastId: 0 })
  const pending = useRef<TaskEvent[]>([])

  useEffect(() => {
    if (cursor.current.taskId !== taskId) {
      cursor.current = { taskId, lastId: 0 }
      pending.current = []
    }
    const lastId = cursor.current
    const after = lastId.lastId
    const url = `/api/tasks/${encodeURIComponent(taskId)}/events${after ? `?after=${after}` : ''}`
    const source = new EventSource(url, { withCredentials: true })
    let timer: ReturnType<typeof setTimeout> | undefined
    let refetch = false

    const flush = () => {
      timer = undefined
      const batch = pending.current
      pending.current = []
      if (batch.length) {
        setLog((prev) => (prev.taskId === taskId ? { taskId, events: [...prev.events, ...batch] } : { taskId, events: batch }))
      }
      if (refetch) {
        refetch = false
        void client.invalidateQueries({ queryKey: keys.task(taskId) })
        void client.invalidateQueries({ queryKey: keys.tasks })
      }
    }

    const onEvent = (message: MessageEvent<string>) => {
      const event = JSON.parse(message.data) as TaskEvent
      if (event.id <= lastId.lastId) return // a replay after a reconnect: already shown
      lastId.lastId = event.id
      pending.current.push(event)
      if (CHANGES_TASK.has(event.kind)) refetch = true
      if (event.kind === 'status' && TERMINAL.has(event.data.status as Status)) {
        // the server closes the stream after a terminal status; don't let the browser reopen it
        source.close()
        setState('ended')
      }
      timer ??= setTimeout(flush, FLUSH_MS)
    }

    for (const kind of EVENT_KINDS) source.addEventListener(kind, onEvent)
    source.onopen = () => setState('live')
    source.onerror = () => {
      if (source.readyState === EventSource.CLOSED) {
        setState((s) => (s === 'ended' ? s : 'failed'))
      } else {
        setState((s) => (s === 'ended' ? s : 'reconnecting'))
      }
    }
    return () => {
      source.close()
      if (timer !== undefined) clearTimeout(timer)
      flush()
    }
  }, [taskId, attempt, client])

  const reconnect = useCallback(() => {
    setState('connecting')
    setAttempt((n) => n + 1)
  }, [])

  return { events: log.taskId === taskId ? log.events : [], state, reconnect }
}
