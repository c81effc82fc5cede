import { useEffect, useState } from 'react'
import { useSearchParams } from 'react-router'
import { useTaskPages } from '../api/queries'
import { STATUSES, type Status } from '../api/types'
import { TaskList } from '../components/TaskList'
import { Button, ErrorNotice, inputClass, Section } from '../components/ui'

/** Filters live in the address (`/tasks?status=failed&q=parser`), so a filtered view is a link. */
export function HistoryPage() {
  const [params, setParams] = useSearchParams()
  const status = (params.get('status') ?? '') as Status | ''
  const repo = params.get('repo') ?? ''
  const q = params.get('q') ?? ''
  const [text, setText] = useState(q)
  const pages = useTaskPages({ status, repo, q })

  useEffect(() => {
    document.title = 'History · Errand'
  }, [])

  // search as the user types, without a request per keystroke
  useEffect(() => {
    const t = setTimeout(() => {
      if (text !== q) update('q', text)
    }, 300)
    return () => clearTimeout(t)
  })

  function update(key: string, value: string) {
    setParams(
      (prev) => {
        const next = new URLSearchParams(prev)
        if (value) next.set(key, value)
        else next.delete(key)
        return next
      },
      { replace: true },
    )
  }

  const tasks = pages.data?.pages.flatMap((p) => p.tasks) ?? []
  return (
    <Section title="Task history" id="history">
      <h1 className="sr-only">Task history</h1>
      <form className="mb-4 grid grid-cols-1 gap-3 sm:grid-cols-3" role="search" onSubmit={(e) => e.preventDefault()}>
        <label className="text-sm">
          <span className="mb-1 block font-medium">Status</span>
          <select value={status} onChange={(e) => update('status', e.target.value)} className={inputClass}>
            <option value="">any</option>
            {STATUSES.map((s) => (
              <option key={s} value={s}>
                {s.replace(/_/g, ' ')}
              </option>
            ))}
          </select>
        </label>
        <label className="text-sm">
          <span className="mb-1 block font-medium">Repository</span>
          <input value={repo} onChange={(e) => update('repo', e.target.value)} className={inputClass} placeholder="exact repository" />
        </label>
        <label className="text-sm">
          <span className="mb-1 block font-medium">Prompt contains</span>
          <input type="search" value={text} onChange={(e) => setText(e.target.value)} className={inputClass} placeholder="search prompts" />
        </label>
      </form>
      {pages.error ? <ErrorNotice error={pages.error} /> : null}
      {pages.isPending ? <p className="text-sm">Loading…</p> : <TaskList tasks={tasks} empty={status || repo || q ? 'No task matches these filters.' : 'No tasks yet.'} />}
      {pages.hasNextPage ? (
        <Button className="mt-3" onClick={() => void pages.fetchNextPage()} disabled={pages.isFetchingNextPage}>
          {pages.isFetchingNextPage ? 'Loading…' : 'Show older tasks'}
        </Button>
      ) : null}
    </Section>
  )
}
