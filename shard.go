package herald

import (
	"container/heap"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldpush/herald/sse"
	"github.com/heraldpush/herald/topic"
)

// A message is an update encoded once and shared by every subscriber it
// goes to.
type message struct {
	u    *Update
	seq  uint64
	wire []byte
}

// heartbeatWire is the comment written to keep an idle stream alive.
var heartbeatWire = []byte(":\n")

func newMessage(u *Update) *message {
	wire, err := encodeUpdate(nil, u)
	if err != nil {
		// Only an update that skipped validation (a foreign node's) can
		// fail here; an empty wire is skipped by every subscriber.
		wire = nil
	}
	return &message{u: u, seq: u.Seq, wire: wire}
}

func encodeUpdate(dst []byte, u *Update) ([]byte, error) {
	return sse.AppendEvent(dst, sse.Event{ID: u.ID, Type: u.Type, Data: u.Data, Retry: u.Retry})
}

type cmdKind uint8

const (
	cmdDeliver  cmdKind = iota + 1
	cmdAdd              // register a subscriber (replaying or live)
	cmdLive             // a replaying subscriber has sent history up to seq
	cmdRemove           // the stream ended on its side (reason in cmd)
	cmdWritable         // a hijacked connection can take more bytes
	cmdShutdown
)

type shardCmd struct {
	kind   cmdKind
	msg    *message
	sub    *subscriber
	seq    uint64
	reason DisconnectReason
}

// flushEvery is how many updates a shard dispatches before it writes
// what it has queued, when a backlog built up.
const flushEvery = 64

// yieldEvery is how many streams a shard writes before it lets other
// goroutines run.
const yieldEvery = 64

// maxInbox bounds the commands waiting for a shard. Delivery waits for room,
// which slows publishers rather than letting memory grow.
const maxInbox = 1 << 16

// A shard owns a share of the hub's subscribers. One goroutine runs it:
// it matches delivered updates against its topic index, queues them on
// subscribers, and writes each subscriber's queue in one batch.
type shard struct {
	hub *Hub
	idx int

	mu      sync.Mutex
	room    sync.Cond // signalled when the inbox drains
	inbox   []shardCmd
	spare   []shardCmd
	wake    chan struct{}
	stopped bool

	// Owned by the run goroutine.
	exact      map[string]*subList
	patterns   map[topic.Key]*patternList
	any        subList
	count      int
	dirty      []*subscriber
	wheel      []subList // heartbeat wheel: one slot per second of the period
	wheelAt    int64     // last second processed
	deadlines  deadlineHeap
	backlogged map[*subscriber]struct{} // hijacked streams with unsent bytes
	doomed     []*subscriber            // overflowed during a dispatch; closed after it
	scratch    []byte                   // reused to frame writes to hijacked streams
	sends      sendBatch                // writes to hijacked streams awaiting one io_uring submission

	// Counters kept by the run goroutine and published once per round to
	// the atomics that Stats reads, so that the fan-out path pays for no
	// atomic operation per delivery.
	now                   int64 // unix nanoseconds at the start of the round
	nDelivered, nBytes    uint64
	nQueued, nSubscribers int64
	subscribers           atomic.Int64
	delivered, bytes      atomic.Uint64
	queued                atomic.Int64
}

type patternList struct {
	sel  topic.Selector
	subs subList
}

func newShard(h *Hub, idx int) *shard {
	s := &shard{
		hub:      h,
		idx:      idx,
		wake:     make(chan struct{}, 1),
		exact:    make(map[string]*subList),
		patterns: make(map[topic.Key]*patternList),
	}
	s.room.L = &s.mu
	if h.cfg.heartbeat > 0 {
		n := int(h.cfg.heartbeat / time.Second)
		if n < 1 {
			n = 1
		}
		s.wheel = make([]subList, n)
	}
	s.wheelAt = time.Now().Unix()
	s.sends.open(h)
	return s
}

