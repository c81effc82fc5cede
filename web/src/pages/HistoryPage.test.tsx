import { screen, waitFor } from '@testing-library/react'
import userEvent from '@testing-library/user-event'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { fakeFetch, makeTask, renderAt } from '../test/fakes'
import { HistoryPage } from './HistoryPage'

afterEach(() => vi.unstubAllGlobals())

describe('HistoryPage', () => {
  it('filters through the address and pages back with the cursor', async () => {
    const server = fakeFetch({
      'GET /api/tasks': (_, url) => {
        if (url.searchParams.get('before') === 't_2') return [200, { tasks: [makeTask({ id: 't_1', prompt: 'first' })], next_before: null }]
        return [200, { tasks: [makeTask({ id: 't_3', prompt: 'third' }), makeTask({ id: 't_2', prompt: 'second' })], next_before: 't_2' }]
      },
    })
    vi.stubGlobal('fetch', server.fn)
    renderAt('/tasks?status=failed', '/tasks', <HistoryPage />)
    const user = userEvent.setup()
    expect(await screen.findByText('third')).toBeInTheDocument()
    expect(server.requests[0]?.url).toBe('/api/tasks?status=failed&limit=20')
    await user.click(screen.getByRole('button', { name: 'Show older tasks' }))
    expect(await screen.findByText('first')).toBeInTheDocument()
    expect(server.requests.at(-1)?.url).toBe('/api/tasks?status=failed&limit=20&before=t_2')
    expect(screen.queryByRole('button', { name: 'Show older tasks' })).toBeNull()
    await user.type(screen.getByRole('searchbox', { name: 'Prompt contains' }), 'parser')
    await waitFor(() => expect(server.requests.at(-1)?.url).toBe('/api/tasks?status=failed&q=parser&limit=20'), { timeout: 2000 })
  })
})
