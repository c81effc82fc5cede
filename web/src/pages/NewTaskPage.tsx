import { useState, type SyntheticEvent } from 'react'
import { useNavigate } from 'react-router'
import { useBranches, useCreateTask, useMe, useRepos, useTaskPages } from '../api/queries'
import { TaskList } from '../components/TaskList'
import { Button, ErrorNotice, inputClass, Section } from '../components/ui'

export const MAX_PROMPT = 100_000

export function NewTaskPage() {
  const navigate = useNavigate()
  const create = useCreateTask()
  const me = useMe()
  const repos = useRepos()
  const recent = useTaskPages({}, 5)
  const [repo, setRepo] = useState('')
  const [branch, setBranch] = useState('')
  const [prompt, setPrompt] = useState('')
  const [model, setModel] = useState('')
  const [reviewGates, setReviewGates] = useState(true)
  // branches are offered for the repositories the server lists (GitHub names or local paths)
  const branches = useBranches(repo, Boolean(repos.data?.repos.some((r) => r.full_name === repo)))

  const repoList = repos.data?.repos ?? null
  const models = me.data ? [...new Set([me.data.default_model, ...me.data.models].filter(Boolean))] : null
  const tooLong = prompt.length > MAX_PROMPT
  const canSubmit = repo.trim() !== '' && prompt.trim() !== '' && !tooLong && !create.isPending

  const submit = (e: SyntheticEvent<HTMLFormElement>) => {
    e.preventDefault()
    if (!canSubmit) return
    create.mutate(
      {
        repo: repo.trim(),
        prompt,
        ...(branch.trim() ? { branch: branch.trim() } : {}),
        ...(model.trim() ? { model: model.trim() } : {}),
        auto_approve: !reviewGates,
      },
      { onSuccess: (task) => void navigate(`/tasks/${task.id}`) },
    )
  }

  return (
    <div className="grid grid-cols-1 gap-6 lg:grid-cols-[3fr_2fr]">
      <Section title="New task" id="new-task">
        <form onSubmit={submit} className="space-y-4" noValidate>
          <div>
            <label htmlFor="repo" className="mb-1 block text-sm font-medium">
              Repository
            </label>
            {/* a combobox: the repositories the server lists, or any path / owner/name typed in */}
            <input
              id="repo"
              list={repoList ? 'repo-options' : undefined}
              value={repo}
              onChange={(e) => setRepo(e.target.value)}
              className={inputClass}
              placeholder={repoList ? 'choose one, or type a path or owner/name' : '/path/to/a/local/repository'}
              aria-describedby="repo-help"
              autoComplete="off"
              required
            />
            {repoList && (
              <datalist id="repo-options">
                {repoList.map((r) => (
                  <option key={r.full_name} value={r.full_name}>
                    {r.private ? 'private' : ''}
                  </option>
                ))}
              </datalist>
            )}
            <p id="repo-help" className="mt-1 text-xs text-slate-600 dark:text-slate-400">
              {repoList
                ? 'Repositories you used or may use here; another one can be typed in.'
                : 'A local git repository on the server machine.'}
            </p>
          </div>
          <div>
            <label htmlFor="branch" className="mb-1 block text-sm font-medium">
              Base branch <span className="font-normal text-slate-600 dark:text-slate-400">(optional)</span>
            </label>
            <input id="branch" list="branch-options" value={branch} onChange={(e) => setBranch(e.target.value)} className={inputClass} placeholder={repoList?.find((r) => r.full_name === repo)?.default_branch ?? "the repository's default branch"} autoComplete="off" />
            <datalist id="branch-options">
              {(branches.data?.branches ?? []).map((b) => (
                <option key={b} value={b} />
              ))}
            </datalist>
          </div>
          <div>
            <label htmlFor="prompt" className="mb-1 block text-sm font-medium">
              What should Errand do?
            </label>
            <textarea
              id="prompt"
              value={prompt}
              onChange={(e) => setPrompt(e.target.value)}
              rows={6}
              className={inputClass}
              aria-describedby="prompt-count"
              placeholder="Fix the failing test in calc.py and add a test for division by zero."
              required
            />
            <p id="prompt-count" className={`mt-1 text-xs ${tooLong ? 'font-medium text-red-700 dark:text-red-300' : 'text-slate-600 dark:text-slate-400'}`} aria-live="polite">
              {prompt.length.toLocaleString()} / {MAX_PROMPT.toLocaleString()} characters{tooLong ? ' — shorten the prompt' : ''}
            </p>
          </div>
          <div>
            <label htmlFor="model" className="mb-1 block text-sm font-medium">
              Model
            </label>
            {models ? (
              <select id="model" value={model} onChange={(e) => setModel(e.target.value)} className={inputClass}>
                {models.map((m, i) => (
                  <option key={m} value={i === 0 ? '' : m}>
                    {m}
                    {i === 0 ? ' (default)' : ''}
                  </option>
                ))}
              </select>
            ) : (
              <input id="model" value={model} onChange={(e) => setModel(e.target.value)} className={inputClass} placeholder="the server's default model" aria-describedby="model-help" autoComplete="off" />
            )}
            <p id="model-help" className="mt-1 text-xs text-slate-600 dark:text-slate-400">
              {models ? 'The default, plus the providers you stored keys for.' : 'Any litellm model string; empty uses the server default (ERRAND_MODEL).'}
            </p>
          </div>
          <div className="flex items-start gap-2">
            <input id="gates" type="checkbox" checked={reviewGates} onChange={(e) => setReviewGates(e.target.checked)} className="mt-1 size-4 accent-indigo-600" />
            <label htmlFor="gates" className="text-sm">
              <span className="font-medium">Stop for my review</span> of the plan and of the diff before publishing
              <span className="block text-xs text-slate-600 dark:text-slate-400">Off: Errand approves both gates itself and publishes the branch.</span>
            </label>
          </div>
          {create.error ? <ErrorNotice error={create.error} /> : null}
          <Button type="submit" variant="primary" disabled={!canSubmit}>
            {create.isPending ? 'Starting…' : 'Start task'}
          </Button>
        </form>
      </Section>
      <Section title="Recent tasks" id="recent">
        {recent.error ? <ErrorNotice error={recent.error} /> : null}
        {recent.data ? <TaskList tasks={recent.data.pages[0]?.tasks ?? []} empty="No tasks yet." /> : recent.isPending ? <p className="text-sm">Loading…</p> : null}
      </Section>
    </div>
  )
}
