// Command deploy-schema checks deploy/ offline against the schemas the
// tools that read it use: deploy/k8s against the Kubernetes and Prometheus
// Operator API types (strict decode), deploy/compose.yaml against the
// Compose specification (compose-go, as `docker compose` loads it).
// deploy/config_test.go and k8s_test.go check what the files mean; this checks that
// the tools would accept their shape. It is its own module so that the
// main module does not depend on k8s.io/api or compose-go.
//
//	cd .ci/deploy-schema && go run . ../../deploy
package main

import (
	"fmt"
	"os"
	"path/filepath"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: deploy-schema DEPLOY_DIR")
		os.Exit(2)
	}
	dir := os.Args[1]
	n, problems := checkK8s(filepath.Join(dir, "k8s"))
	if err := checkCompose(filepath.Join(dir, "compose.yaml")); err != nil {
		problems = append(problems, err.Error())
	}
	for _, p := range problems {
		fmt.Println(p)
	}
	fmt.Printf("deploy-schema: %d Kubernetes objects and compose.yaml, %d problems\n", n, len(problems))
	if len(problems) > 0 {
		os.Exit(1)
	}
}
