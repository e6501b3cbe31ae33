package oktasim

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// apiPrefix is what ParseFaults limits API faults to: the Management API,
// not the token endpoint (token_5xx covers that one).
const apiPrefix = "/api/"

// ParseFaults reads a fault SPEC as `oktaq sim --faults` takes it:
// comma-separated key=value pairs, shares in [0, 1] of API calls:
//
//	5xx=0.25          answered 500, 502 or 503 without being applied
//	drop_before=0.05  connection closed before the call is applied
//	drop_after=0.15   call applied, then the connection closed without an answer
//	latency=50ms-200ms  added before each API call (or one duration: latency=100ms)
//	token_5xx=1       share of token requests answered 5xx
//
// An empty SPEC injects nothing. Errors name the key and the reason.
func ParseFaults(spec string) (Faults, error) {
	f := Faults{Match: apiPrefix}
	seen := map[string]bool{}
	for _, pair := range strings.Split(spec, ",") {
		pair = strings.TrimSpace(pair)
		if pair == "" {
			continue
		}
		key, val, ok := strings.Cut(pair, "=")
		key, val = strings.TrimSpace(key), strings.TrimSpace(val)
		if !ok || key == "" {
			return Faults{}, fmt.Errorf("faults: %q is not key=value (keys: %s)", pair, faultKeys)
		}
		if seen[key] {
			return Faults{}, fmt.Errorf("faults: %s is given twice", key)
		}
		seen[key] = true
		var err error
		switch key {
		case "5xx":
			f.ErrorRate, err = share(val)
		case "drop_before":
			f.DropBefore, err = share(val)
		case "drop_after":
			f.DropAfter, err = share(val)
		case "token_5xx":
			f.TokenErrorRate, err = share(val)
		case "latency":
			f.Latency, f.LatencyJitter, err = latencyRange(val)
		default:
			return Faults{}, fmt.Errorf("faults: unknown key %q (keys: %s)", key, faultKeys)
		}
		if err != nil {
			return Faults{}, fmt.Errorf("faults: %s: %w", key, err)
		}
	}
	if f.ErrorRate+f.DropBefore > 1 {
		return Faults{}, fmt.Errorf("faults: 5xx + drop_before is %.2f: together they may not exceed 1", f.ErrorRate+f.DropBefore)
	}
	return f, nil
}

const faultKeys = "5xx, drop_before, drop_after, latency, token_5xx"

func share(v string) (float64, error) {
	x, err := strconv.ParseFloat(v, 64)
	if err != nil || x < 0 || x > 1 {
		return 0, fmt.Errorf("%q is not a share between 0 and 1 (e.g. 0.25)", v)
	}
	return x, nil
}

// latencyRange reads "50ms-200ms" (uniform in the range) or "100ms".
func latencyRange(v string) (base, jitter time.Duration, err error) {
	lo, hi, isRange := strings.Cut(v, "-")
	if base, err = time.ParseDuration(lo); err != nil || base < 0 {
		return 0, 0, fmt.Errorf("%q is not a duration or a range like 50ms-200ms", v)
	}
	if !isRange {
		return base, 0, nil
	}
	top, err := time.ParseDuration(hi)
	if err != nil || top < base {
		return 0, 0, fmt.Errorf("%q is not a range like 50ms-200ms (low first)", v)
	}
	return base, top - base, nil
}

// String writes the faults back as a SPEC (the keys ParseFaults knows).
func (f Faults) String() string {
	var parts []string
	add := func(k string, v float64) {
		if v > 0 {
			parts = append(parts, k+"="+strconv.FormatFloat(v, 'g', -1, 64))
		}
	}
	add("5xx", f.ErrorRate)
	add("drop_before", f.DropBefore)
	add("drop_after", f.DropAfter)
	if f.Latency > 0 || f.LatencyJitter > 0 {
		l := f.Latency.String()
		if f.LatencyJitter > 0 {
			l += "-" + (f.Latency + f.LatencyJitter).String()
		}
		parts = append(parts, "latency="+l)
	}
	add("token_5xx", f.TokenErrorRate)
	return strings.Join(parts, ",")
}
