import { execFileSync } from "node:child_process"
import { readdirSync, readFileSync, writeFileSync } from "node:fs"
import { createRequire } from "node:module"
import { join } from "node:path"
import { defineConfig } from "tsup"

const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc")

const relativeTs = /(from\s+|import\s*\(\s*)(["'])(\.{1,2}\/[^"']*?)\.ts\2/g

/** The `.d.ts` files under `dir`, recursively. */
const declarationFiles = (dir: string): Array<string> =>
  readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory()
      ? declarationFiles(join(dir, entry.name))
      : entry.name.endsWith(".d.ts")
      ? [join(dir, entry.name)]
      : []
  )

/**
 * The ESM modules and their declarations, one file per source module (as
 * effect ships them), so that every public type has a module a consumer's
 * declaration emit can name (`@herald/transport/Topology`). A bundled `.d.ts`
 * keeps types inside namespaces that no import can reach. tsc writes the
 * declarations' relative imports with `.ts`; they are rewritten to `.js`.
 * Each CommonJS entry gets a `.d.cts` that re-exports the ESM declarations,
 * so both conditions see one set of types.
 */
const emitModules = () => {
  execFileSync(process.execPath, [
    tsc,
    ...["-p", "tsconfig.build.json", "--noEmit", "false", "--emitDeclarationOnly", "false"],
    ...["--declaration", "--declarationMap", "--rootDir", "src", "--outDir", "dist"]
  ], { stdio: "inherit" })
  for (const file of declarationFiles("dist")) {
    const text = readFileSync(file, "utf8")
    const rewritten = text.replace(relativeTs, "$1$2$3.js$2")
    if (rewritten !== text) writeFileSync(file, rewritten)
  }
  for (const file of readdirSync("dist")) {
    if (!file.endsWith(".cjs")) continue
    const name = file.slice(0, -".cjs".length)
    writeFileSync(join("dist", `${name}.d.cts`), `export * from "./${name}.js"\n`)
  }
}

/**
 * The build of every published package: ESM modules and `.d.ts` per source
 * file (tsc), and one CommonJS bundle per entry (tsup).
 * Dependencies and peer dependencies stay external.
 */
export default defineConfig({
  entry: ["src/index.ts"],
  format: ["cjs"],
  dts: false,
  clean: true,
  sourcemap: true,
  target: "node22",
  tsconfig: "tsconfig.build.json",
  // Keep `node:` in the bundle's imports: some built-ins (`node:sqlite`)
  // exist only under that name.
  removeNodeProtocol: false,
  onSuccess: async () => emitModules()
})
