import { Route, Routes } from 'react-router'
import { Layout } from './components/Layout'
import { HistoryPage } from './pages/HistoryPage'
import { NewTaskPage } from './pages/NewTaskPage'
import { NotFoundPage } from './pages/NotFoundPage'
import { SettingsPage } from './pages/SettingsPage'
import { TaskPage } from './pages/TaskPage'

export function App() {
  return (
    <Routes>
      <Route element={<Layout />}>
        <Route index element={<NewTaskPage />} />
        <Route path="tasks" element={<HistoryPage />} />
        <Route path="tasks/:id" element={<TaskPage />} />
        <Route path="settings" element={<SettingsPage />} />
        <Route path="*" element={<NotFoundPage />} />
      </Route>
    </Routes>
  )
}
