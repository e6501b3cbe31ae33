package config

import (
	"fmt"
	"sort"
	"strings"
)

// Variables with the prefix that are not configuration but are still
// read: by tests (OKTAQ_TEST_*) and by the benchmark's child processes.
const testVarPrefix = Prefix + "_TEST_"

var internalVars = []string{Prefix + "_BENCH_RATELIMIT_WORKER"}

// KnownVars are every OKTAQ_* name oktaq reads: the Env fields, the
// <VAR>_FILE form of each secret, and the internal ones.
func KnownVars() []string {
	var out []string
	for _, v := range Vars() {
		out = append(out, v.Name)
		if v.Secret {
			out = append(out, v.Name+"_FILE")
		}
	}
	return append(out, internalVars...)
}

// UnknownVars warns of each OKTAQ_* variable in environ (as os.Environ
// gives it) that oktaq does not read, a typo most often: it would be
// ignored silently and the default used instead. Each warning names the
// closest known variable when one is close. Values are never repeated:
// they may be secrets.
func UnknownVars(environ []string) []string {
	known := map[string]bool{}
	for _, k := range KnownVars() {
		known[k] = true
	}
	var out []string
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, Prefix+"_") || known[name] || strings.HasPrefix(name, testVarPrefix) {
			continue
		}
		msg := fmt.Sprintf("%s is not a variable oktaq reads; it is ignored", name)
		if near := closest(name, KnownVars()); near != "" {
			msg += fmt.Sprintf(" (did you mean %s?)", near)
		}
		out = append(out, msg)
	}
	sort.Strings(out)
	return out
}

// closest is the known name nearest to name by edit distance, or "" when
// none is near enough to be a plausible typo.
func closest(name string, known []string) string {
	best, bestD := "", -1
	for _, k := range known {
		if d := editDistance(name, k); bestD < 0 || d < bestD {
			best, bestD = k, d
		}
	}
	suffix := len(name) - len(Prefix) - 1
	if bestD < 0 || bestD > max(2, suffix/2) {
		return ""
	}
	return best
}

// editDistance is the Levenshtein distance of a and b (ASCII names).
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
