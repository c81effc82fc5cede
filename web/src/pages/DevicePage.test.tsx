import { screen } from '@testing-library/react'
import userEvent from '@testing-library/user-event'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { rememberPage, takeRememberedPage } from '../lib/resume'
import { formatCode } from '../lib/userCode'
import { fakeFetch, renderAt } from '../test/fakes'
import { DevicePage } from './DevicePage'

afterEach(() => {
  vi.unstubAllGlobals()
  localStorage.clear()
})

const ME = { user: { login: 'ada' }, mode: 'single', default_model: '', models: [], limits: {} }
const REQUEST = {
  user_code: 'BCDF-GHJK',
  host: 'laptop',
  client: 'errand-cli 0.1.0 (Linux x86_64)',
  created_at: '2026-01-01T10:00:00Z',
  expires_at: '2026-01-01T10:10:00Z',
}

describe('DevicePage', () => {
  it('shows the machine and the code, and approves with the CSRF token', async () => {
    document.cookie = 'errand_csrf=c5rf'
    const server = fakeFetch({
      'GET /api/me': () => [200, ME],
      'GET /api/cli-login/BCDF-GHJK': () => [200, REQUEST],
      'POST /api/cli-login/BCDF-GHJK/approve': () => [200, { status: 'approved', user_code: 'BCDF-GHJK', host: 'laptop' }],
    })
    vi.stubGlobal('fetch', server.fn)
    renderAt('/device?code=bcdf-ghjk', '/device', <DevicePage />)
    expect(await screen.findByTestId('user-code')).toHaveTextContent('BCDF-GHJK')
    expect(screen.getByTestId('host')).toHaveTextContent('laptop')
    expect(screen.getByText(/errand login on laptop/)).toBeInTheDocument()
    await userEvent.setup().click(screen.getByRole('button', { name: 'Approve' }))
    expect(await screen.findByText(/Approved: the CLI on laptop is signed in as ada/)).toBeInTheDocument()
    const post = server.requests.find((r) => r.method === 'POST')
    expect(post?.url).toBe('/api/cli-login/BCDF-GHJK/approve')
    expect(post?.headers['X-CSRF-Token']).toBe('c5rf')
  })

  it('denies', async () => {
    const server = fakeFetch({
      'GET /api/me': () => [200, ME],
      'GET /api/cli-login/BCDF-GHJK': () => [200, REQUEST],
      'POST /api/cli-login/BCDF-GHJK/deny': () => [200, { status: 'denied', user_code: 'BCDF-GHJK', host: 'laptop' }],
    })
    vi.stubGlobal('fetch', server.fn)
    renderAt('/device?code=BCDF-GHJK', '/device', <DevicePage />)
    await userEvent.setup().click(await screen.findByRole('button', { name: 'Deny' }))
    expect(await screen.findByText(/Denied: the CLI on laptop was told so/)).toBeInTheDocument()
  })

  it('asks for the code when the address has none, and says when a code is unknown', async () => {
    const server = fakeFetch({
      'GET /api/me': () => [200, ME],
      'GET /api/cli-login/BBBB-BBBB': () => [404, { error: { code: 'not_found', message: "no login is waiting for the code 'BBBB-BBBB'" } }],
    })
    vi.stubGlobal('fetch', server.fn)
    renderAt('/device', '/device', <DevicePage />)
    const user = userEvent.setup()
    await user.type(await screen.findByLabelText(/Code shown by/), 'bbbb bbbb')
    await user.click(screen.getByRole('button', { name: 'Continue' }))
    expect(await screen.findByText(/no login is waiting/)).toBeInTheDocument()
    expect(screen.queryByRole('button', { name: 'Approve' })).toBeNull()
  })

  it('asks a signed-out person to sign in and remembers the page for afterwards', async () => {
    const server = fakeFetch({
      'GET /api/me': () => [401, { error: { code: 'unauthorized', message: 'sign in first' } }],
    })
    vi.stubGlobal('fetch', server.fn)
    renderAt('/device?code=BCDF-GHJK', '/device', <DevicePage />)
    expect(await screen.findByText(/Sign in to this Errand server first/)).toBeInTheDocument()
    expect(server.requests.some((r) => r.url.startsWith('/api/cli-login'))).toBe(false)
    expect(takeRememberedPage()).toBe('/device?code=BCDF-GHJK')
    expect(takeRememberedPage()).toBeNull() // once
  })
})

describe('resume and codes', () => {
  it('forgets old or foreign pages', () => {
    rememberPage('/device?code=X', 1_000)
    expect(takeRememberedPage(1_000 + 11 * 60 * 1000)).toBeNull()
    rememberPage('//evil.example/x', 1_000)
    expect(takeRememberedPage(2_000)).toBeNull()
  })

  it('formats what a person types', () => {
    expect(formatCode(' bcdf ghjk ')).toBe('BCDF-GHJK')
    expect(formatCode('BCDF-GHJK')).toBe('BCDF-GHJK')
    expect(formatCode('bcd')).toBe('BCD')
  })
})
