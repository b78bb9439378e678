/**
 * Runs the quickstart on the in-memory transport (no setup) and prints the
 * flow's causation tree.
 */
import { CausationTree, IdGenerator } from "@herald/identity"
import { MemoryTransport } from "@herald/testing"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import { program } from "./Quickstart.ts"

const main = Effect.gen(function*() {
  yield* Console.log("Herald quickstart on the in-memory transport\n")
  const result = yield* program
  yield* Console.log(`order-1 status: ${result.status}`)
  const levels = CausationTree.maxDepth(result.tree) + 1
  yield* Console.log(`\ncausation tree: ${result.messages.length} messages, ${levels} levels\n`)
  yield* Console.log(result.rendered)
})

Effect.runPromiseExit(main.pipe(Effect.provide(Layer.mergeAll(MemoryTransport.layer, IdGenerator.layer)))).then(
  (exit) => {
    if (Exit.isFailure(exit)) {
      console.error(String(exit.cause))
      process.exitCode = 1
    }
  }
)
