package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// A bad --faults SPEC stops `oktaq sim` at start with the key named.
func TestSimFaultsFlagErrors(t *testing.T) {
	for _, tc := range []struct{ spec, want string }{
		{"5xx=2", "--faults: faults: 5xx"},
		{"latency=slow", "--faults: faults: latency"},
		{"flaky=0.1", `unknown key "flaky"`},
	} {
		var out, errOut bytes.Buffer
		code := run(context.Background(), &cmdEnv{stdout: &out, stderr: &errOut},
			[]string{"sim", "--addr", "127.0.0.1:0", "--faults", tc.spec})
		if code == 0 || !strings.Contains(errOut.String(), tc.want) {
			t.Errorf("oktaq sim --faults %s: exit %d, stderr %q; want an error naming %q", tc.spec, code, errOut.String(), tc.want)
		}
	}
}