// push queues a command for the shard. It reports false when the shard has
// stopped. Deliveries wait while the inbox is full.
func (s *shard) push(c shardCmd) bool {
	s.mu.Lock()
	for c.kind == cmdDeliver && len(s.inbox) >= maxInbox && !s.stopped {
		s.room.Wait()
	}
	if s.stopped {
		s.mu.Unlock()
		return false
	}
	s.inbox = append(s.inbox, c)
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
	return true
}

func (s *shard) take() []shardCmd {
	s.mu.Lock()
	cmds := s.inbox
	s.inbox = s.spare[:0]
	s.spare = nil
	s.room.Broadcast()
	s.mu.Unlock()
	return cmds
}

func (s *shard) run() {
	defer s.hub.loops.Done()
	defer s.sends.close()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-s.wake:
			s.now = time.Now().UnixNano()
		case now := <-tick.C:
			s.now = now.UnixNano()
			s.tick(now)
		}
		stop := s.process(s.take(), true)
		if s.flushDirty(!stop) {
			stop = true
		}
		s.submitSends() // this round's writes and heartbeats, before sleeping
		s.publishCounters()
		if stop {
			s.shutdown()
			s.publishCounters()
			return
		}
	}
}

// process handles commands and gives their slice back for reuse. It
// reports whether the hub asked the shard to stop. With inSlices set, a
// long run of deliveries is written every flushEvery updates, so that
// queues overflow only for streams that cannot keep up.
func (s *shard) process(cmds []shardCmd, inSlices bool) (stop bool) {
	delivered := 0
	for i := range cmds {
		c := &cmds[i]
		switch c.kind {
		case cmdDeliver:
			s.dispatch(c.msg)
			if delivered++; inSlices && delivered%flushEvery == 0 {
				// Not taking more: the rest of cmds is older than
				// anything still in the inbox, and updates must reach
				// every stream in order.
				s.flushDirty(false)
			}
		case cmdAdd:
			s.add(c.sub)
		case cmdLive:
			s.live(c.sub, c.seq)
		case cmdRemove:
			s.remove(c.sub, c.reason)
		case cmdWritable:
			s.writable(c.sub)
		case cmdShutdown:
			stop = true
		}
		*c = shardCmd{}
	}
	s.mu.Lock()
	if s.spare == nil {
		s.spare = cmds[:0]
	}
	s.mu.Unlock()
	return stop
}

// shutdown ends every stream after what is queued for it, and refuses new
// commands.
func (s *shard) shutdown() {
	s.mu.Lock()
	s.stopped = true
	rest := s.inbox
	s.inbox = nil
	s.room.Broadcast()
	s.mu.Unlock()
	for _, c := range rest {
		if c.kind == cmdAdd {
			// Registered after shutdown began: end it at once.
			c.sub.end(ReasonShutdown, false)
		}
	}
	var all []*subscriber
	s.eachSubscriber(func(sub *subscriber) { all = append(all, sub) })
	for _, sub := range all {
		if sub.state == stateLive {
			s.flush(sub)
		}
		s.close(sub, ReasonShutdown, true)
	}
}

func (s *shard) publishCounters() {
	s.subscribers.Store(s.nSubscribers)
	s.delivered.Store(s.nDelivered)
	s.bytes.Store(s.nBytes)
	s.queued.Store(s.nQueued)
}

func (s *shard) eachSubscriber(fn func(*subscriber)) {
	seen := make(map[*subscriber]bool, s.count)
	visit := func(l *subList) {
		for _, sub := range l.subs {
			if !seen[sub] {
				seen[sub] = true
				fn(sub)
			}
		}
	}
	for _, l := range s.exact {
		visit(l)
	}
	for _, p := range s.patterns {
		visit(&p.subs)
	}
	visit(&s.any)
}

