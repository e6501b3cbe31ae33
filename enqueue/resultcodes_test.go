package enqueue_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"maps"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/oktaq/oktaq/enqueue"
)

// TestResultCodesDocumented: every tasks.Code constant is listed in
// openapi.yaml (ErrorInfo.code), and every code listed there is a
// constant, so that a code added, renamed or removed cannot drift from the
// API document.
func TestResultCodesDocumented(t *testing.T) {
	inCode := codeConstants(t)
	if len(inCode) < 15 {
		t.Fatalf("found only %d Code constants in tasks: %v", len(inCode), inCode)
	}
	var doc struct {
		Components struct {
			Schemas struct {
				ErrorInfo struct {
					Properties struct {
						Code struct {
							AnyOf []struct {
								Const       string `yaml:"const"`
								Description string `yaml:"description"`
							} `yaml:"anyOf"`
						} `yaml:"code"`
					} `yaml:"properties"`
				} `yaml:"ErrorInfo"`
			} `yaml:"schemas"`
		} `yaml:"components"`
	}
	if err := yaml.Unmarshal(enqueue.OpenAPI, &doc); err != nil {
		t.Fatal(err)
	}
	inDoc := map[string]bool{}
	for _, c := range doc.Components.Schemas.ErrorInfo.Properties.Code.AnyOf {
		if c.Const == "" {
			continue
		}
		if c.Description == "" {
			t.Errorf("openapi.yaml: code %s has no description", c.Const)
		}
		inDoc[c.Const] = true
	}
	for _, c := range slices.Sorted(maps.Keys(inCode)) {
		if !inDoc[c] {
			t.Errorf("tasks.%s (%q) is not documented in openapi.yaml ErrorInfo.code", inCode[c], c)
		}
	}
	for _, c := range slices.Sorted(maps.Keys(inDoc)) {
		if _, ok := inCode[c]; !ok {
			t.Errorf("openapi.yaml documents code %q, which is no tasks.Code constant", c)
		}
	}
}

// codeConstants reads tasks' source: value -> constant name of every
// constant of type Code.
func codeConstants(t *testing.T) map[string]string {
	t.Helper()
	fset := token.NewFileSet()
	paths, err := filepath.Glob("../tasks/*.go")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, path := range paths {
		if strings.HasSuffix(path, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			gd, ok := d.(*ast.GenDecl)
			if !ok || gd.Tok != token.CONST {
				continue
			}
			for _, spec := range gd.Specs {
				vs := spec.(*ast.ValueSpec)
				if id, ok := vs.Type.(*ast.Ident); !ok || id.Name != "Code" {
					continue
				}
				for i, name := range vs.Names {
					lit, ok := vs.Values[i].(*ast.BasicLit)
					if !ok {
						t.Fatalf("%s is not a string literal", name.Name)
					}
					v, _ := strconv.Unquote(lit.Value)
					out[v] = name.Name
				}
			}
		}
	}
	return out
}
