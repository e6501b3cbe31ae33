package worker_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"
)

// redisCounter is a go-redis hook counting commands and round trips by
// purpose, told from the key a command touches. A pipeline (or a
// MULTI/EXEC) is one round trip, charged to the purpose of its first
// command.
type redisCounter struct {
	mu    sync.Mutex
	cmds  map[string]int64
	trips map[string]int64
}

func newRedisCounter() *redisCounter {
	return &redisCounter{cmds: map[string]int64{}, trips: map[string]int64{}}
}

func (c *redisCounter) DialHook(next redis.DialHook) redis.DialHook { return next }

func (c *redisCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		p := purposeOf(cmd)
		c.mu.Lock()
		c.cmds[p]++
		c.trips[p]++
		c.mu.Unlock()
		return next(ctx, cmd)
	}
}

func (c *redisCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		c.mu.Lock()
		first := ""
		for _, cmd := range cmds {
			switch cmd.Name() {
			case "multi", "exec":
				continue
			}
			p := purposeOf(cmd)
			if first == "" {
				first = p
			}
			c.cmds[p]++
		}
		if first != "" {
			c.trips[first]++
		}
		c.mu.Unlock()
		return next(ctx, cmds)
	}
}

func (c *redisCounter) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.cmds)
	clear(c.trips)
}

// snapshot returns round trips and commands by purpose.
func (c *redisCounter) snapshot() (trips, cmds map[string]int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	trips, cmds = map[string]int64{}, map[string]int64{}
	for k, v := range c.trips {
		trips[k] = v
	}
	for k, v := range c.cmds {
		cmds[k] = v
	}
	return trips, cmds
}

// table formats per-action counts by purpose, largest first.
func (c *redisCounter) table(actions int) (string, float64) {
	trips, cmds := c.snapshot()
	var names []string
	var total float64
	for k, v := range trips {
		names = append(names, k)
		total += float64(v) / float64(actions)
	}
	for k := range cmds {
		if _, ok := trips[k]; !ok {
			names = append(names, k)
		}
	}
	slices.SortFunc(names, func(a, b string) int { return int(trips[b] - trips[a]) })
	var sb strings.Builder
	fmt.Fprintf(&sb, "%-20s %8s %8s\n", "purpose", "trips/a", "cmds/a")
	for _, n := range names {
		fmt.Fprintf(&sb, "%-20s %8.2f %8.2f\n", n, float64(trips[n])/float64(actions), float64(cmds[n])/float64(actions))
	}
	fmt.Fprintf(&sb, "%-20s %8.2f\n", "total", total)
	fmt.Fprintf(&sb, "%-20s %8.2f (asynq's dequeue tries each queue it serves, one round trip per empty one)\n", "of which asynq", float64(trips["asynq"])/float64(actions))
	return sb.String(), total
}

// purposeOf names what a command is for from its first key.
func purposeOf(cmd redis.Cmder) string {
	args := cmd.Args()
	name := strings.ToLower(cmd.Name())
	key := ""
	switch name {
	case "evalsha", "eval", "evalsha_ro", "eval_ro":
		if len(args) > 3 {
			key, _ = args[3].(string)
		}
	default:
		if len(args) > 1 {
			key, _ = args[1].(string)
		}
	}
	switch {
	case strings.HasPrefix(key, "asynq:"):
		if name == "hset" && len(args) > 2 && args[2] == "result" || name == "evalsha" && strings.Contains(key, "}:t:") {
			return "result" // asynq's ResultWriter, or oktaq's result script
		}
		return "asynq"
	case strings.HasPrefix(key, "oktaq:lim:"):
		return "limiter"
	case strings.HasPrefix(key, "oktaq:journal:"):
		return "journal"
	case strings.HasPrefix(key, "oktaq:token:"):
		return "token"
	case strings.HasPrefix(key, "oktaq:counted:"):
		return "counted"
	case strings.HasPrefix(key, "oktaq:hold:"):
		return "hold"
	case strings.HasPrefix(key, "oktaq:userview"):
		return "userview"
	case strings.HasPrefix(key, "oktaq:cb:"), strings.HasPrefix(key, "oktaq:confirm"), strings.HasPrefix(key, "oktaq:reqid:"),
		strings.HasPrefix(key, "oktaq:user:"):
		return "callbacks/confirm"
	case strings.HasPrefix(key, "oktaq:{") && strings.HasSuffix(key, ":breaker"):
		return "breaker"
	case strings.HasPrefix(key, "oktaq:{") && (strings.Contains(key, "}:user:") || strings.Contains(key, "}:alias:")):
		return "lease"
	case key == "":
		return "other:" + name
	}
	return "other:" + key
}

// hookedOpt is an asynq.RedisConnOpt whose client counts.
type hookedOpt struct{ c redis.UniversalClient }

func (h hookedOpt) MakeRedisClient() any { return h.c }
