package redistest

import (
	"context"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/redis/go-redis/v9"
)

// ServerCPU is the Redis server's CPU seconds so far (user+sys, INFO
// cpu): benchmarks set what a run cost the Redis every org shares beside
// its own CPU (ProcessCPU).
func ServerCPU(tb testing.TB, c *redis.Client) float64 {
	tb.Helper()
	info, err := c.Info(context.Background(), "cpu").Result()
	if err != nil {
		tb.Fatal(err)
	}
	var sum float64
	for _, l := range strings.Split(info, "\r\n") {
		for _, k := range []string{"used_cpu_sys:", "used_cpu_user:"} {
			if s, ok := strings.CutPrefix(l, k); ok {
				f, _ := strconv.ParseFloat(s, 64)
				sum += f
			}
		}
	}
	return sum
}

// ProcessCPU is this process's CPU seconds so far (user+sys).
func ProcessCPU() float64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}
