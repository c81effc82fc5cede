import { useInfiniteQuery, useMutation, useQuery, useQueryClient } from '@tanstack/react-query'
import { api, ApiError } from './client'
import type { CliLoginDecision, CliLoginRequest, CreateTask, Me, ModelKey, Plan, Repo, Status, Task, TaskPage } from './types'

export const keys = {
  task: (id: string) => ['task', id] as const,
  tasks: ['tasks'] as const,
  me: ['me'] as const,
  meKeys: ['me', 'keys'] as const,
  usage: ['me', 'usage'] as const,
  repos: ['me', 'repos'] as const,
  branches: (repo: string) => ['branches', repo] as const,
  openapi: ['openapi'] as const,
  cliLogin: (code: string) => ['cli-login', code] as const,
}

export function useTask(id: string) {
  return useQuery({ queryKey: keys.task(id), queryFn: () => api<Task>(`/api/tasks/${encodeURIComponent(id)}`) })
}

export interface TaskFilters {
  status?: Status | ''
  repo?: string
  q?: string
}

export function taskListPath(filters: TaskFilters, limit: number, before?: string): string {
  const params = new URLSearchParams()
  if (filters.status) params.set('status', filters.status)
  if (filters.repo) params.set('repo', filters.repo)
  if (filters.q) params.set('q', filters.q)
  params.set('limit', String(limit))
  if (before) params.set('before', before)
  return `/api/tasks?${params.toString()}`
}

export function useTaskPages(filters: TaskFilters, limit = 20) {
  return useInfiniteQuery({
    queryKey: [...keys.tasks, filters, limit],
    queryFn: ({ pageParam }) => api<TaskPage>(taskListPath(filters, limit, pageParam)),
    initialPageParam: undefined as string | undefined,
    getNextPageParam: (last) => last.next_before ?? undefined,
  })
}

/** A feature another part of the server adds: null while unknown, false when the server says it
 * has no such route, so pages can say what is missing instead of pretending. */
function optional<T>(fetcher: () => Promise<T>) {
  return async (): Promise<T | null> => {
    try {
      return await fetcher()
    } catch (err) {
      if (err instanceof ApiError && err.isMissingRoute) return null
      throw err
    }
  }
}

export function useMe() {
  return useQuery({ queryKey: keys.me, queryFn: optional(() => api<Me>('/api/me')), staleTime: 60_000 })
}

export function useModelKeys(enabled: boolean) {
  return useQuery({
    queryKey: keys.meKeys,
    queryFn: () => api<{ keys: ModelKey[] }>('/api/me/keys'),
    enabled,
  })
}

export function useUsage(enabled: boolean) {
  return useQuery({ queryKey: keys.usage, queryFn: () => api<Record<string, unknown>>('/api/me/usage'), enabled })
}

export function useRepos() {
  return useQuery({ queryKey: keys.repos, queryFn: optional(() => api<{ repos: Repo[] }>('/api/me/repos')), staleTime: 60_000 })
}

export function useBranches(repo: string, enabled: boolean) {
  return useQuery({
    queryKey: keys.branches(repo),
    queryFn: optional(() => api<{ branches: string[] }>(`/api/repos/${repo.split('/').map(encodeURIComponent).join('/')}/branches`)),
    enabled: enabled && repo !== '',
    staleTime: 60_000,
  })
}

/** The routes this server offers, from its OpenAPI description; null when it publishes none
 * (then only the core task routes are assumed). */
export function useServerRoutes() {
  return useQuery({
    queryKey: keys.openapi,
    queryFn: optional(async () => {
      const doc = await api<{ paths?: Record<string, Record<string, unknown>> }>('/api/openapi.json')
      const routes = new Set<string>()
      for (const [path, ops] of Object.entries(doc.paths ?? {})) {
        for (const method of Object.keys(ops)) routes.add(routeKey(`${method.toUpperCase()} ${path}`))
      }
      return routes
    }),
    staleTime: Infinity,
  })
}

export function useHasRoute(route: string): boolean | undefined {
  const routes = useServerRoutes()
  if (routes.isPending) return undefined
  return routes.data?.has(routeKey(route)) ?? false
}

// path parameters compare by position, whatever the server names them
const routeKey = (route: string) => route.replace(/\{[^}]*\}/g, '{}')

function useTaskMutation<V>(id: string, run: (v: V) => Promise<Task>) {
  const client = useQueryClient()
  return useMutation({
    mutationFn: run,
    onSuccess: (task) => {
      client.setQueryData(keys.task(id), task)
      void client.invalidateQueries({ queryKey: keys.tasks })
    },
  })
}

const taskPath = (id: string, action: string) => `/api/tasks/${encodeURIComponent(id)}/${action}`

export const useApprovePlan = (id: string) =>
  useTaskMutation(id, (plan: Plan | null) => api<Task>(taskPath(id, 'plan/approve'), 'POST', plan ? { plan } : {}))
export const useRejectPlan = (id: string) =>
  useTaskMutation(id, (feedback: string) => api<Task>(taskPath(id, 'plan/reject'), 'POST', { feedback }))
export const useApproveDiff = (id: string) => useTaskMutation(id, () => api<Task>(taskPath(id, 'diff/approve'), 'POST'))
export const useRequestChanges = (id: string) =>
  useTaskMutation(id, (feedback: string) => api<Task>(taskPath(id, 'diff/request-changes'), 'POST', { feedback }))
export const useCancel = (id: string) => useTaskMutation(id, () => api<Task>(taskPath(id, 'cancel'), 'POST'))
export const useRetry = (id: string) =>
  useTaskMutation(id, (fromStart: boolean) => api<Task>(taskPath(id, 'retry'), 'POST', { from_start: fromStart }))

export function useCreateTask() {
  const client = useQueryClient()
  return useMutation({
    mutationFn: (req: CreateTask) => api<Task>('/api/tasks', 'POST', req),
    onSuccess: (task) => {
      client.setQueryData(keys.task(task.id), task)
      void client.invalidateQueries({ queryKey: keys.tasks })
    },
  })
}

export function useSaveKey() {
  const client = useQueryClient()
  return useMutation({
    mutationFn: ({ provider, key, api_base }: { provider: string; key: string; api_base?: string }) =>
      api<unknown>(`/api/me/keys/${encodeURIComponent(provider)}`, 'PUT', api_base ? { key, api_base } : { key }),
    onSuccess: () => void client.invalidateQueries({ queryKey: keys.me }),
  })
}

export function useDeleteKey() {
  const client = useQueryClient()
  return useMutation({
    mutationFn: (provider: string) => api<unknown>(`/api/me/keys/${encodeURIComponent(provider)}`, 'DELETE'),
    onSuccess: () => void client.invalidateQueries({ queryKey: keys.me }),
  })
}

const cliLoginPath = (code: string) => `/api/cli-login/${encodeURIComponent(code)}`

/** A CLI sign-in waiting for approval, by the code its terminal shows. Never refetched on its
 * own: each look-up of a wrong code counts against the server's guessing limit. */
export function useCliLogin(code: string, enabled: boolean) {
  return useQuery({
    queryKey: keys.cliLogin(code),
    queryFn: () => api<CliLoginRequest>(cliLoginPath(code)),
    enabled: enabled && code !== '',
    refetchOnWindowFocus: false,
    staleTime: Infinity,
  })
}

export function useDecideCliLogin(code: string) {
  return useMutation({
    mutationFn: (approve: boolean) => api<CliLoginDecision>(`${cliLoginPath(code)}/${approve ? 'approve' : 'deny'}`, 'POST'),
  })
}
