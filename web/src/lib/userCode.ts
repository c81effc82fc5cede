/** What a person may type as the CLI's code, as the CLI shows it: `bcdf ghjk` → `BCDF-GHJK`. */
export function formatCode(typed: string): string {
  const plain = typed.toUpperCase().replace(/[^A-Z0-9]/g, '')
  return plain.length === 8 ? `${plain.slice(0, 4)}-${plain.slice(4)}` : plain
}
