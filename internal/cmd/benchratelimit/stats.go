package main

import (
	"fmt"
	"io"
	"maps"
	"math"
	"net/http"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/oktaq/oktaq/okta/oktasim"
)

// benchStats are measured from the simulator's request log: what Okta
// saw, whoever the client was.
type benchStats struct {
	// perWindow is the mean of calls answered (not 429) per window of the
	// users bucket (the membership check's read of a user's groups,
	// lifecycle calls: one per action), over every window
	// but the last (the tail, when less work than a window's budget is
	// left); perWindowGet the same for the user read bucket.
	windows                 int
	perWindow, perWindowGet float64
	calls, limited          int
	// limitedBy counts 429s by bucket and method ("users POST"), to tell
	// where they come from (-v).
	limitedBy map[string]int
	detail    string // -v: calls per window and idle gaps
	// Critical delay: from enqueue to Okta receiving the suspend.
	critN            int
	critP50, critP99 time.Duration
	// done is when the last action's change reached Okta, after the first
	// enqueue; ideal is the work (calls in the action bucket) at the
	// share's rate.
	done, ideal time.Duration
}

type benchResult struct {
	mode string
	benchStats
	// reserve is the share of the limit the mode leaves unspent on purpose.
	reserve  float64
	elapsed  time.Duration
	archived int
	err      error
	// playbooks: the containment experiment's figures (--playbooks).
	playbooks []playbookStats
}

func measure(sim *oktasim.Sim, f benchFlags, start time.Time, critAt map[string]time.Time, bulk int) benchStats {
	reqs := sim.Requests()
	slices.SortFunc(reqs, func(a, b oktasim.Request) int { return a.Time.Compare(b.Time) })
	var st benchStats
	var action, get []oktasim.Request
	var delays []time.Duration
	var last time.Time
	for _, r := range reqs {
		st.calls++
		if r.Status == http.StatusTooManyRequests {
			st.limited++
			if st.limitedBy == nil {
				st.limitedBy = map[string]int{}
			}
			st.limitedBy[sim.BucketFor(r.Method, r.Path)+" "+r.Method]++
		}
		switch sim.BucketFor(r.Method, r.Path) {
		case oktasim.ActionBucket:
			action = append(action, r)
		case "user-get":
			get = append(get, r)
		}
		write := (r.Method == http.MethodPut && r.Status == http.StatusNoContent) ||
			(strings.HasSuffix(r.Path, "/lifecycle/suspend") && r.Status == http.StatusOK)
		if write && r.Time.After(last) {
			last = r.Time
		}
		if strings.HasSuffix(r.Path, "/lifecycle/suspend") && r.Status == http.StatusOK {
			if at, ok := critAt[strings.Split(r.Path, "/")[4]]; ok {
				delays = append(delays, r.Time.Sub(at))
			}
		}
	}
	var counts []string
	st.windows, st.perWindow, counts = perWindow(action, f.window)
	_, st.perWindowGet, _ = perWindow(get, f.window)
	if f.verbose {
		st.detail = strings.Join(counts, " ")
	}
	slices.Sort(delays)
	st.critN = len(delays)
	st.critP50, st.critP99 = percentile(delays, 0.50), percentile(delays, 0.99)
	if !last.IsZero() {
		st.done = last.Sub(start)
	}
	work := bulk + len(critAt)
	st.ideal = time.Duration(float64(work) / float64(f.plimit()) * float64(f.window))
	return st
}

