import { Link } from 'react-router'
import type { Task } from '../api/types'
import { StatusBadge } from './ui'

export function TaskList({ tasks, empty }: { tasks: Task[]; empty: string }) {
  if (!tasks.length) return <p className="text-sm text-slate-600 dark:text-slate-400">{empty}</p>
  return (
    <ul className="divide-y divide-slate-200 dark:divide-slate-800">
      {tasks.map((t) => (
        <li key={t.id} className="py-2">
          <Link to={`/tasks/${t.id}`} className="group block rounded focus-visible:outline-2 focus-visible:outline-indigo-500">
            <div className="flex flex-wrap items-center gap-2">
              <StatusBadge status={t.status} />
              <span className="min-w-0 flex-1 truncate font-medium group-hover:underline">{t.prompt}</span>
            </div>
            <div className="mt-0.5 flex flex-wrap gap-x-3 text-xs text-slate-600 dark:text-slate-400">
              <span className="max-w-full truncate">{t.repo}</span>
              <span>{t.id}</span>
              <time dateTime={t.created_at}>{new Date(t.created_at).toLocaleString()}</time>
            </div>
          </Link>
        </li>
      ))}
    </ul>
  )
}
