// Package bench is the engine of "herald bench": a load generator that
// measures any hub speaking the Mercure protocol's two endpoints (GET
// ?topic= to subscribe over Server-Sent Events, POST a form with topic
// and data to publish), not only Herald.
//
// It opens many cheap subscribers (events parsed with the sse package's
// push parser), spread over many 127.0.0.x source addresses and, past one
// process's file limit, over worker processes that it starts by
// re-executing itself and talks to over pipes in JSON lines.
//
// The load generator shares the machine with the server it measures, so
// every microsecond it spends per read is taken from the server. Two
// engines read the streams. The goroutine engine (portable) gives each
// stream a goroutine reading through Go's network poller, which costs a
// goroutine wake-up and park per read besides the system call. The epoll
// engine (Linux, the default there) opens each stream and reads its
// response head the same way, then takes the socket off Go's poller and
// hands it to one of a few reader threads (one per core, at most two),
// each locked to its OS thread with its own edge-triggered epoll
// instance: a read is one recvmsg into a buffer the reader shares among
// its streams, decoded (HTTP chunks) and parsed per stream in place. When
// a stream ends, its goroutine takes it back to reconnect with
// Last-Event-ID, then hands the new stream over again. Both engines keep
// the same accounting; the tests hold them to it on the same updates. Publishers put a run id, their own number,
// a sequence number and the send time into every update, so every
// subscriber counts exactly what it lost, received twice or received out
// of order, and records the delivery latency in an HDR histogram.
//
// When given the server's process id, it samples the server's CPU time
// and resident memory from /proc, which is what survives a noisy shared
// machine: deliveries per server CPU-second, memory per idle subscriber
// and CPU per heartbeat are computed from the server's own counters.
//
// Scenarios: idle (memory and heartbeat cost of quiet streams), fanout
// (publish a fixed number of updates as fast as the hub takes them),
// latency (a steady low rate, latency percentiles) and overload (a rate
// the hub cannot sustain: what it reaches, what it loses, how its memory
// behaves).
package bench