func (s *shard) add(sub *subscriber) {
	if sub.state == stateClosed {
		return
	}
	for _, sel := range sub.sels {
		switch sel.Kind() {
		case topic.Any:
			s.any.insert(sub)
		case topic.Exact:
			l := s.exact[sel.String()]
			if l == nil {
				l = &subList{}
				s.exact[sel.String()] = l
			}
			l.insert(sub)
		default:
			key := sel.Key()
			p := s.patterns[key]
			if p == nil {
				p = &patternList{sel: sel}
				s.patterns[key] = p
			}
			p.subs.insert(sub)
		}
	}
	if len(s.wheel) > 0 {
		s.wheel[int(time.Now().Unix()%int64(len(s.wheel)))].insert(sub)
	}
	if !sub.deadline.IsZero() {
		heap.Push(&s.deadlines, sub)
	}
	s.count++
	s.nSubscribers++
}

// live ends a subscriber's replay: queued updates it already got from
// history are dropped and the rest are written.
func (s *shard) live(sub *subscriber, replayed uint64) {
	if sub.state != stateReplaying {
		return
	}
	sub.state = stateLive
	if replayed > sub.lastSeq {
		sub.lastSeq = replayed
	}
	keep := sub.queue[:0]
	bytes := 0
	for _, m := range sub.queue {
		if m.seq > replayed {
			keep = append(keep, m)
			bytes += len(m.wire)
		}
	}
	for i := len(keep); i < len(sub.queue); i++ {
		sub.queue[i] = nil
	}
	s.nQueued += int64(len(keep) - len(sub.queue))
	sub.queue, sub.queueBytes = keep, bytes
	s.markDirty(sub)
	if sub.finishedAll(s.hub.finished) {
		sub.endAfterFlush = true
	}
}

func (s *shard) dispatch(m *message) {
	if m.wire == nil {
		return
	}
	// Closing a subscriber edits the lists being walked: defer it.
	defer s.closeDoomed()
	for _, t := range m.u.Topics {
		if l := s.exact[t]; l != nil {
			for _, sub := range l.subs {
				s.offer(sub, m)
			}
		}
		for _, p := range s.patterns {
			if s.hub.cache.Match(p.sel, t) {
				for _, sub := range p.subs.subs {
					s.offer(sub, m)
				}
			}
		}
	}
	for _, sub := range s.any.subs {
		s.offer(sub, m)
	}
}

func (s *shard) closeDoomed() {
	for i, sub := range s.doomed {
		s.doomed[i] = nil
		s.close(sub, ReasonSlow, false)
	}
	s.doomed = s.doomed[:0]
}

func (s *shard) offer(sub *subscriber, m *message) {
	if m.seq <= sub.lastSeq || sub.state == stateClosed || sub.doomed {
		return
	}
	if m.u.Private && !sub.mayReceivePrivate(s.hub.cache, m.u) {
		// Not for this subscriber, but it may still finish every topic the
		// subscriber follows: then its stream ends all the same.
		if m.u.Final && sub.finishedAll(s.hub.finished) {
			sub.endAfterFlush = true
			if sub.state == stateLive {
				s.markDirty(sub)
			}
		}
		return
	}
	sub.lastSeq = m.seq
	if len(sub.queue) >= s.hub.cfg.queueSize || sub.queueBytes+len(m.wire) > s.hub.cfg.queueBytes {
		sub.doomed = true
		s.doomed = append(s.doomed, sub)
		return
	}
	if sub.state == stateReplaying && sub.firstLive.Load() == 0 {
		sub.firstLive.Store(m.seq)
	}
	sub.queue = append(sub.queue, m)
	sub.queueBytes += len(m.wire)
	s.nQueued++
	if m.u.Final && sub.finishedAll(s.hub.finished) {
		sub.endAfterFlush = true
	}
	if sub.state == stateLive {
		s.markDirty(sub)
	}
}

func (s *shard) markDirty(sub *subscriber) {
	if !sub.dirty {
		sub.dirty = true
		s.dirty = append(s.dirty, sub)
	}
}

