/**
 * A one-shot-per-round wake-up signal: waiters take the current round's
 * `Deferred`, `notify` completes it and starts a new round.
 *
 * Take the round (`current`) in the same synchronous step in which the
 * condition is checked, then await it: a `notify` in between completes the
 * round already taken, so no wake-up is lost.
 *
 * @since 0.1.0
 * @internal
 */
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"

/**
 * @since 0.1.0
 * @internal
 */
export class Signal {
  private round: Deferred.Deferred<void> | undefined = undefined

  /** The current round; completed by the next `notify`. */
  current(): Deferred.Deferred<void> {
    if (this.round === undefined) this.round = Deferred.makeUnsafe<void>()
    return this.round
  }

  /** Wakes every waiter of the current round. */
  notify(): void {
    const round = this.round
    if (round !== undefined) {
      this.round = undefined
      Deferred.doneUnsafe(round, Effect.void)
    }
  }
}
