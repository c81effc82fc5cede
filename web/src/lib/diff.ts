import { parseDiff, type FileData } from 'react-diff-view'

export interface DiffFile {
  file: FileData
  path: string
  added: number
  removed: number
}

export function diffFiles(diff: string): DiffFile[] {
  if (!diff.trim()) return []
  return parseDiff(diff, { nearbySequences: 'zip' }).map((file) => {
    let added = 0
    let removed = 0
    for (const hunk of file.hunks) {
      for (const change of hunk.changes) {
        if (change.type === 'insert') added++
        else if (change.type === 'delete') removed++
      }
    }
    const path = file.type === 'delete' ? file.oldPath : file.newPath
    return { file, path, added, removed }
  })
}

const LANGS: Record<string, string> = {
  py: 'python',
  js: 'javascript',
  mjs: 'javascript',
  cjs: 'javascript',
  jsx: 'jsx',
  ts: 'typescript',
  tsx: 'tsx',
  json: 'json',
  md: 'markdown',
  toml: 'toml',
  yml: 'yaml',
  yaml: 'yaml',
  sh: 'shellscript',
  go: 'go',
  rs: 'rust',
  html: 'html',
  css: 'css',
}

export function languageOf(path: string): string | null {
  const ext = path.split('.').pop()?.toLowerCase() ?? ''
  return LANGS[ext] ?? null
}
