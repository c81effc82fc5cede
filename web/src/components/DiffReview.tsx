import { useEffect, useMemo, useState, type ReactNode } from 'react'
import { Diff, Hunk, tokenize, type HunkTokens, type RenderToken, type ViewType } from 'react-diff-view'
import type { Conformance } from '../api/types'
import { diffFiles, languageOf, type DiffFile } from '../lib/diff'
import { shikiRefractor } from '../lib/highlight'
import { Button, ErrorNotice, inputClass, Notice } from './ui'

const renderToken: RenderToken = (token, renderDefault, i) => {
  if (token.type === 'shiki') {
    const style = { '--tok-light': token.light as string, '--tok-dark': token.dark as string } as React.CSSProperties
    return (
      <span key={i} className="shiki-token" style={style}>
        {(token.children ?? []).map((c, j) => renderDefault(c, j))}
      </span>
    )
  }
  return renderDefault(token, i)
}

function useTokens(file: DiffFile): HunkTokens | undefined {
  const [tokens, setTokens] = useState<HunkTokens | undefined>()
  useEffect(() => {
    const lang = languageOf(file.path)
    if (!lang || !file.file.hunks.length) return
    let live = true
    void shikiRefractor(lang).then((refractor) => {
      if (!live || !refractor) return
      // refractor-shaped: react-diff-view only calls highlight(text, language)
      const opts = { highlight: true, language: lang, refractor } as unknown as Parameters<typeof tokenize>[1]
      setTokens(tokenize(file.file.hunks, opts))
    })
    return () => {
      live = false
    }
  }, [file])
  return tokens
}

function FileDiff({ file, viewType, warning }: { file: DiffFile; viewType: ViewType; warning: ReactNode }) {
  const [open, setOpen] = useState(true)
  const tokens = useTokens(file)
  const id = `file-${file.path.replace(/[^a-zA-Z0-9]/g, '-')}`
  return (
    <div className="overflow-hidden rounded-md border border-slate-200 dark:border-slate-700">
      <h3 className="flex flex-wrap items-center gap-2 bg-slate-50 px-3 py-2 text-sm dark:bg-slate-900">
        <button type="button" aria-expanded={open} aria-controls={id} onClick={() => setOpen(!open)} className="flex min-w-0 items-center gap-2 rounded font-mono focus-visible:outline-2 focus-visible:outline-indigo-500">
          <span aria-hidden="true">{open ? '▾' : '▸'}</span>
          <span className="truncate">{file.path}</span>
        </button>
        {file.file.type !== 'modify' ? <span className="text-xs text-slate-600 dark:text-slate-400">({file.file.type})</span> : null}
        <span className="ml-auto font-mono text-xs">
          <span className="text-emerald-700 dark:text-emerald-400">+{file.added}</span> <span className="text-red-700 dark:text-red-400">−{file.removed}</span>
        </span>
      </h3>
      {warning ? <div className="px-3 py-2">{warning}</div> : null}
      <div id={id} hidden={!open} className="overflow-x-auto">
        {file.file.hunks.length ? (
          <Diff viewType={viewType} diffType={file.file.type} hunks={file.file.hunks} tokens={tokens} renderToken={renderToken}>
            {(hunks) => hunks.map((h) => <Hunk key={h.content} hunk={h} />)}
          </Diff>
        ) : (
          <p className="px-3 py-2 text-sm text-slate-600 dark:text-slate-400">No text changes (binary or mode change).</p>
        )}
      </div>
    </div>
  )
}

interface Props {
  diff: string
  conformance: Conformance
  gate: boolean
  busy: boolean
  error: unknown
  canRequestChanges: boolean | undefined
  onApprove: () => void
  onRequestChanges: (feedback: string) => void
}

export function DiffReview({ diff, conformance, gate, busy, error, canRequestChanges, onApprove, onRequestChanges }: Props) {
  const files = useMemo(() => diffFiles(diff), [diff])
  const [viewType, setViewType] = useState<ViewType>(() => (window.innerWidth < 768 ? 'unified' : 'split'))
  const [feedback, setFeedback] = useState('')
  const added = files.reduce((n, f) => n + f.added, 0)
  const removed = files.reduce((n, f) => n + f.removed, 0)
  const unplanned = new Set(conformance.unplanned_files)

  if (!files.length) return <p className="text-sm text-slate-600 dark:text-slate-400">The change is empty.</p>
  return (
    <div className="space-y-3">
      <div className="flex flex-wrap items-center gap-3 text-sm">
        <span>
          {files.length} {files.length === 1 ? 'file' : 'files'}, <span className="text-emerald-700 dark:text-emerald-400">+{added}</span>{' '}
          <span className="text-red-700 dark:text-red-400">−{removed}</span>
        </span>
        <fieldset className="ml-auto flex items-center gap-2">
          <legend className="sr-only">Diff layout</legend>
          {(['unified', 'split'] as const).map((v) => (
            <label key={v} className="flex items-center gap-1">
              <input type="radio" name="view" value={v} checked={viewType === v} onChange={() => setViewType(v)} className="accent-indigo-600" />
              {v === 'unified' ? 'Unified' : 'Split'}
            </label>
          ))}
        </fieldset>
      </div>
      {conformance.untouched_steps.length ? (
        <Notice tone="warn">
          Plan steps without a change: {conformance.untouched_steps.join('; ')}
        </Notice>
      ) : null}
      {files.map((f) => (
        <FileDiff
          key={f.path}
          file={f}
          viewType={viewType}
          warning={unplanned.has(f.path) ? <Notice tone="warn">This file is not in the approved plan.</Notice> : null}
        />
      ))}
      {gate ? (
        <div className="space-y-3 border-t border-slate-200 pt-3 dark:border-slate-800">
          {error ? <ErrorNotice error={error} /> : null}
          <Button variant="primary" onClick={onApprove} disabled={busy}>
            Approve the diff and publish
          </Button>
          <div>
            <label htmlFor="diff-feedback" className="mb-1 block text-sm font-medium">
              Or request changes (a new round of work)
            </label>
            <textarea id="diff-feedback" rows={2} value={feedback} onChange={(e) => setFeedback(e.target.value)} className={inputClass} disabled={canRequestChanges === false} />
            <div className="mt-2 flex flex-wrap items-center gap-2">
              <Button variant="danger" disabled={busy || !feedback.trim() || canRequestChanges !== true} onClick={() => onRequestChanges(feedback.trim())}>
                Request changes
              </Button>
              {canRequestChanges === false ? <span className="text-xs text-slate-600 dark:text-slate-400">This server cannot take change requests yet.</span> : null}
            </div>
          </div>
        </div>
      ) : null}
    </div>
  )
}
