import { Ids } from "@herald/identity"
import { createHash } from "node:crypto"

const hex = (bytes: Uint8Array, from: number, to: number): string => {
  let s = ""
  for (let i = from; i < to; i++) s += bytes[i]!.toString(16).padStart(2, "0")
  return s
}

/**
 * A message id derived from its parts (an RFC 9562 version 8 UUID over their
 * SHA-256): the same parts give the same id, in any process, so a transition
 * tried again sends messages with the ids of its first attempt.
 */
export const deterministicId = (...parts: ReadonlyArray<string | number>): Ids.MessageId => {
  const hash = createHash("sha256")
  for (const part of parts) {
    const s = String(part)
    hash.update(`${s.length}:${s};`)
  }
  const b = new Uint8Array(hash.digest().subarray(0, 16))
  b[6] = (b[6]! & 0x0f) | 0x80
  b[8] = (b[8]! & 0x3f) | 0x80
  return Ids.messageIdUnsafe(`${hex(b, 0, 4)}-${hex(b, 4, 6)}-${hex(b, 6, 8)}-${hex(b, 8, 10)}-${hex(b, 10, 16)}`)
}
