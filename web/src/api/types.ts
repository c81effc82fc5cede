// Every API type the app uses, in one place: when the server publishes its OpenAPI description
// these become aliases of the generated schema (src/api/schema.d.ts).

import type { components } from './schema'

// The API's types come from its OpenAPI description (schema.d.ts, generated from openapi.json by
// `npm run gen:api`); what the document does not describe (the event stream's payloads, the
// accounts routes until they are on the server) is written out below.
type Schemas = components['schemas']

export type Status = Schemas['Status']
export const STATUSES: readonly Status[] = [
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
]
export const TERMINAL: ReadonlySet<Status> = new Set<Status>(['completed', 'failed', 'cancelled'])

export type PlanStep = Schemas['PlanStep-Output']
export type Plan = Schemas['Plan-Output']
export type TestCounts = Schemas['TestCounts']
export type TestReport = Schemas['TestReport']
export type Conformance = Schemas['Conformance']
export type Audio = Schemas['Audio']
export type Usage = Schemas['Usage']
export type TaskError = Schemas['TaskError']
export type Task = Schemas['TaskView']
export type TaskPage = Schemas['TaskListView']
export type CreateTask = Schemas['CreateTask']
export type CliLoginRequest = Schemas['DeviceRequest']
export type CliLoginDecision = Schemas['CliLoginDecision']

export type EventKind =
  | 'log'
  | 'output'
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
  'output',
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
