package main

import (
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"time"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/bolt"
)

// openBolt opens a bolt:// transport:
//
//	bolt:///var/lib/herald/herald.db?size=10000&age=24h
//	bolt://./herald.db (a path relative to the working directory)
//
// Query parameters override the --history-size and --history-age flags:
// size (updates kept, or "none"), age (a Go duration, or "none"/0 for no
// age bound), nosync (true: no fsync, faster but a machine crash may lose
// acknowledged updates) and lock-timeout (how long to wait for another
// process holding the file). A flag age of 0 means bolt's default of 24h:
// the file is bounded by age unless the URL says age=none.
func openBolt(raw string, u *url.URL, hb historyBounds, log *slog.Logger) (herald.Transport, error) {
	path := u.Opaque
	if path == "" {
		path = u.Host + u.Path
	}
	if path == "" {
		return nil, fmt.Errorf("transport %q: no file path (use bolt:///path/herald.db)", raw)
	}
	opts := bolt.Options{Size: hb.size, MaxAge: hb.age, Logger: log}
	for key, vals := range u.Query() {
		v := vals[len(vals)-1]
		var err error
		switch key {
		case "size":
			if v == "none" {
				opts.Size = -1
			} else if opts.Size, err = strconv.Atoi(v); err == nil && opts.Size <= 0 {
				err = fmt.Errorf("%d is not a positive count (use none for no count bound)", opts.Size)
			}
		case "age":
			if v == "none" || v == "0" {
				opts.MaxAge = -1
			} else if opts.MaxAge, err = time.ParseDuration(v); err == nil && opts.MaxAge <= 0 {
				err = fmt.Errorf("%v is not a positive duration (use none for no age bound)", opts.MaxAge)
			}
		case "nosync":
			opts.NoSync, err = strconv.ParseBool(v)
		case "lock-timeout":
			if opts.LockTimeout, err = time.ParseDuration(v); err == nil && opts.LockTimeout <= 0 {
				err = fmt.Errorf("%v is not a positive duration", opts.LockTimeout)
			}
		default:
			err = fmt.Errorf("unknown parameter (bolt takes size, age, nosync and lock-timeout)")
		}
		if err != nil {
			return nil, fmt.Errorf("transport %q: %s: %v", raw, key, err)
		}
	}
	tr, err := bolt.Open(path, opts)
	if err != nil {
		return nil, err
	}
	return tr, nil
}
