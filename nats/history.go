package nats

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/heraldpush/herald"
)

// History reads the stream with JetStream's message-get API rather than
// with consumers: a resume then costs one or two requests and leaves no
// state on the server, which matters when thousands of clients resume at
// once after a node dies. (In a NATS cluster every consumer creation goes
// through the meta leader; gets are answered by any replica.)

// maxBatch is the most messages asked for in one batched direct get;
// maxBatchBytes bounds the bytes the server sends for one.
const (
	maxBatch      = 1024
	maxBatchBytes = 8 << 20
)

// A stored is one message read from the stream.
type stored struct {
	seq  uint64
	time time.Time
	data []byte
}

// directGetRequest is JetStream's message-get request (JSApiMsgGetRequest
// in nats-server), for the direct-get subjects.
type directGetRequest struct {
	Seq      uint64 `json:"seq,omitempty"`
	Batch    int    `json:"batch,omitempty"`
	MaxBytes int    `json:"max_bytes,omitempty"`
}

// msgGetRequest is the same request for the stream leader's API.
type msgGetRequest struct {
	Seq     uint64 `json:"seq,omitempty"`
	LastFor string `json:"last_by_subj,omitempty"`
	NextFor string `json:"next_by_subj,omitempty"`
}

type msgGetResponse struct {
	Error *struct {
		Code        int    `json:"code"`
		ErrCode     int    `json:"err_code"`
		Description string `json:"description"`
	} `json:"error"`
	Message *struct {
		Sequence uint64    `json:"seq"`
		Data     []byte    `json:"data"`
		Time     time.Time `json:"time"`
	} `json:"message"`
}

// JetStream's error code for "no message found".
const errCodeNoMessage = 10037

// Headers of direct-get answers. nats.go turns a status line ("NATS/1.0
// 404 Message Not Found") into the Status and Description headers.
const (
	statusHeader      = "Status"
	descriptionHeader = "Description"
	numPendingHeader  = "Nats-Num-Pending"
)

// lookup finds the sequence of the newest stored update with this id. An
// update older than cutoff counts as gone.
func (t *Transport) lookup(ctx context.Context, id string, cutoff time.Time) (uint64, bool, error) {
	subject := t.subjectFor(id)
	var m stored
	var found bool
	var err error
	if t.direct {
		m, found, err = t.directLast(ctx, subject)
		if err != nil {
			return 0, false, err
		}
	}
	if !found && (t.replicas > 1 || !t.direct) {
		// A replica may not have applied the newest messages yet; only
		// the leader can say an id is not there.
		m, found, err = t.leaderGet(ctx, msgGetRequest{LastFor: subject})
		if err != nil {
			return 0, false, err
		}
	}
	if !found || (!cutoff.IsZero() && m.time.Before(cutoff)) {
		return 0, false, nil
	}
	var u herald.Update
	if err := u.UnmarshalBinary(m.data); err != nil || u.ID != id {
		// Not ours, or a hash collision: either way not this id.
		return 0, false, nil
	}
	return m.seq, true, nil
}

// directLast gets the last message on subject from any replica.
func (t *Transport) directLast(ctx context.Context, subject string) (stored, bool, error) {
	resp, err := t.nc.RequestWithContext(ctx, t.apiPrefix+".DIRECT.GET."+t.cfg.Stream+"."+subject, nil)
	if err != nil {
		return stored{}, false, err
	}
	return parseDirect(resp)
}

// parseDirect reads a direct-get answer: a message with its stream
// metadata in headers, or a status without a body.
func parseDirect(m *natsgo.Msg) (stored, bool, error) {
	if st := m.Header.Get(statusHeader); st != "" && len(m.Data) == 0 {
		if st == "404" {
			return stored{}, false, nil
		}
		return stored{}, false, fmt.Errorf("direct get: status %s %s", st, m.Header.Get(descriptionHeader))
	}
	seq, err := strconv.ParseUint(m.Header.Get(jetstream.SequenceHeader), 10, 64)
	if err != nil {
		return stored{}, false, fmt.Errorf("direct get: bad %s header: %w", jetstream.SequenceHeader, err)
	}
	ts, err := time.Parse(time.RFC3339Nano, m.Header.Get(jetstream.TimeStampHeaer))
	if err != nil {
		return stored{}, false, fmt.Errorf("direct get: bad %s header: %w", jetstream.TimeStampHeaer, err)
	}
	return stored{seq: seq, time: ts, data: m.Data}, true, nil
}

// leaderGet asks the stream leader for one message.
func (t *Transport) leaderGet(ctx context.Context, req msgGetRequest) (stored, bool, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return stored{}, false, err
	}
	resp, err := t.nc.RequestWithContext(ctx, t.apiPrefix+".STREAM.MSG.GET."+t.cfg.Stream, body)
	if err != nil {
		return stored{}, false, err
	}
	var r msgGetResponse
	if err := json.Unmarshal(resp.Data, &r); err != nil {
		return stored{}, false, fmt.Errorf("message get: bad answer: %w", err)
	}
	if r.Error != nil {
		if r.Error.ErrCode == errCodeNoMessage || r.Error.Code == 404 {
			return stored{}, false, nil
		}
		return stored{}, false, fmt.Errorf("message get: %s (code %d/%d)", r.Error.Description, r.Error.Code, r.Error.ErrCode)
	}
	if r.Message == nil {
		return stored{}, false, errors.New("message get: answer without a message")
	}
	return stored{seq: r.Message.Sequence, time: r.Message.Time, data: r.Message.Data}, true, nil
}

