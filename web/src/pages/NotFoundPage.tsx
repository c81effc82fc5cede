import { Link } from 'react-router'

export function NotFoundPage() {
  return (
    <div className="space-y-2">
      <h1 className="text-xl font-semibold">Page not found</h1>
      <p>
        There is no page at this address. <Link to="/" className="text-indigo-700 underline dark:text-indigo-300">Start a new task</Link> or look at the{' '}
        <Link to="/tasks" className="text-indigo-700 underline dark:text-indigo-300">history</Link>.
      </p>
    </div>
  )
}
