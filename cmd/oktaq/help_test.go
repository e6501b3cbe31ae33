package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// `oktaq --help` lists what operators use, and no benchmark harness (that
// is internal/cmd/benchratelimit, run by `make bench-ratelimit`).
func TestHelpListsOperatorCommandsOnly(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run(context.Background(), &cmdEnv{stdout: &out, stderr: &errOut}, []string{"--help"}); code != 0 {
		t.Fatalf("oktaq --help exited %d: %s", code, errOut.String())
	}
	help := out.String() + errOut.String()
	var listed []string
	for _, line := range strings.Split(help, "\n") {
		if f := strings.Fields(line); strings.HasPrefix(line, "  ") && len(f) > 0 {
			listed = append(listed, f[0])
		}
	}
	for _, name := range listed {
		if strings.Contains(name, "bench") {
			t.Errorf("oktaq --help lists the benchmark command %q:\n%s", name, help)
		}
	}
	want := []string{"worker", "api", "enqueue", "status", "user", "hooks", "playbook", "dev", "sim", "version"}
	if len(listed) != len(want) {
		t.Errorf("oktaq --help lists %d commands %v; want the %d operators use", len(listed), listed, len(want))
	}
	for _, name := range want {
		if !strings.Contains(help, "\n  "+name+" ") {
			t.Errorf("oktaq --help does not list %q:\n%s", name, help)
		}
	}
	if _, ok := commands["bench-ratelimit"]; ok {
		t.Error("bench-ratelimit is still a command of the product binary")
	}
}
