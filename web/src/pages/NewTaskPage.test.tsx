import { screen, waitFor } from '@testing-library/react'
import userEvent from '@testing-library/user-event'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { fakeFetch, makeTask, renderAt } from '../test/fakes'
import { NewTaskPage } from './NewTaskPage'

afterEach(() => {
  vi.unstubAllGlobals()
  document.cookie = 'errand_csrf=; expires=Thu, 01 Jan 1970 00:00:00 GMT'
})

describe('NewTaskPage', () => {
  it('creates a task with the CSRF header and opens it', async () => {
    document.cookie = 'errand_csrf=abc%3D123'
    const server = fakeFetch({
      'GET /api/tasks': () => [200, { tasks: [makeTask({ id: 't_old', prompt: 'An older task' })], next_before: null }],
      'POST /api/tasks': (body) => [201, makeTask({ id: 't_new', ...(body as object) })],
    })
    vi.stubGlobal('fetch', server.fn)
    renderAt('/', '/', <NewTaskPage />)
    const user = userEvent.setup()
    expect(await screen.findByText('An older task')).toBeInTheDocument()
    const start = screen.getByRole('button', { name: 'Start task' })
    expect(start).toBeDisabled()
    await user.type(screen.getByLabelText('Repository'), '/src/calc')
    await user.type(screen.getByLabelText('What should Errand do?'), 'Fix add')
    expect(screen.getByText('7 / 100,000 characters')).toBeInTheDocument()
    await user.click(screen.getByLabelText(/Stop for my review/))
    await user.click(start)
    await waitFor(() => expect(screen.getByText('elsewhere')).toBeInTheDocument())
    const post = server.requests.find((r) => r.method === 'POST')
    expect(post?.body).toEqual({ repo: '/src/calc', prompt: 'Fix add', auto_approve: true })
    expect(post?.headers['X-CSRF-Token']).toBe('abc=123')
    expect(post?.headers['Content-Type']).toBe('application/json')
  })

  it("shows the server's error in plain words and keeps the form", async () => {
    vi.stubGlobal(
      'fetch',
      fakeFetch({
        'GET /api/tasks': () => [200, { tasks: [], next_before: null }],
        'POST /api/tasks': () => [400, { error: { code: 'invalid_input', message: 'repo /nope is not a git repository' } }],
      }).fn,
    )
    renderAt('/', '/', <NewTaskPage />)
    const user = userEvent.setup()
    await user.type(screen.getByLabelText('Repository'), '/nope')
    await user.type(screen.getByLabelText('What should Errand do?'), 'x')
    await user.click(screen.getByRole('button', { name: 'Start task' }))
    expect(await screen.findByRole('alert')).toHaveTextContent('repo /nope is not a git repository')
    expect(screen.getByLabelText('Repository')).toHaveValue('/nope')
  })

  it('refuses an over-long prompt', async () => {
    vi.stubGlobal('fetch', fakeFetch({ 'GET /api/tasks': () => [200, { tasks: [], next_before: null }] }).fn)
    renderAt('/', '/', <NewTaskPage />)
    const user = userEvent.setup()
    await user.type(screen.getByLabelText('Repository'), '/r')
    const prompt = screen.getByLabelText('What should Errand do?')
    await user.click(prompt)
    await user.paste('x'.repeat(100_001))
    expect(screen.getByText(/shorten the prompt/)).toBeInTheDocument()
    expect(screen.getByRole('button', { name: 'Start task' })).toBeDisabled()
  })
})
