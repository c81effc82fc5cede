import { QueryClient, QueryClientProvider } from '@tanstack/react-query'
import { act, renderHook } from '@testing-library/react'
import type { ReactNode } from 'react'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { FakeEventSource } from '../test/fakes'
import { useTaskEvents } from './useTaskEvents'

function setup(taskId = 't_1') {
  const client = new QueryClient()
  const wrapper = ({ children }: { children: ReactNode }) => <QueryClientProvider client={client}>{children}</QueryClientProvider>
  return renderHook(({ id }) => useTaskEvents(id), { wrapper, initialProps: { id: taskId } })
}

const last = () => {
  const source = FakeEventSource.instances.at(-1)
  if (!source) throw new Error('no EventSource was opened')
  return source
}

describe('useTaskEvents', () => {
  beforeEach(() => {
    vi.useFakeTimers()
    FakeEventSource.instances = []
    vi.stubGlobal('EventSource', FakeEventSource)
  })
  afterEach(() => {
    vi.useRealTimers()
    vi.unstubAllGlobals()
  })

  it('streams events in order and drops what a reconnect replays', () => {
    const { result } = setup()
    const source = last()
    expect(source.url).toBe('/api/tasks/t_1/events')
    act(() => {
      source.open()
      source.emit(1, 'status', { status: 'queued' })
      source.emit(2, 'log', { message: 'cloning', stage: 'prepare' })
      vi.advanceTimersByTime(60)
    })
    expect(result.current.state).toBe('live')
    expect(result.current.events.map((e) => e.id)).toEqual([1, 2])
    act(() => {
      source.drop(false) // the browser reconnects by itself, sending Last-Event-ID: 2
      source.open()
      source.emit(2, 'log', { message: 'cloning', stage: 'prepare' }) // a server that replays once more
      source.emit(3, 'log', { message: 'installing', stage: 'prepare' })
      vi.advanceTimersByTime(60)
    })
    expect(result.current.events.map((e) => e.id)).toEqual([1, 2, 3])
  })

  it('closes the stream on a terminal status so the browser does not reopen it', () => {
    const { result } = setup()
    const source = last()
    act(() => {
      source.open()
      source.emit(5, 'status', { status: 'completed' })
      vi.advanceTimersByTime(60)
    })
    expect(source.readyState).toBe(FakeEventSource.CLOSED)
    expect(result.current.state).toBe('ended')
  })

  it('a manual reconnect after the browser gave up resumes after the last event', () => {
    const { result } = setup()
    act(() => {
      last().open()
      last().emit(7, 'log', { message: 'one', stage: 'plan' })
      vi.advanceTimersByTime(60)
      last().drop(true)
    })
    expect(result.current.state).toBe('failed')
    act(() => result.current.reconnect())
    expect(last().url).toBe('/api/tasks/t_1/events?after=7')
    act(() => {
      last().open()
      last().emit(8, 'log', { message: 'two', stage: 'plan' })
      vi.advanceTimersByTime(60)
    })
    expect(result.current.events.map((e) => e.id)).toEqual([7, 8])
  })

  it('a different task starts from nothing', () => {
    const { result, rerender } = setup('t_1')
    act(() => {
      last().emit(3, 'log', { message: 'x', stage: 'plan' })
      vi.advanceTimersByTime(60)
    })
    rerender({ id: 't_2' })
    expect(result.current.events).toEqual([])
    expect(last().url).toBe('/api/tasks/t_2/events')
  })
})
