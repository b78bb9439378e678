/**
 * Herald as npm users get it: every published package packed, the tarballs
 * installed with npm (not pnpm) into a project outside the workspace, and
 * used there only through the packages' public entry points.
 */
import { PgClient } from "@effect/sql-pg"
import { NatsServer } from "@herald/testing"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Redacted from "effect/Redacted"
import * as Scope from "effect/Scope"
import { SqlClient } from "effect/sql/SqlClient"
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { blocks } from "../../../docs/readmes.ts"

const root = path.resolve(import.meta.dirname, "../../..")
const fixtures = path.resolve(import.meta.dirname, "../fixture")

interface Manifest {
  readonly name: string
  readonly version: string
  readonly private?: boolean
  readonly exports?: Record<string, unknown>
  readonly dependencies?: Record<string, string>
  readonly devDependencies?: Record<string, string>
  readonly peerDependencies?: Record<string, string>
}

const readManifest = (dir: string): Manifest => JSON.parse(fs.readFileSync(path.join(dir, "package.json"), "utf8"))

interface Run {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

/**
 * The environment of the commands run in the project: without the
 * variables pnpm and vitest set for the workspace, as in a user's shell.
 */
const userEnv = (extra: Record<string, string> = {}): NodeJS.ProcessEnv => {
  const env: NodeJS.ProcessEnv = {}
  for (const [key, value] of Object.entries(process.env)) {
    if (/^(npm_|pnpm_|PNPM_|VITEST|NODE_OPTIONS$|TURBO_)/i.test(key)) continue
    env[key] = value
  }
  return { ...env, NO_UPDATE_NOTIFIER: "1", npm_config_update_notifier: "false", ...extra }
}

/** Runs a command; kills it after `timeoutMs`. */
const run = (
  command: string,
  args: ReadonlyArray<string>,
  options: { readonly cwd: string; readonly env?: NodeJS.ProcessEnv; readonly timeoutMs: number }
): Promise<Run> =>
  new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: options.cwd, env: options.env ?? userEnv(), stdio: "pipe" })
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (chunk) => stdout += chunk)
    child.stderr.on("data", (chunk) => stderr += chunk)
    const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs)
    child.on("error", (error) => {
      clearTimeout(timer)
      reject(error)
    })
    child.on("close", (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr })
    })
  })

const ok = async (
  command: string,
  args: ReadonlyArray<string>,
  options: { readonly cwd: string; readonly env?: NodeJS.ProcessEnv; readonly timeoutMs: number }
): Promise<Run> => {
  const result = await run(command, args, options)
  if (result.code !== 0) {
    throw new Error(`${command} ${args.join(" ")} exited with ${result.code}\n${result.stdout}\n${result.stderr}`)
  }
  return result
}

/** The published packages: every `packages/*` that is not private. */
const published = fs.readdirSync(path.join(root, "packages")).sort()
  .map((name) => path.join(root, "packages", name))
  .filter((dir) => fs.existsSync(path.join(dir, "package.json")) && readManifest(dir).private !== true)
  .map((dir) => ({ dir, manifest: readManifest(dir) }))

/** A package's entry points: `exports` keys that are neither patterns nor files. */
const entriesOf = (manifest: Manifest): ReadonlyArray<string> =>
  Object.entries(manifest.exports ?? { ".": {} })
    .filter(([key, target]) => target !== null && !key.includes("*") && !key.endsWith(".json"))
    .map(([key]) => key === "." ? manifest.name : `${manifest.name}/${key.slice(2)}`)

/** A package's public modules, reachable as subpaths through `"./*"`. */
const modulesOf = (dir: string, manifest: Manifest): ReadonlyArray<string> =>
  manifest.exports?.["./*"] === undefined ? [] : fs.readdirSync(path.join(dir, "src"))
    .filter((file) => /^[A-Z]\w*\.ts$/.test(file))
    .map((file) => `${manifest.name}/${file.slice(0, -3)}`)

