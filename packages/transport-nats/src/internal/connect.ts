/**
 * nats.js's connect with a transport that closes the socket of an attempt
 * that failed before the handshake finished.
 *
 * nats.js's Node transport ignores `close()` until it has read the server's
 * INFO: an attempt that times out against a peer that accepts TCP and never
 * speaks keeps its socket open for ever (one per attempt, and the process
 * cannot exit). This transport destroys the socket of such an attempt.
 *
 * @internal
 */
import { errors } from "@nats-io/nats-core"
import { hasWsProtocol, NatsConnectionImpl, setTransportFactory } from "@nats-io/nats-core/internal"
import type { NatsConnection, NodeConnectionOptions } from "@nats-io/transport-node"
import { nodeResolveHost, NodeTransport } from "@nats-io/transport-node/lib/node_transport.js"

class ClosingTransport extends NodeTransport {
  override close(err?: Error): Promise<void> {
    // Not connected yet: nats.js would return and leave the socket open.
    // `discard` marks the transport done (a dial still in flight destroys its
    // socket when it completes) and destroys the socket it has.
    if (!this.connected) {
      this.discard()
      return Promise.resolve()
    }
    return super.close(err)
  }
}

/**
 * Connects like `connect` from `@nats-io/transport-node`, with
 * {@link ClosingTransport}. The transport factory is process-wide in nats.js
 * and read at every attempt (reconnects included), so it is installed on
 * every connect.
 *
 * @internal
 */
export const connect = (options: NodeConnectionOptions): Promise<NatsConnection> => {
  if (hasWsProtocol(options)) {
    return Promise.reject(
      errors.InvalidArgumentError.format("servers", "the Node.js client does not support WebSocket URLs")
    )
  }
  setTransportFactory({ factory: () => new ClosingTransport(), dnsResolveFn: nodeResolveHost })
  return NatsConnectionImpl.connect(options)
}
