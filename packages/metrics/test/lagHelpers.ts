/**
 * What the lag monitor tests share: numbered envelopes to build lag with.
 */
import { IdGenerator, MessageIdentity } from "@herald/identity"
import { Envelope } from "@herald/transport"

const encoder = new TextEncoder()

/** Envelope number `n`: id `IdGenerator.testId(n)`, body `{ n }`. */
export const envelope = (n: number, type = "test.Deposited"): Envelope.Envelope =>
  Envelope.make({
    identity: MessageIdentity.root(IdGenerator.testId(n)),
    type,
    kind: "event",
    occurredAt: 1_700_000_000_000 + n,
    body: encoder.encode(JSON.stringify({ n }))
  })
