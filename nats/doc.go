// Package nats is a herald.Transport on NATS JetStream, for clusters of
// Herald nodes run by operators who already run NATS.
//
// # Design
//
// All nodes share one JetStream stream (named by Config.Stream), bounded by
// count (MaxMsgs), age (MaxAge) and bytes, with DiscardOld: it is both the
// history that clients resume from and the log that carries updates
// between nodes.
//
//   - An update is stored as one message whose body is the update's binary
//     encoding (herald.Update.MarshalBinary). Its subject is
//     <prefix>.u.<token>, where token is 16 base32 characters of the
//     SHA-256 of the update id. The stream sequence is the update's Seq.
//   - Publish waits for JetStream's PubAck: it returns nil only once the
//     stream has stored the update (on a quorum of replicas when
//     Replicas > 1).
//   - Resuming after an id is one direct get, "the last message on
//     <prefix>.u.<token>": cheap and bounded whatever the history's size,
//     with no scan and no index of our own. JetStream keeps the per-subject
//     index and drops it with the messages.
//   - History pages are read with batched direct gets (NATS 2.11+), which
//     any replica can answer and which leave no consumer state on the
//     server; older servers are read one message per request.
//   - Each node runs one ordered consumer (an ephemeral, memory-backed,
//     unacknowledged consumer that the client recreates from the last
//     delivered sequence after any reconnect, gap or missed heartbeat) and
//     hands its messages to the hub in Seq order. Sequences at or below
//     the last delivered one are dropped, so a consumer reset never
//     delivers an update twice.
//   - The update id is also the message's Nats-Msg-Id, so a publisher that
//     retries after a lost answer (a 503 whose update was stored, a node
//     killed mid-request) does not store the update twice: within the
//     de-duplication window the retry is answered with the stored update's
//     Seq. A publisher that reuses an id for a different update still gets
//     it stored (see Transport.Publish).
//
// When NATS cannot be reached, Publish, History and Ping fail within
// Config.Timeout with errors that wrap herald.ErrUnavailable (the hub
// answers 503 and /readyz fails); the client reconnects forever with
// backoff and the consumer resumes where it stopped.
package nats
