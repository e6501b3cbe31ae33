package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"strings"
	"testing"
)

// TestDevBusyPortNamesItsFlag: each port the demo needs, when taken,
// stops it with the flag that moves it.
func TestDevBusyPortNamesItsFlag(t *testing.T) {
	t.Setenv("OKTAQ_REDIS_URL", "")
	for i, flag := range []string{"api-addr", "admin-addr", "sim-addr", "redis-addr"} {
		t.Run(flag, func(t *testing.T) {
			busy, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer busy.Close()
			ports := freePorts(t, 4)
			ports[i] = busy.Addr().String()
			code, _, errs := runCmd(t, "dev", "--quiet", "--api-addr", ports[0], "--admin-addr", ports[1],
				"--sim-addr", ports[2], "--redis-addr", ports[3])
			if code != 1 || !strings.Contains(errs, "--"+flag+": ") || !strings.Contains(errs, "--"+flag+" HOST:PORT") {
				t.Fatalf("exit %d, stderr:\n%s", code, errs)
			}
		})
	}
}

// TestDevAfterDemoStopped: the banner has the reader export the demo's
// own Redis URL. Once that demo is gone, `make run` in the same shell
// starts the embedded store there again, saying so; a URL of some other
// Redis that does not answer is an error telling how to go on.
func TestDevAfterDemoStopped(t *testing.T) {
	ports := freePorts(t, 5)
	t.Setenv("OKTAQ_REDIS_URL", "redis://"+ports[3]+"/0")
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	outR, outW := io.Pipe()
	var errb syncWriter
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, &cmdEnv{stdout: outW, stderr: &errb}, []string{"dev", "--api-addr", ports[0], "--admin-addr", ports[1],
			"--sim-addr", ports[2], "--redis-addr", ports[3]})
		outW.Close()
	}()
	banner := strings.Join(readBanner(t, outR), "\n")
	go io.Copy(io.Discard, outR)
	if !strings.Contains(banner, "Redis       redis://"+ports[3]+"/0") {
		t.Errorf("banner does not show the embedded store:\n%s", banner)
	}
	if !strings.Contains(errb.String(), "OKTAQ_REDIS_URL is this demo's own embedded store") {
		t.Errorf("no line says why the embedded store started:\n%s", errb.String())
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("dev exit %d:\n%s", code, errb.String())
	}

	t.Setenv("OKTAQ_REDIS_URL", "redis://"+ports[4]+"/0")
	var out bytes.Buffer
	var errs syncWriter
	code := run(t.Context(), &cmdEnv{stdout: &out, stderr: &errs}, []string{"dev", "--api-addr", ports[0], "--admin-addr", ports[1],
		"--sim-addr", ports[2], "--redis-addr", ports[3]})
	if code != 1 || !strings.Contains(errs.String(), "Redis does not answer") || !strings.Contains(errs.String(), "unset OKTAQ_REDIS_URL") {
		t.Fatalf("someone else's dead Redis: exit %d:\n%s", code, errs.String())
	}
}
