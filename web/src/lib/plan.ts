import type { Plan } from '../api/types'

export const MAX_STEPS = 50

export function filesOf(text: string): string[] {
  return text
    .split(/[\n,]/)
    .map((f) => f.trim())
    .filter(Boolean)
}

export function planProblems(plan: Plan): string[] {
  const problems: string[] = []
  if (!plan.summary.trim()) problems.push('The summary is empty.')
  if (!plan.steps.length) problems.push('The plan needs at least one step.')
  if (plan.steps.length > MAX_STEPS) problems.push(`A plan has at most ${MAX_STEPS} steps.`)
  plan.steps.forEach((s, i) => {
    if (!s.title.trim()) problems.push(`Step ${i + 1} has no title.`)
  })
  return problems
}
