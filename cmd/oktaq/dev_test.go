package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// runAsOktaq, set in a test binary's environment, makes it run oktaq's
// main instead of the tests. Not OKTAQ_*: withoutOktaqVars keeps it.
const runAsOktaq = "OKTAQTEST_RUN_AS_OKTAQ"

// TestMain lets the test binary be the oktaq binary (see oktaqBinary).
func TestMain(m *testing.M) {
	if os.Getenv(runAsOktaq) == "1" {
		main()
	}
	os.Exit(m.Run())
}

// oktaqBinary returns an oktaq binary: this test binary, linked (or
// copied) as "oktaq" into a temp dir and run with runAsOktaq set. A `go
// build` here would compile the whole module a second time, without
// -race: most of this package's test time on a busy machine.
func oktaqBinary(t *testing.T) string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "oktaq")
	if err := os.Link(self, bin); err != nil {
		b, err := os.ReadFile(self)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(bin, b, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv(runAsOktaq, "1") // for oktaq dev and the banner's commands in bash
	return bin
}

// TestDevBannerCommandsWork starts `oktaq dev` as a user would, and runs
// the commands its banner prints, as printed, in bash.
func TestDevBannerCommandsWork(t *testing.T) {
	bin := oktaqBinary(t)
	ports := freePorts(t, 4)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute) // a hang guard only
	defer cancel()
	dev := exec.CommandContext(ctx, bin, "dev", "--quiet",
		"--api-addr", ports[0], "--admin-addr", ports[1], "--sim-addr", ports[2], "--redis-addr", ports[3])
	dev.Env = withoutOktaqVars(os.Environ())
	stdout, err := dev.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr syncWriter
	dev.Stderr = &stderr
	if err := dev.Start(); err != nil {
		t.Fatal(err)
	}
	banner := readBanner(t, stdout)

	cmds := bannerCommands(t, banner)
	script := strings.Join(cmds[:len(cmds)-1], "\n")
	out, err := exec.CommandContext(ctx, "bash", "-c", "set -e\n"+script).CombinedOutput()
	if err != nil {
		t.Fatalf("banner commands failed: %v\n%s\n---\n%s", err, script, out)
	}
	lines := strings.SplitN(string(out), "\n", 3)
	var view struct {
		Login   string
		Status  string
		Actions []struct {
			Action    string
			Available bool
		}
	}
	if err := json.Unmarshal([]byte(lines[0]), &view); err != nil || view.Login != "bob@example.com" || view.Status != "ACTIVE" || len(view.Actions) == 0 {
		t.Fatalf("the first curl did not answer bob's user view:\n%s", out)
	}
	for _, a := range view.Actions {
		// The banner asks as helpdesk: reset_password yes, suspend no.
		if (a.Action == "user.reset_password" && !a.Available) || (a.Action == "user.suspend" && a.Available) {
			t.Errorf("helpdesk's view of bob: %s available=%v", a.Action, a.Available)
		}
	}
	var accepted struct{ ID, State string }
	if err := json.Unmarshal([]byte(lines[1]), &accepted); err != nil || accepted.ID == "" {
		t.Fatalf("the curl did not answer an accepted action:\n%s", out)
	}
	if !strings.Contains(string(out), "outcome:  succeeded") {
		t.Fatalf("enqueue --wait did not report success:\n%s", out)
	}
	status := strings.Replace(cmds[len(cmds)-1], "ID", accepted.ID, 1)
	status = strings.TrimSpace(strings.SplitN(status, "(", 2)[0])
	out, err = exec.CommandContext(ctx, "bash", "-c", cmds[2]+"\n"+status).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "user.suspend") {
		t.Fatalf("status: %v\n%s", err, out)
	}

	if err := dev.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if err := dev.Wait(); err != nil {
		t.Fatalf("oktaq dev did not stop cleanly on Ctrl-C: %v\n%s", err, stderr.String())
	}
}

func readBanner(t *testing.T, r interface{ Read([]byte) (int, error) }) []string {
	t.Helper()
	var lines []string
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if strings.Contains(sc.Text(), "Ctrl-C stops everything") {
			return lines
		}
	}
	t.Fatalf("oktaq dev ended before its banner: %v\n%s", sc.Err(), strings.Join(lines, "\n"))
	return nil
}

// bannerCommands returns the shell commands after "Try:", continuation
// lines joined.
func bannerCommands(t *testing.T, banner []string) []string {
	t.Helper()
	var cmds []string
	in, cont := false, false
	for _, l := range banner {
		switch {
		case strings.TrimSpace(l) == "Try:":
			in = true
		case !in || strings.TrimSpace(l) == "" || strings.HasPrefix(l, "Ctrl-C"):
		case cont:
			cmds[len(cmds)-1] += "\n" + l
		default:
			cmds = append(cmds, strings.TrimSpace(l))
		}
		cont = in && strings.HasSuffix(l, `\`)
	}
	if len(cmds) != 5 {
		t.Fatalf("want the user view's curl, curl, export, enqueue and status commands, got %d:\n%s", len(cmds), strings.Join(cmds, "\n"))
	}
	return cmds
}

func freePorts(t *testing.T, n int) []string {
	t.Helper()
	var out []string
	var lns []net.Listener
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		out = append(out, ln.Addr().String())
	}
	for _, ln := range lns {
		ln.Close()
	}
	return out
}

var oktaqEnvVar = regexp.MustCompile(`^OKTAQ_`)

// withoutOktaqVars drops OKTAQ_* so the demo uses its embedded defaults.
func withoutOktaqVars(env []string) []string {
	var out []string
	for _, kv := range env {
		if !oktaqEnvVar.MatchString(kv) {
			out = append(out, kv)
		}
	}
	return append(out, fmt.Sprintf("HOME=%s", os.TempDir()))
}