// readFrom returns up to limit updates stored at sequence start or later,
// skipping those older than cutoff. The page reaches at least sequence
// floor when it is not full: a replica answering direct gets may lag
// behind the leader, and an update this node has delivered or had
// acknowledged must not be missing from a replay.
func (t *Transport) readFrom(ctx context.Context, start uint64, limit int, cutoff time.Time, floor uint64) ([]*herald.Update, error) {
	var out []*herald.Update
	next := start
	add := func(ms []stored) {
		for _, m := range ms {
			next = m.seq + 1
			if !cutoff.IsZero() && m.time.Before(cutoff) {
				continue
			}
			u := new(herald.Update)
			if err := u.UnmarshalBinary(m.data); err != nil {
				t.log.Warn("nats: undecodable message skipped in history", "seq", m.seq, "err", err)
				continue
			}
			u.Seq = m.seq
			out = append(out, u)
		}
	}
	batched := t.direct && !t.noBatch && serverAtLeast(t.nc.ConnectedServerVersion(), 2, 11)
	for len(out) < limit {
		var ms []stored
		var more bool
		var err error
		if batched {
			ms, more, err = t.directBatch(ctx, next, min(limit-len(out), maxBatch))
		} else {
			ms, more, err = t.leaderRange(ctx, next, min(limit-len(out), maxBatch))
		}
		if err != nil {
			return nil, err
		}
		add(ms)
		if len(ms) == 0 || !more {
			break
		}
	}
	if len(out) < limit && next <= floor {
		// The replica that answered is behind: take the rest from the
		// leader, which has everything that was acknowledged.
		for len(out) < limit && next <= floor {
			ms, more, err := t.leaderRange(ctx, next, min(limit-len(out), int(floor-next+1)))
			if err != nil {
				return nil, err
			}
			add(ms)
			if len(ms) == 0 || !more {
				break
			}
		}
	}
	return out, nil
}

// leaderRange reads up to n messages from sequence seq on, one request
// each, from the stream leader. It is the path for servers without
// batched direct gets and for catching up a lagging replica's answer.
func (t *Transport) leaderRange(ctx context.Context, seq uint64, n int) ([]stored, bool, error) {
	var out []stored
	for len(out) < n {
		m, found, err := t.leaderGet(ctx, msgGetRequest{Seq: seq, NextFor: t.filter})
		if err != nil {
			return nil, false, err
		}
		if !found {
			return out, false, nil
		}
		out = append(out, m)
		seq = m.seq + 1
	}
	return out, true, nil
}

// directBatch asks any replica for up to n messages from sequence seq on,
// in one batched direct get (nats-server 2.11+). It reports whether more
// messages follow the last one returned.
func (t *Transport) directBatch(ctx context.Context, seq uint64, n int) ([]stored, bool, error) {
	sub, err := t.nc.SubscribeSync(t.nc.NewInbox())
	if err != nil {
		return nil, false, err
	}
	defer sub.Unsubscribe()
	body, err := json.Marshal(directGetRequest{Seq: seq, Batch: n, MaxBytes: maxBatchBytes})
	if err != nil {
		return nil, false, err
	}
	if err := t.nc.PublishRequest(t.apiPrefix+".DIRECT.GET."+t.cfg.Stream, sub.Subject, body); err != nil {
		return nil, false, err
	}
	var out []stored
	for {
		m, err := sub.NextMsgWithContext(ctx)
		if err != nil {
			return nil, false, err
		}
		if st := m.Header.Get(statusHeader); st != "" && len(m.Data) == 0 {
			switch st {
			case "204": // end of batch
				pending, _ := strconv.ParseUint(m.Header.Get(numPendingHeader), 10, 64)
				return out, pending > 0, nil
			case "404": // nothing at or after seq
				return out, false, nil
			case "503":
				return nil, false, natsgo.ErrNoResponders
			default:
				return nil, false, fmt.Errorf("direct get: status %s %s", st, m.Header.Get(descriptionHeader))
			}
		}
		s, _, err := parseDirect(m)
		if err != nil {
			return nil, false, err
		}
		out = append(out, s)
		if m.Header.Get(numPendingHeader) == "" {
			// Every message of a batch carries Nats-Num-Pending. Without
			// it, the replica that answered predates batched gets (a
			// cluster in a rolling upgrade) and sent this one message
			// only, with no end-of-batch marker to wait for.
			return out, true, nil
		}
	}
}

// serverAtLeast reports whether a server version ("2.11.3", "2.12.0-RC.1")
// is at least major.minor.
func serverAtLeast(version string, major, minor int) bool {
	parts := strings.SplitN(version, ".", 3)
	if len(parts) < 2 {
		return false
	}
	ma, err1 := strconv.Atoi(parts[0])
	mi, err2 := strconv.Atoi(strings.SplitN(parts[1], "-", 2)[0])
	if err1 != nil || err2 != nil {
		return false
	}
	return ma > major || (ma == major && mi >= minor)
}
