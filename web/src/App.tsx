import { lazy } from 'react'
import { Route, Routes } from 'react-router'
import { Layout } from './components/Layout'
import { NewTaskPage } from './pages/NewTaskPage'
import { NotFoundPage } from './pages/NotFoundPage'

// the task page carries the diff viewer and the highlighter: loaded when first opened
const TaskPage = lazy(() => import('./pages/TaskPage').then((m) => ({ default: m.TaskPage })))
const HistoryPage = lazy(() => import('./pages/HistoryPage').then((m) => ({ default: m.HistoryPage })))
const DevicePage = lazy(() => import('./pages/DevicePage').then((m) => ({ default: m.DevicePage })))
const SettingsPage = lazy(() => import('./pages/SettingsPage').then((m) => ({ default: m.SettingsPage })))

export function App() {
  return (
    <Routes>
      <Route element={<Layout />}>
        <Route index element={<NewTaskPage />} />
        <Route path="tasks" element={<HistoryPage />} />
        <Route path="tasks/:id" element={<TaskPage />} />
        <Route path="settings" element={<SettingsPage />} />
        <Route path="device" element={<DevicePage />} />
        <Route path="*" element={<NotFoundPage />} />
      </Route>
    </Routes>
  )
}
