#!/usr/bin/env node
/**
 * The `herald` binary.
 *
 * @since 0.1.0
 */
import * as Warnings from "./Warnings.ts"
import { NodeRuntime, NodeServices } from "@effect/platform-node"
import * as Effect from "effect/Effect"
import { createRequire } from "node:module"
import * as Cli from "./Cli.ts"
import * as Tail from "./Tail.ts"

// Before anything loads `node:sqlite` (`Database` imports it when a command opens a SQLite file).
Warnings.dropSqliteExperimental()

const manifest = createRequire(import.meta.url)("../package.json") as { readonly version: string }

NodeRuntime.runMain(
  Cli.run(process.argv.slice(2), manifest.version).pipe(Effect.provide(NodeServices.layer)),
  { disableErrorReporting: true, teardown: Tail.teardown }
)
