package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestMakeRunSaysWhatItDoes: `make run` announces the build before it
// starts (a cold one takes minutes) and hands ARGS to `oktaq dev`.
func TestMakeRunSaysWhatItDoes(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make is not installed")
	}
	out, err := exec.Command("make", "-n", "-C", "../..", "run", "ARGS=--api-addr 127.0.0.1:8081").CombinedOutput()
	if err != nil {
		t.Fatalf("make -n run: %v\n%s", err, out)
	}
	s := string(out)
	say, build, start := strings.Index(s, "echo \"make run: building"), strings.Index(s, " build "), strings.Index(s, "oktaq dev --api-addr 127.0.0.1:8081")
	if say < 0 || build < 0 || start < 0 || !(say < build && build < start) {
		t.Fatalf("want: announce, build, then dev with ARGS; got:\n%s", s)
	}
}