// perWindow replays the simulator's windows (one starts at the first
// call after the last ended) and averages the calls answered in each but
// the last. counts describes each window: calls answered, and the idle
// time before it started.
func perWindow(reqs []oktasim.Request, window time.Duration) (n int, mean float64, counts []string) {
	var start time.Time
	var per []int
	for _, r := range reqs {
		limited := r.Status == http.StatusTooManyRequests
		if start.IsZero() || !r.Time.Before(start.Add(window)) {
			if limited {
				continue // a concurrency 429: refused before the bucket was looked at
			}
			if !start.IsZero() {
				counts = append(counts, fmt.Sprintf("%d", per[len(per)-1]), fmt.Sprintf("+%dms", r.Time.Sub(start.Add(window)).Milliseconds()))
			}
			start = r.Time
			per = append(per, 0)
		}
		if !limited {
			per[len(per)-1]++
		}
	}
	if len(per) > 0 {
		counts = append(counts, fmt.Sprintf("%d", per[len(per)-1]))
	}
	full := per
	if len(full) > 1 {
		full = full[:len(full)-1]
	}
	sum := 0
	for _, c := range full {
		sum += c
	}
	if len(full) > 0 {
		mean = float64(sum) / float64(len(full))
	}
	return len(full), mean, counts
}

func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

func printBenchTable(w io.Writer, f benchFlags, results []benchResult) {
	share := float64(f.plimit())
	fmt.Fprintf(w, "\nShare allowed: %d calls per %s window per bucket (%d x %.0f%%). oktaq keeps a %.0f%% reserve "+
		"(OKTAQ_RATE_RESERVE), so its budget is %d; oktaq-noreserve has none.\n\n",
		f.plimit(), f.window, f.limit, f.share*100, f.reserve*100, f.plimit()-int(math.Ceil(f.reserve*share-1e-9)))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "mode\tcalls/window\tof share\tof budget\t429s\t429 share\tcritical p50\tcritical p99\tdone in\tideal\tvs ideal\t")
	for _, r := range results {
		if r.err != nil && r.calls == 0 {
			fmt.Fprintf(tw, "%s\tfailed: %v\t\t\t\t\t\t\t\t\t\t\n", r.mode, r.err)
			continue
		}
		done := r.done.Round(100 * time.Millisecond).String()
		if r.err != nil {
			done = "not done"
		}
		budget := share - math.Ceil(r.reserve*share-1e-9)
		fmt.Fprintf(tw, "%s\t%.1f\t%.3f\t%.3f\t%d\t%.2f%%\t%s\t%s\t%s\t%s\t%.2f\t\n", r.mode, r.perWindow, r.perWindow/share,
			r.perWindow/budget, r.limited, 100*float64(r.limited)/float64(max(1, r.calls)), roundDelay(r.critP50),
			roundDelay(r.critP99), done, r.ideal.Round(100*time.Millisecond), r.done.Seconds()/r.ideal.Seconds())
	}
	tw.Flush()
	fmt.Fprintf(w, "\ncalls/window: calls answered per window of the users bucket (a user's groups, lifecycle), all windows but the last "+
		"averaged (user read bucket: %s). of share, of budget: that / the share allowed, / what the mode may spend "+
		"(the share less its reserve). 429s: of all calls. critical: from enqueue to Okta receiving the suspend. "+
		"ideal: the work (one call of the bucket per action) at the share's rate.\n", getColumn(results))
	for _, r := range results {
		if r.detail != "" {
			fmt.Fprintf(w, "%s windows (calls, idle before the next): %s\n", r.mode, r.detail)
			if len(r.limitedBy) > 0 {
				fmt.Fprintf(w, "%s 429s by bucket and method: %s\n", r.mode, limitedByString(r.limitedBy))
			}
		}
		if r.archived > 0 {
			fmt.Fprintf(w, "%s: %d tasks archived (failed)\n", r.mode, r.archived)
		}
	}
}

func getColumn(results []benchResult) string {
	var parts []string
	for _, r := range results {
		parts = append(parts, fmt.Sprintf("%s %.1f", r.mode, r.perWindowGet))
	}
	return strings.Join(parts, ", ")
}

func roundDelay(d time.Duration) string {
	if d < time.Second {
		return d.Round(time.Millisecond).String()
	}
	return d.Round(100 * time.Millisecond).String()
}

func limitedByString(m map[string]int) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}
