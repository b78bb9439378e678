/**
 * The main entry of `@herald/testing` imports only `effect`, Herald packages
 * and Node's built-in modules: an application that uses `MemoryTransport`
 * needs neither vitest nor a PostgreSQL client. Checked twice: on the
 * sources (the static module graph of each entry) and on the built `dist`
 * (loaded in a child process in which vitest, `@effect/vitest` and
 * `@effect/sql-pg` cannot be resolved).
 */
import { assert, describe, it } from "@effect/vitest"
import * as ChildProcess from "node:child_process"
import * as Fs from "node:fs"
import * as Module from "node:module"
import * as Path from "node:path"
import * as Url from "node:url"
import ts from "typescript"

const root = Path.resolve(Path.dirname(Url.fileURLToPath(import.meta.url)), "..")
const optional = ["vitest", "@effect/vitest", "@effect/sql-pg"]

/** `@scope/name` or `name` of a bare specifier. */
const packageOf = (specifier: string): string => {
  const parts = specifier.split("/")
  return specifier.startsWith("@") ? parts.slice(0, 2).join("/") : parts[0]!
}

const allowedInMain = (specifier: string): boolean =>
  Module.isBuiltin(specifier) ||
  packageOf(specifier) === "effect" ||
  (specifier.startsWith("@herald/") && !specifier.startsWith("@herald/testing"))

/** What a source file imports: import and export declarations, `import()` calls. */
const specifiers = (file: string): ReadonlyArray<string> => {
  const source = ts.createSourceFile(file, Fs.readFileSync(file, "utf8"), ts.ScriptTarget.Latest, true)
  const found: Array<string> = []
  const visit = (node: ts.Node): void => {
    if (
      (ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) &&
      node.moduleSpecifier !== undefined && ts.isStringLiteral(node.moduleSpecifier)
    ) found.push(node.moduleSpecifier.text)
    else if (
      ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword &&
      node.arguments[0] !== undefined && ts.isStringLiteral(node.arguments[0])
    ) found.push(node.arguments[0].text)
    ts.forEachChild(node, visit)
  }
  visit(source)
  return found
}

/** The bare specifiers a source entry imports, following its relative imports. */
const sourceImports = (entry: string): ReadonlySet<string> => {
  const bare = new Set<string>()
  const seen = new Set<string>()
  const visit = (file: string): void => {
    if (seen.has(file)) return
    seen.add(file)
    for (const specifier of specifiers(file)) {
      if (specifier.startsWith(".")) visit(Path.resolve(Path.dirname(file), specifier))
      else bare.add(specifier)
    }
  }
  visit(Path.join(root, "src", entry))
  return bare
}

interface Loaded {
  readonly status: number | null
  readonly stderr: string
  readonly esm: ReadonlyArray<string>
  readonly cjs: ReadonlyArray<string>
  /** Bare specifiers the package's own `dist` files import. */
  readonly direct: ReadonlyArray<string>
}

// Runs in a child node: a synchronous resolve hook (for `import` and
// `require` alike) makes the optional peers unresolvable, then the entry is
// imported as ESM and required as CJS.
const loader = `
import { createRequire, registerHooks } from "node:module"
import { fileURLToPath } from "node:url"
const blocked = JSON.parse(process.env.HERALD_BLOCKED)
const dist = new URL(process.env.HERALD_DIST_URL)
const direct = new Set()
registerHooks({
  resolve(specifier, context, nextResolve) {
    const bare = !specifier.startsWith(".") && !specifier.startsWith("/") && !specifier.startsWith("file:")
    if (bare) {
      const parts = specifier.split("/")
      const pkg = specifier.startsWith("@") ? parts.slice(0, 2).join("/") : parts[0]
      if (blocked.includes(pkg)) {
        const error = new Error("Cannot find package '" + specifier + "' (not installed)")
        error.code = "ERR_MODULE_NOT_FOUND"
        throw error
      }
      if (context.parentURL !== undefined && context.parentURL.startsWith(dist.href)) direct.add(specifier)
    }
    return nextResolve(specifier, context)
  }
})
const esm = await import(new URL(process.env.HERALD_ENTRY + ".js", dist).href)
const cjs = createRequire(import.meta.url)(fileURLToPath(new URL(process.env.HERALD_ENTRY + ".cjs", dist)))
console.log(JSON.stringify({ esm: Object.keys(esm).sort(), cjs: Object.keys(cjs).sort(), direct: [...direct].sort() }))
`

const loadBuilt = (entry: string): Loaded => {
  const dist = Path.join(root, "dist")
  assert.isTrue(
    Fs.existsSync(Path.join(dist, `${entry}.js`)) && Fs.existsSync(Path.join(dist, `${entry}.cjs`)),
    `dist/${entry}.js and dist/${entry}.cjs are missing: build the package first (pnpm build)`
  )
  const result = ChildProcess.spawnSync(process.execPath, ["--input-type=module", "-e", loader], {
    cwd: root,
    encoding: "utf8",
    env: {
      ...process.env,
      NODE_OPTIONS: "",
      HERALD_BLOCKED: JSON.stringify(optional),
      HERALD_DIST_URL: Url.pathToFileURL(dist + Path.sep).href,
      HERALD_ENTRY: entry
    },
    timeout: 60_000
  })
  const line = result.stdout.trim().split("\n").at(-1) ?? ""
  const parsed = result.status === 0 ? JSON.parse(line) as Omit<Loaded, "status" | "stderr"> : undefined
  return {
    status: result.status,
    stderr: result.stderr,
    esm: parsed?.esm ?? [],
    cjs: parsed?.cjs ?? [],
    direct: parsed?.direct ?? []
  }
}

const mainModules = ["Capture", "CausationAssert", "Fixtures", "MemoryTransport", "NatsCluster", "NatsServer", "Wait"]

describe("entry points", () => {
  it("the main entry's sources import only effect, Herald packages and node: modules", () => {
    const imports = [...sourceImports("index.ts")]
    assert.isAbove(imports.length, 0)
    assert.deepStrictEqual(imports.filter((s) => !allowedInMain(s)), [])
    assert.isTrue(imports.some((s) => s.startsWith("effect")))
  })

  it("the optional peers are imported by their own entries", () => {
    const vitest = sourceImports("vitest.ts")
    const pg = sourceImports("pg.ts")
    assert.isTrue(vitest.has("@effect/vitest"))
    assert.isFalse([...vitest].some((s) => packageOf(s) === "@effect/sql-pg"))
    assert.isTrue(pg.has("@effect/sql-pg"))
    assert.isFalse([...pg].some((s) => packageOf(s) === "vitest" || packageOf(s) === "@effect/vitest"))
  })

  it("the built main entry loads (ESM and CJS) without vitest, @effect/vitest and @effect/sql-pg", () => {
    const loaded = loadBuilt("index")
    assert.strictEqual(loaded.status, 0, loaded.stderr)
    assert.deepStrictEqual(loaded.esm, mainModules)
    assert.deepStrictEqual(loaded.cjs, mainModules)
    assert.deepStrictEqual(loaded.direct.filter((s) => !allowedInMain(s)), [])
  })

  it("the built vitest and pg entries need their peers", () => {
    const vitest = loadBuilt("vitest")
    assert.notStrictEqual(vitest.status, 0)
    assert.match(vitest.stderr, /Cannot find package '(@effect\/)?vitest.*' \(not installed\)/)
    const pg = loadBuilt("pg")
    assert.notStrictEqual(pg.status, 0)
    assert.match(pg.stderr, /Cannot find package '@effect\/sql-pg' \(not installed\)/)
  })
})
