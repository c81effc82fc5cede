import { useState } from 'react'
import type { Plan, PlanStep } from '../api/types'
import { filesOf, MAX_STEPS, planProblems } from '../lib/plan'
import { Button, ErrorNotice, inputClass, Notice } from './ui'

interface Props {
  plan: Plan
  editable: boolean
  busy: boolean
  error: unknown
  canReject: boolean | undefined
  onApprove: (edited: Plan | null) => void
  onReject: (feedback: string) => void
}

/** The plan, every step with its files; while the task waits at the gate the steps can be
 * reworded, reordered, deleted and added before approving, or the plan rejected with feedback. */
// the files field keeps what the user typed (separators and all); it is parsed on the way out
type DraftStep = PlanStep & { filesText: string }
interface Draft {
  summary: string
  check_command: string
  steps: DraftStep[]
}

const toDraft = (plan: Plan): Draft => ({
  summary: plan.summary,
  check_command: plan.check_command,
  steps: plan.steps.map((s) => ({ ...s, filesText: s.files.join(', ') })),
})
const fromDraft = (d: Draft): Plan => ({
  summary: d.summary,
  check_command: d.check_command,
  steps: d.steps.map(({ title, details, filesText }) => ({ title, details, files: filesOf(filesText) })),
})

export function PlanReview({ plan, editable, busy, error, canReject, onApprove, onReject }: Props) {
  const [draft, setDraft] = useState<Draft>(() => toDraft(plan))
  const [feedback, setFeedback] = useState('')
  const result = fromDraft(draft)
  const edited = JSON.stringify(result) !== JSON.stringify(plan)
  const problems = planProblems(result)

  const setStep = (i: number, patch: Partial<DraftStep>) =>
    setDraft((d) => ({ ...d, steps: d.steps.map((s, j) => (j === i ? { ...s, ...patch } : s)) }))
  const move = (i: number, by: number) =>
    setDraft((d) => {
      const steps = [...d.steps]
      const j = i + by
      if (j < 0 || j >= steps.length) return d
      const a = steps[i]
      const b = steps[j]
      if (!a || !b) return d
      steps[i] = b
      steps[j] = a
      return { ...d, steps }
    })
  const remove = (i: number) => setDraft((d) => ({ ...d, steps: d.steps.filter((_, j) => j !== i) }))
  const add = () => setDraft((d) => ({ ...d, steps: [...d.steps, { title: '', details: '', files: [], filesText: '' }] }))

  if (!editable) {
    return (
      <div className="space-y-3 text-sm">
        <p className="whitespace-pre-wrap">{plan.summary}</p>
        <ol className="list-decimal space-y-2 pl-5">
          {plan.steps.map((s, i) => (
            <li key={i}>
              <p className="font-medium">{s.title}</p>
              {s.details ? <p className="whitespace-pre-wrap text-slate-700 dark:text-slate-300">{s.details}</p> : null}
              {s.files.length ? <p className="font-mono text-xs text-slate-600 dark:text-slate-400">{s.files.join(', ')}</p> : null}
            </li>
          ))}
        </ol>
      </div>
    )
  }

  return (
    <form
      className="space-y-4"
      onSubmit={(e) => {
        e.preventDefault()
        if (!problems.length) onApprove(edited ? result : null)
      }}
    >
      <div>
        <label htmlFor="plan-summary" className="mb-1 block text-sm font-medium">
          Summary
        </label>
        <textarea id="plan-summary" rows={3} value={draft.summary} onChange={(e) => setDraft({ ...draft, summary: e.target.value })} className={inputClass} />
      </div>
      <ol className="space-y-3">
        {draft.steps.map((s, i) => (
          <li key={i} className="rounded-md border border-slate-200 p-3 dark:border-slate-700" aria-label={`Step ${i + 1}`}>
            <div className="mb-2 flex flex-wrap items-center gap-2">
              <span className="text-sm font-semibold">Step {i + 1}</span>
              <div className="ml-auto flex gap-1">
                <Button onClick={() => move(i, -1)} disabled={i === 0} aria-label={`Move step ${i + 1} up`}>
                  ↑
                </Button>
                <Button onClick={() => move(i, 1)} disabled={i === draft.steps.length - 1} aria-label={`Move step ${i + 1} down`}>
                  ↓
                </Button>
                <Button onClick={() => remove(i)} aria-label={`Delete step ${i + 1}`}>
                  Delete
                </Button>
              </div>
            </div>
            <label className="mb-1 block text-xs font-medium" htmlFor={`step-${i}-title`}>
              Title
            </label>
            <input id={`step-${i}-title`} value={s.title} onChange={(e) => setStep(i, { title: e.target.value })} className={inputClass} />
            <label className="mb-1 mt-2 block text-xs font-medium" htmlFor={`step-${i}-details`}>
              Details
            </label>
            <textarea id={`step-${i}-details`} rows={2} value={s.details} onChange={(e) => setStep(i, { details: e.target.value })} className={inputClass} />
            <label className="mb-1 mt-2 block text-xs font-medium" htmlFor={`step-${i}-files`}>
              Files (comma-separated; mark a new file “path (new)”)
            </label>
            <input id={`step-${i}-files`} value={s.filesText} onChange={(e) => setStep(i, { filesText: e.target.value })} className={`${inputClass} font-mono`} />
          </li>
        ))}
      </ol>
      <Button onClick={add} disabled={draft.steps.length >= MAX_STEPS}>
        Add a step
      </Button>
      {problems.length ? (
        <Notice tone="warn">
          <ul>
            {problems.map((p) => (
              <li key={p}>{p}</li>
            ))}
          </ul>
        </Notice>
      ) : null}
      {error ? <ErrorNotice error={error} /> : null}
      <div className="flex flex-wrap items-center gap-2">
        <Button type="submit" variant="primary" disabled={busy || problems.length > 0}>
          {edited ? 'Approve the edited plan' : 'Approve the plan'}
        </Button>
        {edited ? (
          <Button onClick={() => setDraft(toDraft(plan))} disabled={busy}>
            Undo my edits
          </Button>
        ) : null}
      </div>
      <div className="border-t border-slate-200 pt-3 dark:border-slate-800">
        <label htmlFor="plan-feedback" className="mb-1 block text-sm font-medium">
          Or reject it, and tell the model what to change
        </label>
        <textarea id="plan-feedback" rows={2} value={feedback} onChange={(e) => setFeedback(e.target.value)} className={inputClass} disabled={canReject === false} />
        <div className="mt-2 flex flex-wrap items-center gap-2">
          <Button variant="danger" disabled={busy || !feedback.trim() || canReject !== true} onClick={() => onReject(feedback.trim())}>
            Reject with feedback
          </Button>
          {canReject === false ? <span className="text-xs text-slate-600 dark:text-slate-400">This server cannot take plan feedback yet; edit the steps above instead.</span> : null}
        </div>
      </div>
    </form>
  )
}
