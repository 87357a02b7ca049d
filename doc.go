// Package herald is a real-time push hub on Server-Sent Events.
//
// A Hub fans updates out to subscribers over text/event-stream, keeps a
// bounded history so that a client that reconnects with Last-Event-ID
// misses nothing, and speaks the Mercure protocol (draft-07 and draft-08)
// on its HTTP endpoint. Transports (memory, bbolt, Redis, NATS JetStream)
// carry updates between the nodes of a cluster and keep their history.
package herald
