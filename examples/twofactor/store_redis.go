package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	goredis "github.com/redis/go-redis/v9"

	heraldredis "github.com/heraldpush/herald/redis"
)

// redisStore keeps challenges and sessions in Redis, so that several
// instances of the app behind a load balancer share them: the phone's
// approval may land on one instance and the browser's finishing POST on
// another.
//
// A challenge is a hash: "data" (the JSON of the challenge as created),
// "state", "decided_ms" and "expires_ms". Only the state changes, and only
// through transitionScript, which Redis runs atomically: of two approvals
// racing on two instances exactly one wins.
type redisStore struct {
	client goredis.UniversalClient
	prefix string
}

// openRedisStore connects to the Redis named by url (the same URL forms as
// Herald's Redis transport) and checks that it answers.
func openRedisStore(ctx context.Context, url, prefix string) (*redisStore, error) {
	p, err := heraldredis.ParseURL(url)
	if err != nil {
		return nil, err
	}
	client := p.NewClient()
	if err := client.Ping(ctx).Err(); err != nil {
		client.Close()
		return nil, fmt.Errorf("redis store: %w", err)
	}
	return &redisStore{client: client, prefix: prefix}, nil
}

func (s *redisStore) challengeKey(id string) string { return s.prefix + "challenge:" + id }
func (s *redisStore) sessionKey(k string) string    { return s.prefix + "session:" + k }

func (s *redisStore) PutChallenge(ctx context.Context, c *Challenge) error {
	data, err := json.Marshal(c)
	if err != nil {
		return err
	}
	key := s.challengeKey(c.ID)
	_, err = s.client.TxPipelined(ctx, func(p goredis.Pipeliner) error {
		p.HSet(ctx, key, "data", data, "state", string(c.State), "expires_ms", c.Expires.UnixMilli())
		p.PExpireAt(ctx, key, c.Expires.Add(keepAfterExpiry))
		return nil
	})
	if err != nil {
		return fmt.Errorf("redis store: put challenge: %w", err)
	}
	return nil
}

func (s *redisStore) Challenge(ctx context.Context, id string) (*Challenge, error) {
	m, err := s.client.HGetAll(ctx, s.challengeKey(id)).Result()
	if err != nil {
		return nil, fmt.Errorf("redis store: get challenge: %w", err)
	}
	return decodeChallenge(m)
}

func decodeChallenge(m map[string]string) (*Challenge, error) {
	if m["data"] == "" {
		return nil, ErrNotFound
	}
	var c Challenge
	if err := json.Unmarshal([]byte(m["data"]), &c); err != nil {
		return nil, fmt.Errorf("redis store: damaged challenge: %w", err)
	}
	c.State = State(m["state"])
	if ms, err := strconv.ParseInt(m["decided_ms"], 10, 64); err == nil && ms > 0 {
		c.Decided = time.UnixMilli(ms)
	}
	return &c, nil
}

// transitionScript: KEYS[1] the challenge; ARGV from, to, now (ms). It
// answers "ok", "missing", or the challenge's current state.
var transitionScript = goredis.NewScript(`
local st = redis.call('HGET', KEYS[1], 'state')
if not st then return 'missing' end
local now = tonumber(ARGV[3])
local exp = tonumber(redis.call('HGET', KEYS[1], 'expires_ms'))
if (st == 'pending' or st == 'approved') and now >= exp then st = 'expired' end
if st ~= ARGV[1] then return st end
redis.call('HSET', KEYS[1], 'state', ARGV[2], 'decided_ms', ARGV[3])
return 'ok'
`)

func (s *redisStore) Transition(ctx context.Context, id string, from, to State, now time.Time) (*Challenge, error) {
	key := s.challengeKey(id)
	res, err := transitionScript.Run(ctx, s.client, []string{key}, string(from), string(to), now.UnixMilli()).Text()
	if err != nil {
		return nil, fmt.Errorf("redis store: transition: %w", err)
	}
	if res == "missing" {
		return nil, ErrNotFound
	}
	c, err := s.Challenge(ctx, id)
	if err != nil {
		return nil, err
	}
	if res != "ok" {
		return c, ErrConflict
	}
	return c, nil
}

func (s *redisStore) PutSession(ctx context.Context, key string, sess *Session) error {
	data, err := json.Marshal(sess)
	if err != nil {
		return err
	}
	ttl := time.Until(sess.Expires)
	if ttl <= 0 {
		return errors.New("redis store: session already expired")
	}
	if err := s.client.Set(ctx, s.sessionKey(key), data, ttl).Err(); err != nil {
		return fmt.Errorf("redis store: put session: %w", err)
	}
	return nil
}

func (s *redisStore) Session(ctx context.Context, key string) (*Session, error) {
	data, err := s.client.Get(ctx, s.sessionKey(key)).Bytes()
	if errors.Is(err, goredis.Nil) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("redis store: get session: %w", err)
	}
	var sess Session
	if err := json.Unmarshal(data, &sess); err != nil {
		return nil, fmt.Errorf("redis store: damaged session: %w", err)
	}
	if !time.Now().Before(sess.Expires) {
		return nil, ErrNotFound
	}
	return &sess, nil
}

func (s *redisStore) DeleteSession(ctx context.Context, key string) error {
	if err := s.client.Del(ctx, s.sessionKey(key)).Err(); err != nil {
		return fmt.Errorf("redis store: delete session: %w", err)
	}
	return nil
}

func (s *redisStore) Close() error { return s.client.Close() }
