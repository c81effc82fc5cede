import type { TokenNode } from 'react-diff-view'
import type { HighlighterCore, LanguageRegistration, ThemedToken } from 'shiki/core'

// Loaded on first use, one grammar per language: the app shell stays small.
const GRAMMARS: Record<string, () => Promise<{ default: LanguageRegistration[] }>> = {
  python: () => import('@shikijs/langs/python'),
  javascript: () => import('@shikijs/langs/javascript'),
  jsx: () => import('@shikijs/langs/jsx'),
  typescript: () => import('@shikijs/langs/typescript'),
  tsx: () => import('@shikijs/langs/tsx'),
  json: () => import('@shikijs/langs/json'),
  markdown: () => import('@shikijs/langs/markdown'),
  toml: () => import('@shikijs/langs/toml'),
  yaml: () => import('@shikijs/langs/yaml'),
  shellscript: () => import('@shikijs/langs/shellscript'),
  go: () => import('@shikijs/langs/go'),
  rust: () => import('@shikijs/langs/rust'),
  html: () => import('@shikijs/langs/html'),
  css: () => import('@shikijs/langs/css'),
}

let highlighter: Promise<HighlighterCore> | null = null
const loaded = new Map<string, Promise<void>>()

function core(): Promise<HighlighterCore> {
  highlighter ??= (async () => {
    const [{ createHighlighterCore }, { createJavaScriptRegexEngine }, light, dark] = await Promise.all([
      import('shiki/core'),
      import('shiki/engine/javascript'),
      import('@shikijs/themes/github-light-high-contrast'),
      import('@shikijs/themes/github-dark-high-contrast'),
    ])
    return createHighlighterCore({
      themes: [light.default, dark.default],
      langs: [],
      engine: createJavaScriptRegexEngine({ forgiving: true }),
    })
  })()
  return highlighter
}

async function ready(lang: string): Promise<HighlighterCore | null> {
  const grammar = GRAMMARS[lang]
  if (!grammar) return null
  const h = await core()
  let load = loaded.get(lang)
  if (!load) {
    load = grammar().then((mod) => h.loadLanguage(...mod.default))
    loaded.set(lang, load)
  }
  await load
  return h
}

function toNodes(lines: ThemedToken[][]): TokenNode[] {
  const nodes: TokenNode[] = []
  lines.forEach((line, i) => {
    if (i > 0) nodes.push({ type: 'text', value: '\n' })
    for (const token of line) {
      const style = token.htmlStyle ?? {}
      nodes.push({
        type: 'shiki',
        className: 'shiki-token',
        light: style.color ?? token.color ?? '',
        dark: style['--shiki-dark'] ?? '',
        children: [{ type: 'text', value: token.content }],
      })
    }
  })
  return nodes
}

/** A refractor-shaped highlighter for react-diff-view's `tokenize`, backed by shiki: each token
 * carries its light and dark colour, switched by CSS with the theme. */
export async function shikiRefractor(lang: string) {
  const h = await ready(lang)
  if (!h) return null
  return {
    highlight(code: string): TokenNode[] {
      const { tokens } = h.codeToTokens(code, {
        lang,
        themes: { light: 'github-light-high-contrast', dark: 'github-dark-high-contrast' },
      })
      return toNodes(tokens)
    },
  }
}
