import type { Task, Usage } from '../api/types'
import { TERMINAL } from '../api/types'
import { Button, ErrorNotice, Notice } from './ui'

// What to do next, by error code; the message itself already says what went wrong.
const NEXT: Record<string, string> = {
  cancelled: 'Retry to run it again.',
  budget_exceeded: 'Raise the budget (ERRAND_MAX_COST_USD, ERRAND_MAX_TOKENS) or narrow the task, then retry.',
  model_error: 'Check the model name and its key in Settings, then retry.',
}

export function ResultPanel({
  task,
  usage,
  canRetry,
  busy,
  error,
  onRetry,
  onCancel,
}: {
  task: Task
  usage: Usage
  canRetry: boolean | undefined
  busy: boolean
  error: unknown
  onRetry: (fromStart: boolean) => void
  onCancel: () => void
}) {
  const ended = TERMINAL.has(task.status)
  return (
    <div className="space-y-3 text-sm">
      {task.branch ? (
        <p>
          Branch: <code className="rounded bg-slate-100 px-1 font-mono dark:bg-slate-800" data-testid="branch">{task.branch}</code>
          {/^https?:\/\//.test(task.pr_url) ? (
            <>
              {' · '}
              <a href={task.pr_url} className="text-indigo-700 underline dark:text-indigo-300" target="_blank" rel="noreferrer">
                Open the pull request
              </a>
            </>
          ) : task.pr_url ? (
            <span className="block text-xs text-slate-600 dark:text-slate-400">
              Change request in the local repository: <code className="break-all">{task.pr_url}</code>
            </span>
          ) : null}
        </p>
      ) : (
        <p className="text-slate-600 dark:text-slate-400">No branch yet: it is pushed when the diff is published.</p>
      )}
      <p>
        Model <code className="font-mono">{task.model}</code> · {usage.prompt_tokens.toLocaleString()} prompt + {usage.completion_tokens.toLocaleString()} completion tokens ·{' '}
        <span data-testid="cost">${usage.cost_usd.toFixed(4)}</span>
        {!ended ? <span className="text-slate-600 dark:text-slate-400"> (live)</span> : null}
      </p>
      {task.error && task.status === 'failed' ? (
        <Notice tone="error">
          <p className="font-medium">The task failed: {task.error.message}</p>
          <p>{NEXT[task.error.code] ?? 'Look at the log above for the last step, then retry.'}</p>
        </Notice>
      ) : null}
      {task.status === 'cancelled' ? <Notice>The task was cancelled.</Notice> : null}
      {error ? <ErrorNotice error={error} /> : null}
      <div className="flex flex-wrap items-center gap-2">
        {!ended ? (
          <Button variant="danger" onClick={onCancel} disabled={busy}>
            Cancel the task
          </Button>
        ) : null}
        {task.status === 'failed' || task.status === 'cancelled' ? (
          <>
            <Button variant="primary" onClick={() => onRetry(false)} disabled={busy || canRetry !== true}>
              Retry from the failed stage
            </Button>
            <Button onClick={() => onRetry(true)} disabled={busy || canRetry !== true}>
              Retry from the start
            </Button>
            {canRetry === false ? <span className="text-xs text-slate-600 dark:text-slate-400">This server cannot retry tasks yet; start a new task with the same prompt.</span> : null}
          </>
        ) : null}
      </div>
    </div>
  )
}