/** Versions the workspace pins, to install the same ones the tests ran with. */
const workspaceVersions = (): Map<string, string> => {
  const versions = new Map<string, string>()
  const dirs = [root, ...["packages", "examples"].flatMap((base) =>
    fs.existsSync(path.join(root, base))
      ? fs.readdirSync(path.join(root, base)).map((name) => path.join(root, base, name))
      : []
  ), path.join(root, "docs"), path.join(root, "bench")]
  for (const dir of dirs) {
    if (!fs.existsSync(path.join(dir, "package.json"))) continue
    const manifest = readManifest(dir)
    for (const deps of [manifest.dependencies, manifest.devDependencies]) {
      for (const [name, version] of Object.entries(deps ?? {})) {
        if (!version.startsWith("workspace:") && !versions.has(name)) versions.set(name, version)
      }
    }
  }
  return versions
}

/** The bare package names a source file imports. */
const importedPackages = (code: string): ReadonlyArray<string> =>
  [...code.matchAll(/(?:from|import)\s*\(?\s*"([^".][^"]*)"/g)]
    .map((match) => match[1]!)
    .filter((specifier) => !specifier.startsWith("node:"))
    .map((specifier) => specifier.startsWith("@") ? specifier.split("/").slice(0, 2).join("/") : specifier.split("/")[0]!)

/** The README blocks that are complete programs, as modules exporting their top-level names. */
const readmeModules = (): ReadonlyArray<{ readonly name: string; readonly code: string }> => {
  const files = [path.join(root, "README.md"), ...published.map(({ dir }) => path.join(dir, "README.md"))]
    .filter((file) => fs.existsSync(file))
  return files.flatMap((file) =>
    blocks(file).filter((block) => !block.partial).map((block) => ({
      name: `${path.basename(path.dirname(file)).replace(/\W/g, "_")}_L${block.line}`,
      // Each top-level declaration becomes an export, so that the emit has to
      // write its type.
      code: block.code.replace(/^(const|let|type|interface|declare const|class|function)\b/gm, "export $1") +
        "\nexport {}\n"
    }))
  )
}

/** The top README's example: the first ts block of README.md. */
const topExample = (): string => blocks(path.join(root, "README.md"))[0]!.code

const compilerOptions = {
  target: "ES2022",
  module: "NodeNext",
  moduleResolution: "NodeNext",
  strict: true,
  skipLibCheck: false,
  types: ["node"]
}

let work = ""
let app = ""
const scope = Effect.runSync(Scope.make())

beforeAll(async () => {
  work = fs.mkdtempSync(path.join(os.tmpdir(), "herald-pack-"))
  app = path.join(work, "app")
  const tarballs = path.join(work, "tarballs")
  fs.mkdirSync(app)
  fs.mkdirSync(tarballs)

  // The packages are packed as built: `pnpm build` runs first (as in
  // .ci/run). A build older than its sources would test stale code.
  for (const { dir, manifest } of published) {
    const built = path.join(dir, "dist", "index.js")
    const sources = fs.readdirSync(path.join(dir, "src"), { recursive: true, encoding: "utf8" })
      .map((file) => fs.statSync(path.join(dir, "src", file)).mtimeMs)
    if (!fs.existsSync(built) || fs.statSync(built).mtimeMs < Math.max(...sources)) {
      throw new Error(`${manifest.name}: dist/ is missing or older than src/; run pnpm build first`)
    }
  }
  for (const { dir } of published) {
    await ok("pnpm", ["pack", "--pack-destination", tarballs], { cwd: dir, env: process.env, timeoutMs: 120_000 })
  }

  // The project: the fixtures, the top README example, one module per
  // README block, and modules importing every entry point.
  fs.writeFileSync(
    path.join(app, "package.json"),
    JSON.stringify({ name: "herald-user", version: "0.0.0", private: true, type: "module" }, null, 2)
  )
  for (const file of fs.readdirSync(fixtures)) fs.copyFileSync(path.join(fixtures, file), path.join(app, file))
  fs.writeFileSync(path.join(app, "example.ts"), topExample())
  fs.mkdirSync(path.join(app, "readme"))
  for (const module of readmeModules()) fs.writeFileSync(path.join(app, "readme", `${module.name}.ts`), module.code)
  const entries = published.flatMap(({ manifest }) => entriesOf(manifest))
  fs.writeFileSync(
    path.join(app, "entries.ts"),
    entries.map((entry, i) => `import * as m${i} from "${entry}"\n`).join("") +
      `export const all = [${entries.map((_, i) => `m${i}`).join(", ")}]\n`
  )
  fs.writeFileSync(
    path.join(app, "entries.cts"),
    entries.map((entry, i) => `import m${i} = require("${entry}")\n`).join("") +
      `export const all = [${entries.map((_, i) => `m${i}`).join(", ")}]\n`
  )

  // What the packages and the programs import from the registry: the peers
  // and the imported packages, at the versions the workspace tests, plus
  // TypeScript and Node's types.
  const ours = new Set(published.map(({ manifest }) => manifest.name))
  const versions = workspaceVersions()
  const wanted = new Map<string, string>()
  for (const { manifest } of published) {
    for (const [name, range] of Object.entries(manifest.peerDependencies ?? {})) {
      if (!ours.has(name)) wanted.set(name, versions.get(name) ?? range)
    }
  }
  const sources = fs.readdirSync(app, { recursive: true, encoding: "utf8" })
    .filter((file) => file.endsWith(".ts"))
    .map((file) => fs.readFileSync(path.join(app, file), "utf8"))
  for (const name of sources.flatMap(importedPackages)) {
    if (ours.has(name) || wanted.has(name)) continue
    const version = versions.get(name)
    if (version === undefined) throw new Error(`the workspace does not pin ${name}, which a program imports`)
    wanted.set(name, version)
  }
  for (const name of ["typescript", "@types/node"]) wanted.set(name, versions.get(name)!)
  const packed = fs.readdirSync(tarballs).map((file) => path.join(tarballs, file))
  await ok("npm", [
    "install",
    "--no-audit",
    "--no-fund",
    "--loglevel=error",
    ...packed,
    ...[...wanted].map(([name, version]) => `${name}@${version}`)
  ], { cwd: app, timeoutMs: 300_000 })
}, 900_000)

afterAll(async () => {
  await Effect.runPromise(Scope.close(scope, Exit.void))
  if (work !== "") fs.rmSync(work, { recursive: true, force: true })
})

const tsc = (project: string) =>
  run(process.execPath, [path.join(app, "node_modules/typescript/bin/tsc"), "-p", project], {
    cwd: app,
    timeoutMs: 300_000
  })

const node = (file: string, env: Record<string, string> = {}) =>
  run(process.execPath, ["--disable-warning=ExperimentalWarning", file], {
    cwd: app,
    env: userEnv(env),
    timeoutMs: 120_000
  })

/** The last line a program printed, parsed. */
const result = (output: Run): unknown => {
  if (output.code !== 0) throw new Error(`exited with ${output.code}\n${output.stdout}\n${output.stderr}`)
  return JSON.parse(output.stdout.trim().split("\n").at(-1)!)
}

describe("the packed packages installed with npm", () => {
  it("every entry point and module loads with import and with require", async () => {
    const specifiers = published.flatMap(({ dir, manifest }) => [...entriesOf(manifest), ...modulesOf(dir, manifest)])
    const list = JSON.stringify(specifiers)
    const esm = await run(process.execPath, [
      "--input-type=module",
      "-e",
      `for (const s of ${list}) { const m = await import(s); if (Object.keys(m).length === 0) throw new Error(s + ": no exports") }`
    ], { cwd: app, env: userEnv(), timeoutMs: 60_000 })
    expect(esm.stderr).toBe("")
    expect(esm.code).toBe(0)
    const cjs = await run(process.execPath, [
      "-e",
      `for (const s of ${list}) { const m = require(s); if (Object.keys(m).length === 0) throw new Error(s + ": no exports") }`
    ], { cwd: app, env: userEnv(), timeoutMs: 60_000 })
    expect(cjs.stderr).toBe("")
    expect(cjs.code).toBe(0)
  })

  it("tsc --strict with skipLibCheck false accepts every entry point and the programs", async () => {
    fs.writeFileSync(
      path.join(app, "tsconfig.strict.json"),
      JSON.stringify({
        compilerOptions: { ...compilerOptions, noEmit: true, allowImportingTsExtensions: true },
        files: ["entries.ts", "entries.cts", "library.ts", "nats.ts", "stores.ts", "pg.ts", "sqlite.ts", "example.ts"]
      })
    )
    const output = await tsc("tsconfig.strict.json")
    expect(output.stdout + output.stderr).toBe("")
    expect(output.code).toBe(0)
  })

  it("a library of values built from every README example emits its declarations cleanly", async () => {
    fs.writeFileSync(
      path.join(app, "tsconfig.library.json"),
      JSON.stringify({
        compilerOptions: {
          ...compilerOptions,
          skipLibCheck: true,
          declaration: true,
          emitDeclarationOnly: true,
          outDir: "declarations",
          // README blocks show values they do not use.
          noUnusedLocals: false
        },
        files: ["library.ts", ...fs.readdirSync(path.join(app, "readme")).map((file) => `readme/${file}`)]
      })
    )
    const output = await tsc("tsconfig.library.json")
    expect(output.stdout + output.stderr).toBe("")
    expect(output.code).toBe(0)
    const emitted = fs.readFileSync(path.join(app, "declarations/library.d.ts"), "utf8")
    expect(emitted).toContain("export declare const AppLive: Layer.Layer<")
    expect(emitted).toContain("import(\"@herald/transport/TransportError\").TransportError")
  })

  it("the top README example runs on MemoryTransport", async () => {
    const output = await node("example.ts")
    expect(output.stderr).toBe("")
    expect(output.code).toBe(0)
    expect(output.stdout).toContain("billing o-1")
  })

  describe("on a nats-server", () => {
    let natsUrl = ""
    beforeAll(async () => {
      const server = await Effect.runPromise(Scope.provide(NatsServer.make({ jetstream: true }), scope))
      natsUrl = server.url
    })

    it("events through a JetStream consumer and a request answered by serve", async () => {
      expect(result(await node("nats.ts", { NATS_URL: natsUrl }))).toEqual({
        billed: ["o-1", "o-2", "o-3"],
        status: { orderId: "o-1", status: "placed" },
        causedBy: true
      })
    })

    it("the outbox and the inbox on PostgreSQL", async () => {
      const database = `herald_pack_${process.pid}_${Date.now()}`
      const admin = PgClient.layer({
        host: process.env["PGHOST"] ?? "127.0.0.1",
        port: Number(process.env["PGPORT"] ?? 5432),
        username: process.env["PGUSER"] ?? "postgres",
        ...(process.env["PGPASSWORD"] === undefined ? {} : { password: Redacted.make(process.env["PGPASSWORD"]) }),
        database: "postgres"
      })
      const sql = (statement: string) =>
        Effect.runPromise(Effect.gen(function*() {
          const client = yield* SqlClient
          yield* client.unsafe(statement)
        }).pipe(Effect.provide(admin)))
      await sql(`CREATE DATABASE "${database}"`)
      try {
        const user = encodeURIComponent(process.env["PGUSER"] ?? "postgres")
        const password = process.env["PGPASSWORD"] === undefined ? "" : `:${encodeURIComponent(process.env["PGPASSWORD"])}`
        const url = `postgres://${user}${password}@${process.env["PGHOST"] ?? "127.0.0.1"}:${
          process.env["PGPORT"] ?? 5432
        }/${database}`
        expect(result(await node("pg.ts", { NATS_URL: natsUrl, DATABASE_URL: url }))).toEqual({
          name: "pg",
          orders: ["o-1", "o-2", "o-3"],
          ledger: ["o-1:10", "o-2:20", "o-3:30"],
          processed: [true, true, true],
          refused: "the business rule refused the order"
        })
      } finally {
        await sql(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`)
      }
    })

    it("a saga, its flow in causal order through the index, and a projection, on SQLite", async () => {
      expect(result(await node("flows.ts", { NATS_URL: natsUrl, SQLITE_FILE: path.join(work, "flows.db") }))).toEqual({
        sagas: ["completed@2"],
        flow: ["OrderPlaced", "ShipOrder", "OrderShipped"],
        missing: 0,
        projection: { position: 3, rows: ["o-1"] }
      })
    })

    it("the herald binary installed with npm: streams as JSON, a bad sequence and an unknown stream as one line", async () => {
      const herald = path.join(app, "node_modules", ".bin", "herald")
      const env = userEnv({ NATS_URL: natsUrl })
      const version = await run(herald, ["--version"], { cwd: app, env, timeoutMs: 60_000 })
      expect(version.code).toBe(0)
      expect(version.stdout).toContain(readManifest(path.join(root, "packages", "cli")).version)
      const streams = await run(herald, ["streams", "--json"], { cwd: app, env, timeoutMs: 60_000 })
      expect(streams.stderr).toBe("")
      expect(streams.code).toBe(0)
      const reports = JSON.parse(streams.stdout) as ReadonlyArray<Record<string, unknown>>
      expect(reports.length).toBeGreaterThan(0)
      for (const report of reports) {
        expect(Object.keys(report)).toEqual(["name", "subjects", "messages", "bytes", "firstSequence", "lastSequence", "consumers"])
      }
      const bad = await run(herald, ["dlq", "show", "x"], { cwd: app, env, timeoutMs: 60_000 })
      expect([bad.code, bad.stdout, bad.stderr]).toEqual([1, "", "herald: malformed sequence \"x\": expected a positive integer\n"])
      const unknown = await run(herald, ["dlq", "list", "--stream", "PACK_NONE"], { cwd: app, env, timeoutMs: 60_000 })
      expect([unknown.code, unknown.stdout, unknown.stderr]).toEqual([1, "", "herald: stream PACK_NONE not found\n"])
    })

    it("the herald binary installed with npm reads a SQLite file: sagas, the outbox, a missing DATABASE_URL", async () => {
      // The flows program on a server of its own (its stream and projection start empty).
      const server = await Effect.runPromise(Scope.provide(NatsServer.make({ jetstream: true }), scope))
      const file = path.join(work, "herald-cli.db")
      expect(result(await node("flows.ts", { NATS_URL: server.url, SQLITE_FILE: file }))).toMatchObject({ sagas: ["completed@2"] })
      const herald = path.join(app, "node_modules", ".bin", "herald")
      const env = userEnv({ DATABASE_URL: `sqlite:${file}` })
      const sagas = await run(herald, ["saga", "list", "--json"], { cwd: app, env, timeoutMs: 60_000 })
      expect(sagas.stderr).toBe("")
      expect(sagas.code).toBe(0)
      const instances = JSON.parse(sagas.stdout) as ReadonlyArray<Record<string, unknown>>
      expect(instances.map((i) => [i["saga"], i["status"], i["version"]])).toEqual([["shipping", "completed", 2]])
      const outbox = await run(herald, ["outbox", "status", "--json"], { cwd: app, env, timeoutMs: 60_000 })
      expect(outbox.stderr).toBe("")
      expect(outbox.code).toBe(0)
      expect(JSON.parse(outbox.stdout)).toMatchObject({ table: "herald_outbox", pending: 0, parked: 0, sent: 1 })
      // The flows program keeps its correlation index in memory: no table.
      const tree = await run(herald, ["tree", "abc"], { cwd: app, env, timeoutMs: 60_000 })
      expect([tree.code, tree.stdout, tree.stderr]).toEqual([
        1,
        "",
        `herald: table herald_correlation_index not found in ${file}: the correlation index (@herald/replay) has not created its tables there\n`
      ])
      const bare = userEnv()
      delete bare["DATABASE_URL"]
      const unset = await run(herald, ["saga", "list"], { cwd: app, env: bare, timeoutMs: 60_000 })
      expect([unset.code, unset.stdout]).toEqual([1, ""])
      expect(unset.stderr).toMatch(/^herald: DATABASE_URL is not set: .*\n$/)
    })

    it("the outbox and the inbox on SQLite", async () => {
      expect(result(await node("sqlite.ts", { NATS_URL: natsUrl, SQLITE_FILE: path.join(work, "app.db") }))).toEqual({
        name: "sqlite",
        orders: ["o-1", "o-2", "o-3"],
        ledger: ["o-1:10", "o-2:20", "o-3:30"],
        processed: [true, true, true],
        refused: "the business rule refused the order"
      })
    })
  })
})
