// Every API type the app uses, in one place: when the server publishes its OpenAPI description
// these become aliases of the generated schema (src/api/schema.d.ts).

export const STATUSES = [
  'queued',
  'preparing',
  'planning',
  'plan_review',
  'executing',
  'verifying',
  'diff_review',
  'publishing',
  'summarizing',
  'completed',
  'failed',
  'cancelled',
] as const
export type Status = (typeof STATUSES)[number]
export const TERMINAL: ReadonlySet<Status> = new Set(['completed', 'failed', 'cancelled'])

export interface PlanStep {
  title: string
  details: string
  files: string[]
}

export interface Plan {
  summary: string
  steps: PlanStep[]
}

export interface TestCounts {
  passed: number
  failed: number
  errors: number
  skipped: number
}

export interface TestReport {
  command: string
  baseline: TestCounts | null
  after: TestCounts | null
  newly_failing: string[]
  newly_passing: string[]
  pre_existing: string[]
  flaky: string[]
  disappeared: string[]
  baseline_note: string
  after_note: string
}

export interface Conformance {
  unplanned_files: string[]
  untouched_steps: string[]
}

export interface Audio {
  url: string
  duration_s: number
  transcript: string
  captions_url?: string
}

export interface Usage {
  prompt_tokens: number
  completion_tokens: number
  cost_usd: number
}

export interface TaskError {
  code: string
  message: string
}

export interface Task {
  id: string
  status: Status
  repo: string
  base_branch: string
  prompt: string
  model: string
  auto_approve: boolean
  plan: Plan | null
  diff: string
  tests: TestReport
  conformance: Conformance
  branch: string
  pr_url: string
  audio: Audio | null
  usage: Usage
  error: TaskError | null
  round: number
  created_at: string
  updated_at: string
}

export interface TaskPage {
  tasks: Task[]
  next_before: string | null
}

export interface CreateTask {
  repo: string
  prompt: string
  branch?: string
  model?: string
  auto_approve?: boolean
}

export type EventKind =
  | 'log'
  | 'status'
  | 'plan_ready'
  | 'diff_ready'
  | 'test_results'
  | 'pr_created'
  | 'audio_ready'
  | 'cost'
  | 'task_completed'
  | 'tool'

export const EVENT_KINDS: readonly EventKind[] = [
  'log',
  'tool',
  'status',
  'plan_ready',
  'diff_ready',
  'test_results',
  'pr_created',
  'audio_ready',
  'cost',
  'task_completed',
]

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue }

export interface TaskEvent {
  id: number
  task_id: string
  kind: EventKind
  data: Record<string, JsonValue>
  created_at: string
}

// ---- accounts (served once the accounts feature is on the server)

export interface Me {
  user: { id?: string; login?: string; name?: string; avatar_url?: string }
  mode: 'single' | 'multi'
  default_model: string
  models: string[]
  limits: Record<string, JsonValue>
}

export interface ModelKey {
  provider: string
  last4: string
  api_base: string | null
  added_at: string
}

export interface Repo {
  full_name: string
  default_branch: string
  private: boolean
}

export interface ApiErrorBody {
  error: { code: string; message: string }
}
