package redis

import (
	"context"
	"fmt"
	"math"
	"strconv"

	"github.com/heraldpush/herald"
)

// maxHistoryPage bounds one History reply, whatever limit is asked for,
// so that one query cannot make Redis build a reply of the whole stream.
const maxHistoryPage = 10000

// History implements herald.Transport. One script call applies the
// bounds, resolves the cursor through the id index (one hash lookup, so a
// made-up or ancient Last-Event-ID costs no scan) and reads the page.
func (t *Transport) History(ctx context.Context, q herald.HistoryQuery) (herald.HistoryPage, error) {
	if t.closed.Load() {
		return herald.HistoryPage{}, herald.ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return herald.HistoryPage{}, err
	}
	limit := q.Limit
	if limit <= 0 {
		limit = herald.DefaultHistoryPage
	}
	limit = min(limit, maxHistoryPage)
	var mode, cursor string
	switch {
	case q.AfterSeq == math.MaxUint64:
		return herald.HistoryPage{Found: true}, nil
	case q.AfterSeq != 0:
		mode, cursor = "s", strconv.FormatUint(q.AfterSeq+1, 10)
	case q.AfterID == herald.EarliestID:
		mode = "e"
	default:
		mode, cursor = "i", q.AfterID
	}
	ctx, cancel := context.WithTimeout(ctx, t.cfg.Timeout)
	defer cancel()
	res, err := historyScript.Run(ctx, t.client, []string{t.keys.log, t.keys.ids},
		t.sizeArg(), t.cutoff(), mode, cursor, limit).Result()
	if err != nil {
		if t.closed.Load() {
			return herald.HistoryPage{}, herald.ErrClosed
		}
		return herald.HistoryPage{}, fmt.Errorf("redis transport: history: %w", classify(err))
	}
	reply, ok := res.([]any)
	if !ok || len(reply) != 2 {
		return herald.HistoryPage{}, fmt.Errorf("redis transport: history script returned %T", res)
	}
	found, _ := reply[0].(int64)
	entries, _ := reply[1].([]any)
	page := herald.HistoryPage{Found: found == 1, Updates: make([]*herald.Update, 0, len(entries))}
	for _, e := range entries {
		u, err := decodeRawEntry(e)
		if err != nil {
			// One bad entry must not make the rest of history unreadable
			// (every resume would fail); it is logged and skipped.
			t.log.Error("skipping an undecodable history entry", "err", err)
			continue
		}
		page.Updates = append(page.Updates, u)
	}
	return page, nil
}