// flushDirty writes every stream that has updates queued. Writing to
// thousands of sockets keeps the shard busy for milliseconds, so between
// slices of streams it lets other goroutines run (publishers' handlers
// among them). With takeMore set, which the caller may ask only when every
// command it took has been handled, it also takes the few commands that
// arrived meanwhile: the streams not yet written then carry those updates
// in the same system call. It reports whether a command taken meanwhile
// asked the shard to stop.
func (s *shard) flushDirty(takeMore bool) (stop bool) {
	for i := 0; i < len(s.dirty); i++ {
		sub := s.dirty[i]
		s.dirty[i] = nil
		sub.dirty = false
		s.flush(sub)
		if i%yieldEvery == yieldEvery-1 {
			s.submitSends() // the first streams need not wait for the last
			runtime.Gosched()
			if n := s.inboxLen(); takeMore && !stop && n > 0 && n < flushEvery {
				stop = s.process(s.take(), false)
			}
		}
	}
	s.dirty = s.dirty[:0]
	if cap(s.dirty) > 1<<16 {
		s.dirty = nil
	}
	return stop
}

func (s *shard) inboxLen() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.inbox)
}

// flush hands a live subscriber's queue to its stream in one batch.
func (s *shard) flush(sub *subscriber) {
	if sub.state != stateLive {
		return
	}
	if n := len(sub.queue); n > 0 {
		err := sub.sink.write(sub.queue)
		s.nDelivered += uint64(n)
		s.nBytes += uint64(sub.queueBytes)
		s.nQueued -= int64(n)
		clear(sub.queue)
		sub.queue = sub.queue[:0]
		if cap(sub.queue) > 64 {
			sub.queue = nil // give an idle stream's memory back
		}
		sub.queueBytes = 0
		sub.lastWrite.Store(s.now)
		if err != nil {
			s.close(sub, reasonOf(err), false)
			return
		}
	}
	if sub.endAfterFlush {
		s.close(sub, ReasonFinished, true)
	}
}

// writable resumes a hijacked stream whose socket has room again.
func (s *shard) writable(sub *subscriber) {
	rc, ok := sub.sink.(*rawConn)
	if !ok || sub.state != stateLive {
		return
	}
	if err := rc.drain(); err != nil {
		s.close(sub, reasonOf(err), false)
		return
	}
	s.flush(sub)
}

// backlog tracks hijacked streams that have bytes the socket did not take,
// so that tick can enforce the write timeout on them.
func (s *shard) backlog(sub *subscriber, on bool) {
	if on {
		if s.backlogged == nil {
			s.backlogged = make(map[*subscriber]struct{})
		}
		s.backlogged[sub] = struct{}{}
	} else {
		delete(s.backlogged, sub)
	}
}

// remove handles a stream that ended on its own side.
func (s *shard) remove(sub *subscriber, reason DisconnectReason) {
	s.close(sub, reason, false)
}

// close unregisters sub and ends its stream.
func (s *shard) close(sub *subscriber, reason DisconnectReason, graceful bool) {
	if sub.state == stateClosed {
		return
	}
	if sub.shard == s {
		for _, e := range sub.entries {
			e.list.remove(sub, e.pos)
		}
		sub.entries = nil
		if sub.heapIdx >= 0 {
			heap.Remove(&s.deadlines, sub.heapIdx)
		}
		s.count--
		s.nSubscribers--
	}
	s.nQueued -= int64(len(sub.queue))
	sub.queue = nil
	sub.end(reason, graceful)
}

