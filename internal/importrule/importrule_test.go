// Package importrule holds the test of DESIGN.md's dependency rule:
// cmd -> {worker, enqueue} -> okta -> tasks; tasks and okta/oktasim import
// nothing of ours; enqueue does not depend on okta-sdk-golang, so that a
// producer importing the Go client does not compile Okta's generated SDK.
package importrule

import (
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/oktaq/oktaq"

type pkg struct {
	ImportPath string
	Imports    []string // direct, non-test
	Deps       []string // transitive, non-test
}

// listAll runs `go list -deps -json` on every package of the module.
func listAll(t *testing.T) map[string]pkg {
	t.Helper()
	cmd := exec.Command("go", "list", "-deps", "-json=ImportPath,Imports,Deps", module+"/...")
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("go list: %v\n%s", err, ee.Stderr)
		}
		t.Fatalf("go list: %v", err)
	}
	pkgs := map[string]pkg{}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p pkg
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs[p.ImportPath] = p
	}
	return pkgs
}

// layer is the floor of one of our packages: a package may import only
// packages of a lower floor, or of its own area. Unlisted packages of ours
// (cmd/..., internal/...) sit on the top floor, which no floor below may
// import.
func layer(path string) (int, string) {
	rel := strings.TrimPrefix(strings.TrimPrefix(path, module), "/")
	switch {
	case rel == "okta/oktasim" || strings.HasPrefix(rel, "okta/oktasim/"):
		return 0, "okta/oktasim"
	case rel == "tasks" || strings.HasPrefix(rel, "tasks/"):
		return 0, "tasks"
	case rel == "okta" || strings.HasPrefix(rel, "okta/"):
		return 1, "okta"
	case rel == "worker" || strings.HasPrefix(rel, "worker/"):
		return 2, "worker"
	case rel == "enqueue" || strings.HasPrefix(rel, "enqueue/"):
		return 2, "enqueue"
	default:
		return 3, rel
	}
}

func ours(path string) bool { return path == module || strings.HasPrefix(path, module+"/") }

func TestImportDirection(t *testing.T) {
	pkgs := listAll(t)
	checked := 0
	for path, p := range pkgs {
		if !ours(path) {
			continue
		}
		checked++
		floor, name := layer(path)
		for _, imp := range p.Imports {
			if !ours(imp) {
				continue
			}
			impFloor, impName := layer(imp)
			switch {
			case name == "tasks" || name == "okta/oktasim":
				if impName != name {
					t.Errorf("%s imports %s: %s must import nothing of ours", path, imp, name)
				}
			case floor == 3 && impFloor == 3:
				// commands and their internal packages use each other
			case impFloor >= floor && impName != name:
				t.Errorf("%s imports %s: dependencies point cmd -> {worker, enqueue} -> okta -> tasks", path, imp)
			}
		}
	}
	if checked < 6 {
		t.Fatalf("only %d packages of %s listed; is the test run inside the module?", checked, module)
	}
	if _, ok := pkgs[module+"/enqueue"]; !ok {
		t.Fatal("enqueue not listed")
	}
}

func TestEnqueueWithoutOktaSDK(t *testing.T) {
	pkgs := listAll(t)
	p, ok := pkgs[module+"/enqueue"]
	if !ok {
		t.Fatal("enqueue not listed")
	}
	if i := slices.IndexFunc(p.Deps, func(d string) bool { return strings.Contains(d, "okta-sdk-golang") }); i >= 0 {
		t.Errorf("enqueue depends on %s: a producer importing the Go client would compile Okta's SDK", p.Deps[i])
	}
	if slices.Contains(p.Deps, module+"/okta") {
		t.Errorf("enqueue depends on %s/okta; the policy it checks lives in tasks", module)
	}
}
