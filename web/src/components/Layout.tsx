import { useQueryClient } from '@tanstack/react-query'
import { Suspense, useEffect, useState } from 'react'
import { NavLink, Outlet, useNavigate } from 'react-router'
import { api, ApiError } from '../api/client'
import { useMe } from '../api/queries'
import { takeRememberedPage } from '../lib/resume'
import { applyTheme, storedTheme, type Theme } from '../lib/theme'

const link = ({ isActive }: { isActive: boolean }) =>
  `rounded-md px-3 py-2 text-sm font-medium focus-visible:outline-2 focus-visible:outline-indigo-500 ${
    isActive
      ? 'bg-slate-200 text-slate-900 dark:bg-slate-800 dark:text-white'
      : 'text-slate-700 hover:bg-slate-100 dark:text-slate-300 dark:hover:bg-slate-800'
  }`

/** Once signed in, back to the page that asked for the sign-in (see lib/resume.ts). */
function useResumeAfterSignIn() {
  const me = useMe()
  const navigate = useNavigate()
  const signedIn = Boolean(me.data)
  useEffect(() => {
    if (!signedIn) return
    const path = takeRememberedPage()
    if (path) void navigate(path, { replace: true })
  }, [signedIn, navigate])
}

export function Layout() {
  useResumeAfterSignIn()
  const [theme, setTheme] = useState<Theme>(storedTheme)
  const choose = (t: Theme) => {
    setTheme(t)
    applyTheme(t)
  }
  return (
    <div className="min-h-screen">
      <a href="#main" className="sr-only focus:not-sr-only focus:absolute focus:left-2 focus:top-2 focus:z-50 focus:rounded focus:bg-indigo-600 focus:px-3 focus:py-2 focus:text-white">
        Skip to content
      </a>
      <header className="border-b border-slate-200 dark:border-slate-800">
        <div className="mx-auto flex max-w-6xl flex-wrap items-center gap-2 px-4 py-3">
          <NavLink to="/" className="mr-4 text-lg font-semibold tracking-tight" aria-label="Errand home">
            Errand
          </NavLink>
          <nav aria-label="Main" className="flex flex-wrap gap-1">
            <NavLink to="/" end className={link}>
              New task
            </NavLink>
            <NavLink to="/tasks" end className={link}>
              History
            </NavLink>
            <NavLink to="/settings" className={link}>
              Settings
            </NavLink>
          </nav>
          <Account />
          <label className="flex items-center gap-2 text-sm">
            <span className="text-slate-600 dark:text-slate-400">Theme</span>
            <select
              value={theme}
              onChange={(e) => choose(e.target.value as Theme)}
              className="rounded-md border border-slate-300 bg-white px-2 py-1 dark:border-slate-700 dark:bg-slate-900"
            >
              <option value="system">System</option>
              <option value="light">Light</option>
              <option value="dark">Dark</option>
            </select>
          </label>
        </div>
      </header>
      <main id="main" className="mx-auto max-w-6xl px-4 py-6" tabIndex={-1}>
        <Suspense fallback={<p>Loading…</p>}>
          <Outlet />
        </Suspense>
      </main>
    </div>
  )
}

/** Who is signed in (where the server has accounts), with sign-in and sign-out. */
function Account() {
  const me = useMe()
  const client = useQueryClient()
  const [leaving, setLeaving] = useState(false)
  if (me.error instanceof ApiError && me.error.needsSignIn) {
    return (
      <a href="/auth/github/login" className="ml-auto rounded-md px-3 py-2 text-sm font-medium text-indigo-700 underline dark:text-indigo-300">
        Sign in
      </a>
    )
  }
  if (!me.data) return <span className="ml-auto" />
  const user = me.data.user
  const signOut = () => {
    setLeaving(true)
    void api('/api/session/logout', 'POST').finally(() => {
      client.clear()
      window.location.assign('/')
    })
  }
  return (
    <div className="ml-auto flex items-center gap-2 text-sm">
      <span className="text-slate-700 dark:text-slate-300">{user.login ?? user.name ?? 'you'}</span>
      {me.data.mode === 'multi' ? (
        <button type="button" onClick={signOut} disabled={leaving} className="rounded-md px-2 py-1 underline focus-visible:outline-2 focus-visible:outline-indigo-500">
          Sign out
        </button>
      ) : null}
    </div>
  )
}
