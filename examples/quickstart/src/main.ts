/**
 * Runs the quickstart and prints the flow's causation tree: on NATS when
 * `NATS_URL` is set (credentials from `NATS_TOKEN`, `NATS_USER` /
 * `NATS_PASSWORD`, ... as `NatsConnection.layerConfig` reads them), else on
 * the in-memory transport, which needs no setup.
 */
import { CausationTree, IdGenerator } from "@herald/identity"
import { MemoryTransport } from "@herald/testing"
import { NatsTransport } from "@herald/transport-nats"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import { program } from "./Quickstart.ts"

const natsUrl = process.env["NATS_URL"]
const transport = natsUrl === undefined || natsUrl === ""
  ? { name: "the in-memory transport", layer: MemoryTransport.layer }
  : { name: `NATS at ${natsUrl}`, layer: NatsTransport.layerConfig({ name: "herald-quickstart" }) }

const main = Effect.gen(function*() {
  yield* Console.log(`Herald quickstart on ${transport.name}\n`)
  const result = yield* program
  yield* Console.log(`order-1 status: ${result.status}`)
  const levels = CausationTree.maxDepth(result.tree) + 1
  yield* Console.log(`\ncausation tree: ${result.messages.length} messages, ${levels} levels\n`)
  yield* Console.log(result.rendered)
})

Effect.runPromiseExit(main.pipe(Effect.provide(Layer.mergeAll(transport.layer, IdGenerator.layer)))).then(
  (exit) => {
    if (Exit.isFailure(exit)) {
      console.error(String(exit.cause))
      process.exitCode = 1
    }
  }
)
