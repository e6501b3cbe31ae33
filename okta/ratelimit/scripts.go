package ratelimit

import (
	_ "embed"
	"strconv"

	"github.com/redis/go-redis/v9"
)

// The limiter's decisions run as Lua scripts on Redis, so that every
// worker agrees on one budget and one clock. common.lua (keys, the budget
// rule) is prepended to each script; each script documents its KEYS and
// ARGV at its top.
var (
	//go:embed common.lua
	luaCommon string
	//go:embed acquire.lua
	luaAcquire string
	//go:embed observe.lua
	luaObserve string
	//go:embed peek.lua
	luaPeek string
	//go:embed step.lua
	luaStep string
	//go:embed first.lua
	luaFirst string

	acquireScript = redis.NewScript(luaCommon + luaAcquire)
	observeScript = redis.NewScript(luaCommon + luaObserve)
	peekScript    = redis.NewScript(luaCommon + luaPeek)
	stepScript    = redis.NewScript(luaCommon + luaStep)
	firstScript   = redis.NewScript(luaCommon + luaFirst)
)

// scriptCode is the first element of the replies of acquire.lua and
// observe.lua, {code, n, key}. The values are the ones common.lua names
// (OK, BUDGET, ...); keep the two lists in step.
type scriptCode int64

const (
	// codeCounterMoved: the bucket, learnt by limit, draws on another
	// counter than the one the call named; key names it. Acquire asks
	// again with it; observe records the answer again against it (the
	// call's slot is released already).
	codeCounterMoved scriptCode = -1
	// codeOK: acquire granted the call; observe recorded the answer. n is
	// the connection's calls in flight after it.
	codeOK scriptCode = 0
	// codeBudget (acquire): the bucket's budget for the call's class is
	// spent, or a 429 blocks the bucket; wait n ms.
	codeBudget scriptCode = 1
	// codeConcurrencyBlocked: Okta's concurrency limit answered a 429;
	// acquire: the connection takes no call for n ms; observe: this
	// answer set that block.
	codeConcurrencyBlocked scriptCode = 2
	// codeInFlightCap (acquire): the connection's calls in flight fill the
	// slots of the call's class; try again in n ms.
	codeInFlightCap scriptCode = 3
	// codeProbing (acquire): only answers not yet back stand in the way (a
	// new window's first call, or our calls under way that rem may count
	// already); they come within a call's time: wait n ms.
	codeProbing scriptCode = 4
)

// reply unpacks a script's {code, n, key}.
func reply(res []any) (code scriptCode, n int64, key string) {
	num := func(v any) int64 {
		switch v := v.(type) {
		case int64:
			return v
		case string:
			i, _ := strconv.ParseInt(v, 10, 64)
			return i
		}
		return 0
	}
	if len(res) > 0 {
		code = scriptCode(num(res[0]))
	}
	if len(res) > 1 {
		n = num(res[1])
	}
	if len(res) > 2 {
		key, _ = res[2].(string)
	}
	return code, n, key
}
