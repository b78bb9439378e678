/**
 * How every service takes its commands: a durable consumer whose handler
 * routes each command by type and runs behind the inbox, so that the
 * command's effects (the service's rows and the events it writes to the
 * outbox) commit in one transaction with the record that it was applied.
 * A command delivered again (a redelivery, a copy sent again by `herald dlq
 * retry`) finds the record and is skipped.
 */
import { Inbox, type InboxError, type InboxStore } from "@herald/inbox"
import { EventLog, Handler, type Middleware, TransportError } from "@herald/transport"
import * as Effect from "effect/Effect"
import * as Ref from "effect/Ref"
import type * as Scope from "effect/Scope"
import { stream } from "./Messages.ts"

const unknown = (delivery: EventLog.Delivery) =>
  TransportError.make(
    new TransportError.DecodeError({ detail: `${delivery.consumer} does not take ${JSON.stringify(delivery.envelope.type)}` })
  )

/** What a service reports about its commands. */
export interface CommandStats {
  /** Commands applied: the inbox's records for the consumer. */
  readonly applied: number
  /** Deliveries the inbox recognised as already applied and skipped. */
  readonly duplicates: number
}

/**
 * Consumes `consumer` with `routes` behind the inbox until the scope closes;
 * answers the service's command stats.
 */
export const consume = <E, R>(
  consumer: string,
  routes: ReadonlyArray<Middleware.Route<EventLog.Delivery, E, R>>
): Effect.Effect<
  Effect.Effect<CommandStats, InboxError.InboxError, never>,
  TransportError.TransportError,
  | Scope.Scope
  | EventLog.EventLog
  | InboxStore.InboxStore
  | R
> =>
  Effect.gen(function*() {
    const log = yield* EventLog.EventLog
    const duplicates = yield* Ref.make(0)
    const byType = new Map(routes.map((r) => [r.definition.type, r.handler]))
    const handler = Handler.pipe(
      (delivery: EventLog.Delivery): Effect.Effect<void, E | TransportError.TransportError, R> => {
        const route = byType.get(delivery.envelope.type)
        return route === undefined ? Effect.fail(unknown(delivery)) : route(delivery)
      },
      Inbox.middleware({ onDuplicate: () => Ref.update(duplicates, (n) => n + 1) })
    )
    const store = yield* Effect.context<InboxStore.InboxStore>()
    yield* log.consume(stream, consumer, handler)
    return Effect.gen(function*() {
      const records = yield* Effect.provideContext(Inbox.records({ consumer, limit: 10_000 }), store)
      return { applied: records.length, duplicates: yield* Ref.get(duplicates) }
    })
  })
