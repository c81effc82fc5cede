import { render, screen } from '@testing-library/react'
import userEvent from '@testing-library/user-event'
import { describe, expect, it, vi } from 'vitest'
import type { Plan } from '../api/types'
import { PlanReview } from './PlanReview'

const PLAN: Plan = {
  summary: 'Fix add',
  check_command: '',
  steps: [
    { title: 'Fix add in calc.py', details: 'a - b -> a + b', files: ['calc.py'] },
    { title: 'Add a test', details: '', files: ['tests/test_calc.py'] },
  ],
}

function field(label: string | RegExp, index: number): HTMLElement {
  const el = screen.getAllByLabelText(label)[index]
  if (!el) throw new Error(`no field ${String(label)} #${index}`)
  return el
}

function setup(canReject: boolean | undefined = true) {
  const onApprove = vi.fn()
  const onReject = vi.fn()
  render(<PlanReview plan={PLAN} editable busy={false} error={null} canReject={canReject} onApprove={onApprove} onReject={onReject} />)
  return { onApprove, onReject, user: userEvent.setup() }
}

describe('PlanReview', () => {
  it('approves the plan unchanged without sending it back', async () => {
    const { onApprove, user } = setup()
    await user.click(screen.getByRole('button', { name: 'Approve the plan' }))
    expect(onApprove).toHaveBeenCalledWith(null)
  })

  it('rewords, reorders, deletes and adds steps before approving', async () => {
    const { onApprove, user } = setup()
    const titles = () => screen.getAllByLabelText('Title').map((el) => (el as HTMLInputElement).value)
    await user.clear(field('Title', 0))
    await user.type(field('Title', 0), 'Make add() add')
    await user.click(screen.getByRole('button', { name: 'Move step 2 up' }))
    expect(titles()).toEqual(['Add a test', 'Make add() add'])
    await user.click(screen.getByRole('button', { name: 'Add a step' }))
    await user.type(field('Title', 2), 'Update the changelog')
    await user.type(field(/^Files/, 2), 'CHANGELOG.md, docs/a.md (new)')
    await user.click(screen.getByRole('button', { name: 'Delete step 1' }))
    await user.click(screen.getByRole('button', { name: 'Approve the edited plan' }))
    expect(onApprove).toHaveBeenCalledWith({
      summary: 'Fix add',
      check_command: '',
      steps: [
        { title: 'Make add() add', details: 'a - b -> a + b', files: ['calc.py'] },
        { title: 'Update the changelog', details: '', files: ['CHANGELOG.md', 'docs/a.md (new)'] },
      ],
    })
  })

  it('refuses a step without a title', async () => {
    const { onApprove, user } = setup()
    await user.clear(field('Title', 1))
    expect(screen.getByText('Step 2 has no title.')).toBeInTheDocument()
    expect(screen.getByRole('button', { name: 'Approve the edited plan' })).toBeDisabled()
    expect(onApprove).not.toHaveBeenCalled()
  })

  it('rejects with feedback, or says the server cannot take it', async () => {
    const { onReject, user } = setup()
    await user.type(screen.getByLabelText(/reject it/), 'Use the decimal module')
    await user.click(screen.getByRole('button', { name: 'Reject with feedback' }))
    expect(onReject).toHaveBeenCalledWith('Use the decimal module')
  })

  it('says plainly when plan feedback is not available', () => {
    setup(false)
    expect(screen.getByText(/cannot take plan feedback yet/)).toBeInTheDocument()
    expect(screen.getByRole('button', { name: 'Reject with feedback' })).toBeDisabled()
  })
})
