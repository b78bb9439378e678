/**
 * The one warning `herald` drops: `node:sqlite`'s `ExperimentalWarning`
 * (Node 22 emits it when a SQLite database is opened). On an emitter of its
 * own, and in a Node process, where Node itself prints warnings to stderr.
 */
import { assert, describe, it } from "@effect/vitest"
import * as ChildProcess from "node:child_process"
import { EventEmitter } from "node:events"
import * as Path from "node:path"
import * as Url from "node:url"
import { beforeAll } from "vitest"
import { Warnings } from "../src/index.ts"
import { assertBuilt } from "./herald.ts"

const sqlite = "SQLite is an experimental feature and might change at any time"

const warning = (name: string, message: string): Error => {
  const error = new Error(message)
  error.name = name
  return error
}

describe("Warnings", () => {
  it("isSqliteExperimental: the ExperimentalWarning about SQLite, nothing else", () => {
    assert.isTrue(Warnings.isSqliteExperimental(warning("ExperimentalWarning", sqlite)))
    assert.isFalse(Warnings.isSqliteExperimental(warning("ExperimentalWarning", "WASI is an experimental feature")))
    assert.isFalse(Warnings.isSqliteExperimental(warning("Warning", "SQLite database is large")))
    assert.isFalse(Warnings.isSqliteExperimental(warning("DeprecationWarning", sqlite)))
    assert.isFalse(Warnings.isSqliteExperimental(sqlite))
    assert.isFalse(Warnings.isSqliteExperimental(undefined))
  })

  it("dropSqliteExperimental: the SQLite warning reaches no listener; other warnings and events pass unchanged", () => {
    const emitter = new EventEmitter()
    const seen: Array<string> = []
    emitter.on("warning", (w: Error) => seen.push(`${w.name}: ${w.message}`))
    emitter.on("other", (a: number, b: number) => seen.push(`other ${a} ${b}`))
    Warnings.dropSqliteExperimental(emitter)
    assert.isFalse(emitter.emit("warning", warning("ExperimentalWarning", sqlite)))
    assert.isTrue(emitter.emit("warning", warning("ExperimentalWarning", "WASI is an experimental feature")))
    assert.isTrue(emitter.emit("warning", warning("Warning", "SQLite database is large")))
    assert.isTrue(emitter.emit("other", 1, 2))
    assert.isFalse(emitter.emit("nobody listens"))
    assert.deepStrictEqual(seen, [
      "ExperimentalWarning: WASI is an experimental feature",
      "Warning: SQLite database is large",
      "other 1 2"
    ])
  })

  describe("in a Node process (the built module)", () => {
    beforeAll(() => assertBuilt())
    const built = Url.pathToFileURL(
      Path.resolve(Path.dirname(Url.fileURLToPath(import.meta.url)), "..", "dist", "Warnings.js")
    ).href

    /** The stderr of a Node process that emits three warnings, with the SQLite one dropped or not. */
    const stderrOf = (drop: boolean): string => {
      const script = [
        `import { dropSqliteExperimental } from ${JSON.stringify(built)}`,
        drop ? "dropSqliteExperimental()" : "",
        `process.emitWarning(${JSON.stringify(sqlite)}, "ExperimentalWarning")`,
        `process.emitWarning("WASI is an experimental feature", "ExperimentalWarning")`,
        `process.emitWarning("careful", { type: "DeprecationWarning", code: "DEP0999" })`
      ].join("\n")
      const child = ChildProcess.spawnSync(process.execPath, ["--input-type=module", "-e", script], {
        encoding: "utf8",
        timeout: 30_000,
        env: { ...process.env, NODE_OPTIONS: "" }
      })
      assert.strictEqual(child.status, 0, child.stderr)
      return child.stderr
    }

    it("Node prints every warning but the SQLite one", () => {
      const dropped = stderrOf(true)
      assert.notInclude(dropped, "SQLite")
      assert.include(dropped, "ExperimentalWarning: WASI is an experimental feature")
      assert.include(dropped, "[DEP0999] DeprecationWarning: careful")
      // without it, Node prints the SQLite warning too
      assert.include(stderrOf(false), `ExperimentalWarning: ${sqlite}`)
    })
  })
})
