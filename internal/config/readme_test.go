package config_test

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/oktaq/oktaq/internal/config"
)

var update = flag.Bool("update", false, "rewrite the README's configuration table")

const readme = "../../README.md"

// Table renders the configuration table of the README from the Env struct.
func table() string {
	var b strings.Builder
	b.WriteString("| variable | default | meaning |\n|---|---|---|\n")
	for _, v := range config.Vars() {
		name := "`" + v.Name + "`"
		if v.Secret {
			name += " (or `" + v.Name + "_FILE`)"
		}
		def := ""
		if v.Default != "" {
			def = "`" + v.Default + "`"
		}
		fmt.Fprintf(&b, "| %s | %s | %s |\n", name, def, strings.ReplaceAll(v.Desc, "|", `\|`))
	}
	return b.String()
}

// TestREADMEConfigTable fails when the README's table and the config struct
// drift; `go test ./internal/config -run README -update` rewrites it.
func TestREADMEConfigTable(t *testing.T) {
	const begin, end = "<!-- config:begin -->\n", "<!-- config:end -->"
	b, err := os.ReadFile(readme)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	i, j := strings.Index(s, begin), strings.Index(s, end)
	if i < 0 || j < i {
		t.Fatalf("README.md lacks the %q ... %q markers", begin, end)
	}
	want := table()
	if got := s[i+len(begin) : j]; got != want {
		if *update {
			if err := os.WriteFile(readme, []byte(s[:i+len(begin)]+want+s[j:]), 0o644); err != nil {
				t.Fatal(err)
			}
			return
		}
		t.Fatalf("README.md configuration table is out of date; run: go test ./internal/config -run README -update")
	}
}
