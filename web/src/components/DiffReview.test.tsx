import { render, screen, within } from '@testing-library/react'
import userEvent from '@testing-library/user-event'
import { describe, expect, it, vi } from 'vitest'
import { DiffReview } from './DiffReview'

const DIFF = `diff --git a/calc.py b/calc.py
index 1111111..2222222 100644
--- a/calc.py
+++ b/calc.py
@@ -1,3 +1,3 @@
 def add(a, b):
-    return a - b
+    return a + b
 
diff --git a/notes.txt b/notes.txt
new file mode 100644
index 0000000..3333333
--- /dev/null
+++ b/notes.txt
@@ -0,0 +1,2 @@
+one
+two
`

function setup(canRequestChanges: boolean | undefined = true) {
  const onApprove = vi.fn()
  const onRequestChanges = vi.fn()
  render(
    <DiffReview
      diff={DIFF}
      conformance={{ unplanned_files: ['notes.txt'], untouched_steps: ['Add a test'] }}
      gate
      busy={false}
      error={null}
      canRequestChanges={canRequestChanges}
      onApprove={onApprove}
      onRequestChanges={onRequestChanges}
    />,
  )
  return { onApprove, onRequestChanges, user: userEvent.setup() }
}

describe('DiffReview', () => {
  it('shows each file with its counts and the plan warnings beside it', () => {
    setup()
    expect(screen.getByText('2 files,')).toBeInTheDocument()
    const notes = screen.getByRole('heading', { name: /notes\.txt/ })
    expect(within(notes).getByText('+2')).toBeInTheDocument()
    const calc = screen.getByRole('heading', { name: /calc\.py/ })
    expect(within(calc).getByText('−1')).toBeInTheDocument()
    expect(screen.getAllByText('This file is not in the approved plan.')).toHaveLength(1)
    expect(screen.getByText(/Plan steps without a change: Add a test/)).toBeInTheDocument()
  })

  it('collapses a file and switches between unified and split', async () => {
    const { user } = setup()
    const toggle = screen.getByRole('button', { name: /calc\.py/ })
    expect(toggle).toHaveAttribute('aria-expanded', 'true')
    expect(screen.getAllByText('return a + b', { exact: false }).length).toBeGreaterThan(0)
    await user.click(toggle)
    expect(toggle).toHaveAttribute('aria-expanded', 'false')
    await user.click(screen.getByRole('radio', { name: 'Split' }))
    expect(document.querySelector('.diff-split')).not.toBeNull()
    await user.click(screen.getByRole('radio', { name: 'Unified' }))
    expect(document.querySelector('.diff-unified')).not.toBeNull()
  })

  it('approves, or requests changes with feedback', async () => {
    const { onApprove, onRequestChanges, user } = setup()
    await user.click(screen.getByRole('button', { name: 'Approve the diff and publish' }))
    expect(onApprove).toHaveBeenCalled()
    await user.type(screen.getByLabelText(/request changes/i), 'Also handle floats')
    await user.click(screen.getByRole('button', { name: 'Request changes' }))
    expect(onRequestChanges).toHaveBeenCalledWith('Also handle floats')
  })
})
