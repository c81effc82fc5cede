import type { Step } from '../lib/timeline'
import { formatSeconds } from '../lib/timeline'

const DOT: Record<Step['state'], string> = {
  done: 'bg-emerald-600',
  current: 'bg-indigo-600 animate-pulse',
  pending: 'bg-slate-300 dark:bg-slate-700',
  skipped: 'bg-slate-300 dark:bg-slate-700',
  failed: 'bg-red-600',
}

export function Timeline({ steps, currentStep }: { steps: Step[]; currentStep: string }) {
  return (
    <ol className="grid grid-cols-2 gap-2 sm:grid-cols-5" aria-label="Stages">
      {steps.map((s) => (
        <li
          key={s.status}
          className="flex flex-col rounded-md border border-slate-200 px-2 py-1.5 text-xs dark:border-slate-800"
          aria-current={s.state === 'current' ? 'step' : undefined}
        >
          <span className="flex items-center gap-1.5 font-medium">
            <span className={`inline-block size-2 rounded-full ${DOT[s.state]}`} aria-hidden="true" />
            {s.label}
            <span className="sr-only">: {s.state}</span>
          </span>
          <span className="text-slate-600 dark:text-slate-400">
            {s.state === 'skipped' ? 'skipped' : s.seconds !== null ? formatSeconds(s.seconds) : s.state === 'pending' ? '—' : ''}
            {s.visits > 1 ? ` · ${s.visits} rounds` : ''}
          </span>
        </li>
      ))}
      {currentStep ? (
        <li className="col-span-full text-sm text-slate-700 dark:text-slate-300" aria-live="polite">
          <span className="font-medium">Now: </span>
          <span className="break-words">{currentStep}</span>
        </li>
      ) : null}
    </ol>
  )
}
