import { useEffect, useState, type SyntheticEvent } from 'react'
import { useDeleteKey, useMe, useModelKeys, useSaveKey, useUsage } from '../api/queries'
import { Button, ErrorNotice, inputClass, Notice, Section } from '../components/ui'

function KeyForm() {
  const save = useSaveKey()
  const [provider, setProvider] = useState('')
  const [key, setKey] = useState('')
  const [base, setBase] = useState('')
  const submit = (e: SyntheticEvent<HTMLFormElement>) => {
    e.preventDefault()
    if (!provider.trim() || !key) return
    save.mutate(
      { provider: provider.trim(), key, ...(base.trim() ? { api_base: base.trim() } : {}) },
      {
        onSuccess: () => {
          setKey('') // write-only: the key leaves the page once stored
          setBase('')
        },
      },
    )
  }
  return (
    <form onSubmit={submit} className="grid gap-3 sm:grid-cols-3" autoComplete="off">
      <label className="text-sm">
        <span className="mb-1 block font-medium">Provider</span>
        <input value={provider} onChange={(e) => setProvider(e.target.value)} className={inputClass} placeholder="openai" />
      </label>
      <label className="text-sm">
        <span className="mb-1 block font-medium">API key</span>
        <input type="password" value={key} onChange={(e) => setKey(e.target.value)} className={inputClass} autoComplete="new-password" />
      </label>
      <label className="text-sm">
        <span className="mb-1 block font-medium">API base (optional)</span>
        <input value={base} onChange={(e) => setBase(e.target.value)} className={inputClass} placeholder="https://…/v1" />
      </label>
      <div className="sm:col-span-3">
        {save.error ? <ErrorNotice error={save.error} /> : null}
        <Button type="submit" variant="primary" disabled={save.isPending || !provider.trim() || !key}>
          Store the key
        </Button>
      </div>
    </form>
  )
}

export function SettingsPage() {
  const me = useMe()
  const available = Boolean(me.data)
  const keys = useModelKeys(available)
  const usage = useUsage(available)
  const remove = useDeleteKey()

  useEffect(() => {
    document.title = 'Settings · Errand'
  }, [])

  if (me.isPending) return <p>Loading…</p>
  if (me.error) return <ErrorNotice error={me.error} />
  if (!me.data) {
    return (
      <Section title="Settings" id="settings">
        <h1 className="sr-only">Settings</h1>
        <Notice>
          <p className="font-medium">Model keys, your default model and usage need the accounts feature, which this server does not offer yet.</p>
          <p>Until then every task uses the operator's default model and key (ERRAND_MODEL, ERRAND_MODEL_API_KEY on the server).</p>
        </Notice>
      </Section>
    )
  }
  return (
    <div className="space-y-4">
      <h1 className="sr-only">Settings</h1>
      <Section title="Model keys" id="keys">
        <p className="mb-3 text-sm text-slate-600 dark:text-slate-400">Keys are write-only: stored encrypted, shown by their last four characters.</p>
        {keys.error ? <ErrorNotice error={keys.error} /> : null}
        <ul className="mb-4 divide-y divide-slate-200 text-sm dark:divide-slate-800">
          {(keys.data?.keys ?? []).map((k) => (
            <li key={k.provider} className="flex flex-wrap items-center gap-2 py-2">
              <span className="font-medium">{k.provider}</span>
              <code className="font-mono">••••{k.last4}</code>
              {k.api_base ? <span className="text-slate-600 dark:text-slate-400">{k.api_base}</span> : null}
              <Button className="ml-auto" onClick={() => remove.mutate(k.provider)} disabled={remove.isPending} aria-label={`Delete the ${k.provider} key`}>
                Delete
              </Button>
            </li>
          ))}
          {keys.data && !keys.data.keys.length ? <li className="py-2 text-slate-600 dark:text-slate-400">No keys stored.</li> : null}
        </ul>
        <KeyForm />
      </Section>
      <Section title="Default model" id="model">
        <p className="text-sm">
          <code className="font-mono">{me.data.default_model || '(none set)'}</code>
        </p>
      </Section>
      <Section title="Quota and budget" id="usage">
        {usage.error ? <ErrorNotice error={usage.error} /> : null}
        <dl className="grid grid-cols-[auto_1fr] gap-x-4 gap-y-1 text-sm">
          {Object.entries({ ...me.data.limits, ...(usage.data ?? {}) }).map(([k, v]) => (
            <div key={k} className="contents">
              <dt className="font-medium">{k.replace(/_/g, ' ')}</dt>
              <dd>{typeof v === 'string' ? v : JSON.stringify(v)}</dd>
            </div>
          ))}
        </dl>
      </Section>
    </div>
  )
}