// tick runs once a second: heartbeats for quiet streams and deadlines.
func (s *shard) tick(now time.Time) {
	sec := now.Unix()
	for sub := range s.backlogged {
		if rc, ok := sub.sink.(*rawConn); ok && rc.overdue(now) {
			s.close(sub, ReasonWriteTimeout, false)
		}
	}
	for s.deadlines.Len() > 0 && !s.deadlines[0].deadline.After(now) {
		sub := s.deadlines[0]
		s.close(sub, sub.deadlineReason, true)
	}
	if len(s.wheel) == 0 {
		s.wheelAt = sec
		return
	}
	from := s.wheelAt + 1
	if sec-from >= int64(len(s.wheel)) {
		from = sec - int64(len(s.wheel)) + 1
	}
	// A stream is due when it will have been quiet for a whole period by
	// the next tick: heartbeats come up to a second early, never late.
	period := int64(s.hub.cfg.heartbeat)
	due := now.UnixNano() + int64(time.Second) - period
	for t := from; t <= sec; t++ {
		slot := &s.wheel[int(t%int64(len(s.wheel)))]
		for i := 0; i < len(slot.subs); i++ {
			sub := slot.subs[i]
			if sub.state != stateLive || len(sub.queue) > 0 {
				continue
			}
			if last := sub.lastWrite.Load(); last > due {
				// Written to since this slot's last turn: look again a
				// period after that write rather than a whole turn of the
				// wheel from now, which would leave the stream quiet for up
				// to two periods (long enough for a proxy's idle timeout
				// set just above one). The next second is always after
				// sec, so the stream is not seen twice in this loop.
				next := &s.wheel[int(((last+period)/int64(time.Second))%int64(len(s.wheel)))]
				if next != slot {
					s.moveWheel(sub, slot, next)
					i-- // remove put the slot's last stream at i
				}
				continue
			}
			if err := sub.sink.heartbeat(); err != nil {
				s.close(sub, reasonOf(err), false)
				i-- // close removed sub from this slot
				continue
			}
			sub.lastWrite.Store(s.now)
		}
	}
	s.wheelAt = sec
}

// moveWheel moves sub from one heartbeat slot to another.
func (s *shard) moveWheel(sub *subscriber, from, to *subList) {
	for i, e := range sub.entries {
		if e.list == from {
			from.remove(sub, e.pos)
			sub.entries = append(sub.entries[:i], sub.entries[i+1:]...)
			break
		}
	}
	to.insert(sub)
}

// A subList is an unordered set of subscribers with O(1) insert and remove;
// each subscriber remembers its position in each list it is on.
type subList struct {
	subs []*subscriber
}

type listEntry struct {
	list *subList
	pos  int
}

func (l *subList) insert(sub *subscriber) {
	sub.entries = append(sub.entries, listEntry{list: l, pos: len(l.subs)})
	l.subs = append(l.subs, sub)
}

func (l *subList) remove(sub *subscriber, pos int) {
	last := len(l.subs) - 1
	if pos != last {
		moved := l.subs[last]
		l.subs[pos] = moved
		for i := range moved.entries {
			if moved.entries[i].list == l && moved.entries[i].pos == last {
				moved.entries[i].pos = pos
				break
			}
		}
	}
	l.subs[last] = nil
	l.subs = l.subs[:last]
	if cap(l.subs) > 64 && len(l.subs) < cap(l.subs)/4 {
		l.subs = append([]*subscriber(nil), l.subs...)
	}
}

// deadlineHeap orders subscribers by the time their stream must end.
type deadlineHeap []*subscriber

func (h deadlineHeap) Len() int           { return len(h) }
func (h deadlineHeap) Less(i, j int) bool { return h[i].deadline.Before(h[j].deadline) }
func (h deadlineHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].heapIdx = i
	h[j].heapIdx = j
}
func (h *deadlineHeap) Push(x any) {
	sub := x.(*subscriber)
	sub.heapIdx = len(*h)
	*h = append(*h, sub)
}
func (h *deadlineHeap) Pop() any {
	old := *h
	sub := old[len(old)-1]
	old[len(old)-1] = nil
	sub.heapIdx = -1
	*h = old[:len(old)-1]
	return sub
}
