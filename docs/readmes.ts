// Extracts every ```ts block of every README in the workspace into its own
// module under generated/, so that `tsc` checks each against the packages as
// a user would import them. A block that is deliberately partial (it uses
// names the reader is expected to bring) starts with a `// partial` comment
// line and is skipped.
import * as fs from "node:fs"
import * as path from "node:path"

const root = path.resolve(import.meta.dirname, "..")
const out = path.join(import.meta.dirname, "generated")

export interface Block {
  readonly readme: string
  readonly line: number
  readonly code: string
  readonly partial: boolean
}

export const readmes = (): ReadonlyArray<string> => {
  const found = [path.join(root, "README.md")]
  for (const dir of ["packages", "examples"]) {
    const base = path.join(root, dir)
    if (!fs.existsSync(base)) continue
    for (const entry of fs.readdirSync(base).sort()) {
      const file = path.join(base, entry, "README.md")
      if (fs.existsSync(file)) found.push(file)
    }
  }
  return found
}

export const blocks = (file: string): ReadonlyArray<Block> => {
  const lines = fs.readFileSync(file, "utf8").split("\n")
  const result: Array<Block> = []
  for (let i = 0; i < lines.length; i++) {
    if (!/^```(ts|typescript)\s*$/.test(lines[i]!)) continue
    const start = i + 1
    let end = start
    while (end < lines.length && !/^```\s*$/.test(lines[end]!)) end++
    if (end === lines.length) throw new Error(`${path.relative(root, file)}:${i + 1}: unterminated code block`)
    const code = lines.slice(start, end).join("\n")
    result.push({
      readme: path.relative(root, file),
      line: start,
      code,
      partial: /^\s*\/\/\s*partial\b/.test(lines[start] ?? "")
    })
    i = end
  }
  return result
}

/** The module name a block is written to: `<readme dir>.<line>.ts`. */
export const moduleName = (block: Block): string =>
  `${path.dirname(block.readme).replaceAll("/", "_").replace(/^\.$/, "root")}.L${block.line}.ts`

const write = (): void => {
  fs.rmSync(out, { recursive: true, force: true })
  fs.mkdirSync(out, { recursive: true })
  let checked = 0
  let partial = 0
  for (const file of readmes()) {
    for (const block of blocks(file)) {
      if (block.partial) {
        partial++
        continue
      }
      checked++
      // `export {}` keeps each block a module of its own, so top-level names
      // of different blocks never collide.
      const header = `// ${block.readme}:${block.line}\n`
      fs.writeFileSync(path.join(out, moduleName(block)), `${header}${block.code}\nexport {}\n`)
    }
  }
  console.log(`README blocks: ${checked} to typecheck, ${partial} marked partial`)
}

if (import.meta.filename === process.argv[1]) write()
