import { useEffect, useState, type SyntheticEvent } from 'react'
import { useLocation, useSearchParams } from 'react-router'
import { ApiError } from '../api/client'
import { useCliLogin, useDecideCliLogin, useMe } from '../api/queries'
import type { CliLoginDecision, CliLoginRequest } from '../api/types'
import { Button, ErrorNotice, inputClass, Notice, Section } from '../components/ui'
import { rememberPage } from '../lib/resume'
import { formatCode } from '../lib/userCode'

function CodeForm({ initial, onCode }: { initial: string; onCode: (code: string) => void }) {
  const [typed, setTyped] = useState(initial)
  const submit = (e: SyntheticEvent<HTMLFormElement>) => {
    e.preventDefault()
    if (typed.trim()) onCode(formatCode(typed))
  }
  return (
    <form onSubmit={submit} className="flex flex-wrap items-end gap-2" autoComplete="off">
      <label className="text-sm">
        <span className="mb-1 block font-medium">Code shown by <code>errand login</code></span>
        <input
          value={typed}
          onChange={(e) => setTyped(e.target.value)}
          className={`${inputClass} font-mono uppercase tracking-widest`}
          placeholder="BCDF-GHJK"
          maxLength={20}
          autoCapitalize="characters"
          spellCheck={false}
        />
      </label>
      <Button type="submit" variant="primary" disabled={!typed.trim()}>
        Continue
      </Button>
    </form>
  )
}

function Decided({ result, login }: { result: CliLoginDecision; login: string }) {
  if (result.status === 'approved') {
    return (
      <Notice>
        <p className="font-medium">
          Approved: the CLI on {result.host} is signed in as {login}.
        </p>
        <p>
          Go back to your terminal; you can close this tab. Its token is named “errand login on {result.host}”: <code>errand token list</code> shows it and{' '}
          <code>errand token revoke</code> ends it.
        </p>
      </Notice>
    )
  }
  return (
    <Notice tone="warn">
      <p className="font-medium">Denied: the CLI on {result.host} was told so and got nothing.</p>
      <p>If you did not start that login, someone may have sent you the link: nothing on your account changed.</p>
    </Notice>
  )
}

function Request({ request, code, login }: { request: CliLoginRequest; code: string; login: string }) {
  const decide = useDecideCliLogin(code)
  if (decide.data) return <Decided result={decide.data} login={login} />
  const expires = new Date(request.expires_at).toLocaleTimeString()
  return (
    <div className="space-y-4">
      <p>
        The Errand command line on <strong>{request.host}</strong> asks to act as <strong>{login}</strong>.
      </p>
      <div>
        <p className="text-sm text-slate-600 dark:text-slate-400">Check that your terminal shows this same code:</p>
        <p className="mt-1 font-mono text-3xl font-semibold tracking-widest" aria-label={`code ${request.user_code}`} data-testid="user-code">
          {request.user_code}
        </p>
      </div>
      <dl className="grid grid-cols-[auto_1fr] gap-x-4 gap-y-1 text-sm">
        <dt className="text-slate-600 dark:text-slate-400">Machine</dt>
        <dd data-testid="host">{request.host}</dd>
        {request.client ? (
          <>
            <dt className="text-slate-600 dark:text-slate-400">Program</dt>
            <dd>{request.client}</dd>
          </>
        ) : null}
        <dt className="text-slate-600 dark:text-slate-400">Code expires</dt>
        <dd>{expires}</dd>
      </dl>
      <Notice tone="warn">
        Approve only a login you started yourself. The CLI then gets a personal API token for your account, named “errand login on {request.host}”.
      </Notice>
      {decide.error ? <ErrorNotice error={decide.error} /> : null}
      <div className="flex gap-2">
        <Button variant="primary" onClick={() => decide.mutate(true)} disabled={decide.isPending}>
          Approve
        </Button>
        <Button variant="danger" onClick={() => decide.mutate(false)} disabled={decide.isPending}>
          Deny
        </Button>
      </div>
    </div>
  )
}

export function DevicePage() {
  const [params, setParams] = useSearchParams()
  const location = useLocation()
  const code = formatCode(params.get('code') ?? '')
  const me = useMe()
  const signedOut = me.error instanceof ApiError && me.error.needsSignIn
  const request = useCliLogin(code, Boolean(me.data))

  useEffect(() => {
    document.title = 'Sign in the CLI · Errand'
  }, [])
  useEffect(() => {
    if (signedOut) rememberPage(location.pathname + location.search) // back here once signed in
  }, [signedOut, location.pathname, location.search])

  const setCode = (next: string) => setParams(next ? { code: next } : {}, { replace: true })
  let body
  if (signedOut) {
    body = (
      <Notice tone="warn">
        <p className="font-medium">Sign in to this Errand server first; this page comes back afterwards.</p>
        <p>
          <a className="underline" href="/auth/github/login">
            Sign in with GitHub
          </a>
          , or on a single-user server run <code>errand open</code> on its machine.
          {code ? ` Your code: ${code}.` : ''}
        </p>
      </Notice>
    )
  } else if (me.isPending) {
    body = <p>Loading…</p>
  } else if (me.error) {
    body = <ErrorNotice error={me.error} />
  } else if (!me.data) {
    body = <Notice tone="error">This server has no accounts, so it cannot sign a CLI in.</Notice>
  } else if (!code) {
    body = <CodeForm initial="" onCode={setCode} />
  } else if (request.isPending) {
    body = <p>Looking up {code}…</p>
  } else if (request.error) {
    const gone = request.error instanceof ApiError && request.error.status === 404
    body = (
      <div className="space-y-3">
        <ErrorNotice error={request.error} />
        {gone ? <CodeForm initial={code} onCode={(next) => (next === code ? void request.refetch() : setCode(next))} /> : null}
      </div>
    )
  } else {
    const user = me.data.user
    body = <Request request={request.data} code={code} login={user.login ?? user.name ?? 'you'} />
  }
  return (
    <Section title="Sign in the Errand CLI" id="cli-login">
      <h1 className="sr-only">Sign in the Errand CLI</h1>
      {body}
    </Section>
  )
}
