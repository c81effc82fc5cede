import { screen } from '@testing-library/react'
import userEvent from '@testing-library/user-event'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { fakeFetch, renderAt } from '../test/fakes'
import { SettingsPage } from './SettingsPage'

afterEach(() => vi.unstubAllGlobals())

describe('SettingsPage', () => {
  it('says keys need the accounts feature when the server has none', async () => {
    vi.stubGlobal('fetch', fakeFetch({}).fn)
    renderAt('/settings', '/settings', <SettingsPage />)
    expect(await screen.findByText(/need the accounts feature/)).toBeInTheDocument()
  })

  it('lists keys masked and stores a new one write-only', async () => {
    const server = fakeFetch({
      'GET /api/me': () => [200, { user: { login: 'ada' }, mode: 'single', default_model: 'openai/gpt-4o-mini', models: [], limits: { max_cost_usd: 5 } }],
      'GET /api/me/keys': () => [200, { keys: [{ provider: 'openai', last4: 'x9Qz', api_base: null, added_at: '2026-01-01T00:00:00Z' }] }],
      'GET /api/me/usage': () => [200, { cost_usd_today: 0.25 }],
      'PUT /api/me/keys/anthropic': () => [200, {}],
    })
    vi.stubGlobal('fetch', server.fn)
    renderAt('/settings', '/settings', <SettingsPage />)
    const user = userEvent.setup()
    expect(await screen.findByText('••••x9Qz')).toBeInTheDocument()
    expect(await screen.findByText('cost usd today')).toBeInTheDocument()
    await user.type(screen.getByLabelText('Provider'), 'anthropic')
    await user.type(screen.getByLabelText('API key'), 'sk-ant-secret')
    await user.click(screen.getByRole('button', { name: 'Store the key' }))
    expect(server.requests.find((r) => r.method === 'PUT')?.body).toEqual({ key: 'sk-ant-secret' })
    expect(await screen.findByLabelText('API key')).toHaveValue('')
  })
})
