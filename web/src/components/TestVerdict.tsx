import type { TestCounts, TestReport } from '../api/types'
import { Button } from './ui'

function Counts({ label, counts, note }: { label: string; counts: TestCounts | null; note: string }) {
  return (
    <tr>
      <th scope="row" className="py-1 pr-3 text-left font-medium">
        {label}
      </th>
      {counts ? (
        <>
          <td className="px-2 text-right">{counts.passed}</td>
          <td className="px-2 text-right">{counts.failed}</td>
          <td className="px-2 text-right">{counts.errors}</td>
          <td className="px-2 text-right">{counts.skipped}</td>
        </>
      ) : (
        <td colSpan={4} className="px-2 text-slate-600 dark:text-slate-400">
          not run
        </td>
      )}
      <td className="px-2 text-slate-600 dark:text-slate-400">{note}</td>
    </tr>
  )
}

const GROUPS: { key: 'newly_failing' | 'newly_passing' | 'flaky' | 'pre_existing' | 'disappeared'; label: string; tone: string }[] = [
  { key: 'newly_failing', label: 'Newly failing', tone: 'text-red-700 dark:text-red-300' },
  { key: 'newly_passing', label: 'Newly passing', tone: 'text-emerald-700 dark:text-emerald-300' },
  { key: 'flaky', label: 'Flaky', tone: 'text-amber-700 dark:text-amber-300' },
  { key: 'pre_existing', label: 'Failing before and after', tone: 'text-slate-700 dark:text-slate-300' },
  { key: 'disappeared', label: 'No longer reported', tone: 'text-slate-700 dark:text-slate-300' },
]

export function TestVerdict({ tests, onShowOutput }: { tests: TestReport; onShowOutput: (testId: string) => void }) {
  if (!tests.baseline && !tests.after) return <p className="text-sm text-slate-600 dark:text-slate-400">The tests have not run yet.</p>
  return (
    <div className="space-y-3 text-sm">
      {tests.command ? (
        <p>
          Command: <code className="rounded bg-slate-100 px-1 dark:bg-slate-800">{tests.command}</code>
        </p>
      ) : null}
      <div className="overflow-x-auto">
        <table className="text-sm">
          <thead>
            <tr className="text-xs text-slate-600 dark:text-slate-400">
              <th scope="col" className="pr-3 text-left font-medium">
                Run
              </th>
              <th scope="col" className="px-2 text-right font-medium">Passed</th>
              <th scope="col" className="px-2 text-right font-medium">Failed</th>
              <th scope="col" className="px-2 text-right font-medium">Errors</th>
              <th scope="col" className="px-2 text-right font-medium">Skipped</th>
              <th scope="col" className="px-2 text-left font-medium">Note</th>
            </tr>
          </thead>
          <tbody>
            <Counts label="Before (baseline)" counts={tests.baseline} note={tests.baseline_note} />
            <Counts label="After the change" counts={tests.after} note={tests.after_note} />
          </tbody>
        </table>
      </div>
      {GROUPS.map(({ key, label, tone }) =>
        tests[key].length ? (
          <div key={key}>
            <h3 className={`font-medium ${tone}`}>
              {label} ({tests[key].length})
            </h3>
            <ul className="mt-1 space-y-1">
              {tests[key].map((id) => (
                <li key={id} className="flex flex-wrap items-center gap-2">
                  <code className="break-all text-xs">{id}</code>
                  {key !== 'newly_passing' ? (
                    <Button className="!px-2 !py-0.5 text-xs" onClick={() => onShowOutput(id)} aria-label={`Show the output of ${id}`}>
                      Output
                    </Button>
                  ) : null}
                </li>
              ))}
            </ul>
          </div>
        ) : null,
      )}
    </div>
  )
}
