import { useEffect, useMemo, useState } from 'react'
import { Link, useParams } from 'react-router'
import {
  useApproveDiff,
  useApprovePlan,
  useCancel,
  useHasRoute,
  useRejectPlan,
  useRequestChanges,
  useRetry,
  useTask,
} from '../api/queries'
import { TERMINAL, type Usage } from '../api/types'
import { AudioSummary } from '../components/AudioSummary'
import { DiffReview } from '../components/DiffReview'
import { LogPanel } from '../components/LogPanel'
import { PlanReview } from '../components/PlanReview'
import { ResultPanel } from '../components/ResultPanel'
import { TestVerdict } from '../components/TestVerdict'
import { Timeline } from '../components/Timeline'
import { ErrorNotice, Section, StatusBadge } from '../components/ui'
import { useTaskEvents } from '../hooks/useTaskEvents'
import { logLines } from '../lib/logs'
import { timeline } from '../lib/timeline'

function useNow(running: boolean): number {
  const [now, setNow] = useState(() => Date.now())
  useEffect(() => {
    if (!running) return
    const t = setInterval(() => setNow(Date.now()), 1000)
    return () => clearInterval(t)
  }, [running])
  return now
}

export function TaskPage() {
  const { id = '' } = useParams()
  const task = useTask(id)
  const stream = useTaskEvents(id)
  const [search, setSearch] = useState('')
  const approvePlan = useApprovePlan(id)
  const rejectPlan = useRejectPlan(id)
  const approveDiff = useApproveDiff(id)
  const requestChanges = useRequestChanges(id)
  const cancel = useCancel(id)
  const retry = useRetry(id)
  const canReject = useHasRoute('POST /api/tasks/{task_id}/plan/reject')
  const canRequest = useHasRoute('POST /api/tasks/{task_id}/diff/request-changes')
  const canRetry = useHasRoute('POST /api/tasks/{task_id}/retry')
  const t = task.data
  const running = t ? !TERMINAL.has(t.status) : false
  const now = useNow(running)
  const lines = useMemo(() => logLines(stream.events), [stream.events])
  const steps = useMemo(() => (t ? timeline(stream.events, t, now) : []), [stream.events, t, now])
  const usage: Usage | undefined = useMemo(() => {
    const last = [...stream.events].reverse().find((e) => e.kind === 'cost')
    return last ? (last.data as unknown as Usage) : t?.usage
  }, [stream.events, t?.usage])

  useEffect(() => {
    document.title = t ? `${t.prompt.slice(0, 40)} · Errand` : 'Task · Errand'
  }, [t])

  if (task.error) return <ErrorNotice error={task.error} />
  if (!t) return <p>Loading the task…</p>

  const gate = t.status === 'plan_review' ? 'plan' : t.status === 'diff_review' ? 'diff' : null
  const currentStep = gate
    ? ''
    : running
      ? ([...lines].reverse().find((l) => l.kind === 'log' || l.kind === 'tool' || l.kind === 'output')?.text.split('\n')[0] ?? '')
      : ''
  const mutating = approvePlan.isPending || rejectPlan.isPending || approveDiff.isPending || requestChanges.isPending
  const showOutput = (testId: string) => {
    const short = testId.split('::').pop() ?? testId
    setSearch(short)
    document.getElementById('log')?.scrollIntoView({ behavior: 'smooth' })
  }

  return (
    <div className="space-y-4">
      <div>
        <p className="text-sm">
          <Link to="/tasks" className="text-indigo-700 underline dark:text-indigo-300">
            History
          </Link>{' '}
          / <span className="font-mono">{t.id}</span>
        </p>
        <h1 className="mt-1 flex flex-wrap items-center gap-2 text-xl font-semibold">
          <span className="break-words">{t.prompt.length > 140 ? `${t.prompt.slice(0, 140)}…` : t.prompt}</span>
          <StatusBadge status={t.status} />
        </h1>
        <p className="text-sm text-slate-600 dark:text-slate-400">
          {t.repo}
          {t.base_branch ? ` @ ${t.base_branch}` : ''} · started <time dateTime={t.created_at}>{new Date(t.created_at).toLocaleString()}</time>
        </p>
      </div>
      <Section title="Progress" id="progress">
        <Timeline steps={steps} currentStep={currentStep} />
        {gate ? (
          <p className="mt-3 text-sm font-medium">
            Waiting for you:{' '}
            <a href={`#${gate}`} className="text-indigo-700 underline dark:text-indigo-300">
              review the {gate}
            </a>
          </p>
        ) : null}
      </Section>
      <Section title="Result" id="result">
        <ResultPanel
          task={t}
          usage={usage ?? t.usage}
          canRetry={canRetry}
          busy={cancel.isPending || retry.isPending}
          error={cancel.error ?? retry.error}
          onRetry={(fromStart) => retry.mutate(fromStart, { onSuccess: () => stream.reconnect() })}
          onCancel={() => cancel.mutate()}
        />
      </Section>
      {t.plan ? (
        <Section title={t.status === 'plan_review' ? 'Review the plan' : 'Plan'} id="plan">
          <PlanReview
            key={`${t.id}-${t.status}-${JSON.stringify(t.plan)}`}
            plan={t.plan}
            editable={t.status === 'plan_review'}
            busy={mutating}
            error={approvePlan.error ?? rejectPlan.error}
            canReject={canReject}
            onApprove={(plan) => approvePlan.mutate(plan)}
            onReject={(feedback) => rejectPlan.mutate(feedback)}
          />
        </Section>
      ) : null}
      {t.diff ? (
        <Section title={t.status === 'diff_review' ? 'Review the diff' : 'Diff'} id="diff">
          <DiffReview
            diff={t.diff}
            conformance={t.conformance}
            gate={t.status === 'diff_review'}
            busy={mutating}
            error={approveDiff.error ?? requestChanges.error}
            canRequestChanges={canRequest}
            onApprove={() => approveDiff.mutate()}
            onRequestChanges={(feedback) => requestChanges.mutate(feedback)}
          />
        </Section>
      ) : null}
      <Section title="Tests" id="tests">
        <TestVerdict tests={t.tests} onShowOutput={showOutput} />
      </Section>
      {t.audio ? (
        <Section title="Spoken summary" id="summary">
          <AudioSummary audio={t.audio} />
        </Section>
      ) : null}
      <Section title="Log" id="log">
        <LogPanel lines={lines} state={stream.state} onReconnect={stream.reconnect} search={search} onSearch={setSearch} />
      </Section>
    </div>
  )
}
